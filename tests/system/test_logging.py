"""The gateway's log (operator surface): log_format text|json, log_file, and
reopening the file on SIGHUP / POST /api/v1/reload so that logrotate works.

Every wait polls the log file with a deadline; nothing sleeps in place of a
synchronisation."""

import json
import os
import re
import signal
import threading
import time
import urllib.error
import urllib.request

import pytest

import mqttraw as m
from checks import post_reload
from conftest import HOST, Broker, TARGET, free_port

pytestmark = pytest.mark.tidegate_only(reason="tidegate's own log settings")

ISO_UTC_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info|warn|error) .+$")
DEADLINE = 10.0


def read(path):
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


def wait_for_text(path, text, seconds=DEADLINE):
    """Poll until `path` contains `text`; returns the file's content."""
    deadline = time.monotonic() + seconds
    while True:
        content = read(path)
        if text in content:
            return content
        assert time.monotonic() < deadline, "%s never said %r; it has:\n%s" % (path, text, content[-2000:])
        time.sleep(0.02)  # poll interval of a bounded wait for a log line


def json_lines(content):
    """Every line as a JSON object: time, level, then message, or event, message
    and the event's fields (asserted)."""
    out = []
    for line in content.splitlines():
        obj = json.loads(line)  # a torn or interleaved line fails here
        keys = list(obj)
        assert keys[:2] == ["time", "level"], line
        assert keys[2:] == ["message"] or keys[2:4] == ["event", "message"], line
        assert ISO_UTC_MS.match(obj["time"]), line
        assert obj["level"] in ("debug", "info", "warn", "error"), line
        assert isinstance(obj["message"], str) and obj["message"], line
        out.append(obj)
    return out


def rewrite_config(broker, **changes):
    """Changes keys of the config file the running broker was started with."""
    path = broker.workdir / "tidegate.json"
    cfg = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    path.write_text(json.dumps(cfg, indent=2))


def stderr_lines(broker):
    """What the process wrote to stderr/stdout, without the fixture's own header lines."""
    return [l for l in broker.log_path.read_text(errors="replace").splitlines() if not l.startswith("==== start")]


def test_text_lines_on_stderr_by_default(broker):
    # The listener accepts before the start is logged: wait for the line.
    wait_for_text(broker.log_path, " info tidegate ready: ")
    lines = [l for l in stderr_lines(broker) if l]
    for line in lines:
        assert TEXT_LINE.match(line), line


def test_json_lines_in_log_file(make_broker, tmp_path, uid):
    log = tmp_path / "gw.log"
    broker = make_broker(log_format="json", log_file=str(log), log_level="debug")
    wait_for_text(log, "tidegate ready")
    # A client id with a quote, a backslash and UTF-8 is escaped inside the message.
    client_id = uid + '-"q\\ü'
    broker.connect(client_id, 5)
    content = wait_for_text(log, '"event":"connected"')
    records = json_lines(content)
    assert any(r["level"] == "info" and r["message"].startswith("tidegate ready: ") for r in records)
    connected = [r for r in records if r.get("event") == "connected"]
    assert len(connected) == 1, records
    assert connected[0]["client_id"] == client_id and connected[0]["level"] == "info", connected
    # Nothing of the log went to stderr.
    assert stderr_lines(broker) == []


# A client id that tries to start a line of its own: a newline, then what a
# gateway line looks like, then a terminal escape (MQTT allows control characters).
FORGED = "\n2026-12-07T00:00:00.000Z error FORGED LINE\x1b[31m\r\t\x7f"


def test_text_log_escapes_control_characters_a_client_sends(make_broker, tmp_path, uid):
    log = tmp_path / "gw.log"
    broker = make_broker(log_file=str(log))
    wait_for_text(log, "tidegate ready")
    c = broker.connect(uid + FORGED, 5)
    c.send_raw(b"\x30\x00")  # PUBLISH with no room for a topic: a protocol error the gateway logs
    c.expect_closed()
    content = wait_for_text(log, "FORGED LINE")
    for line in content.splitlines():
        assert TEXT_LINE.match(line), line  # every line is one the gateway began
        assert "\x1b" not in line and "\r" not in line and "\t" not in line and "\x7f" not in line, line
    escaped = 'client_id="%s\\n2026-12-07T00:00:00.000Z error FORGED LINE\\x1b[31m\\r\\t\\x7f" ' % uid
    assert escaped in content, content[-2000:]


def test_json_log_keeps_control_characters_a_client_sends_inside_the_message(make_broker, tmp_path, uid):
    log = tmp_path / "gw.log"
    broker = make_broker(log_format="json", log_file=str(log))
    wait_for_text(log, "tidegate ready")
    c = broker.connect(uid + FORGED, 5)
    c.send_raw(b"\x30\x00")
    c.expect_closed()
    content = wait_for_text(log, "FORGED LINE")
    records = json_lines(content)  # a line broken in two fails to parse here
    assert any(r.get("client_id") == uid + FORGED for r in records), content[-2000:]


def test_sighup_reopens_a_renamed_log_file(make_broker, tmp_path, uid):
    log = tmp_path / "gw.log"
    rotated = tmp_path / "gw.log.1"
    broker = make_broker(log_file=str(log))
    wait_for_text(log, "tidegate ready")
    os.rename(log, rotated)  # what logrotate does before it signals
    os.kill(broker.pid, signal.SIGHUP)
    new = wait_for_text(log, "reloaded")
    assert "tidegate ready" not in new, "a new file was expected at the path"
    # Lines after the reload go to the new file, not to the renamed one.
    c = broker.connect(uid, 5)
    c.send_raw(b"\x30\x00")  # PUBLISH with no room for a topic: a protocol error the gateway logs
    c.expect_closed()
    wait_for_text(log, "client_id=%s" % uid)
    old = read(rotated)
    assert "tidegate ready" in old and "reloaded" not in old and uid not in old
    for line in read(log).splitlines():
        assert TEXT_LINE.match(line), line


def test_failed_reload_still_reopens_the_log_file(make_broker, tmp_path):
    log = tmp_path / "gw.log"
    rotated = tmp_path / "gw.log.1"
    broker = make_broker(log_format="json", log_file=str(log))
    wait_for_text(log, "tidegate ready")
    rewrite_config(broker, log_format="xml")
    os.rename(log, rotated)
    os.kill(broker.pid, signal.SIGHUP)
    content = wait_for_text(log, "failed, the running settings stay")
    records = json_lines(content)  # the running format (json) stays
    assert any(r["level"] == "error" and 'log_format: must be "text" or "json"' in r["message"] for r in records)
    assert "the running settings stay" not in read(rotated)


def test_reload_switches_format_and_file(make_broker, tmp_path):
    first = tmp_path / "first.log"
    second = tmp_path / "second.log"
    port = free_port()
    broker = make_broker(log_file=str(first), admin={"bind": HOST, "port": port})
    wait_for_text(first, "tidegate ready")

    # A log_file that cannot be opened: refused with the key, nothing changes.
    rewrite_config(broker, log_format="json", log_file=str(tmp_path / "no such dir" / "x.log"))
    status, body = post_reload(port)
    assert status == 400, body
    assert "log_file: cannot open %s" % (tmp_path / "no such dir" / "x.log") in body["error"], body
    assert "No such file or directory" in body["error"], body
    text = wait_for_text(first, "failed, the running settings stay")
    for line in text.splitlines():
        assert TEXT_LINE.match(line), line  # still text, still this file

    rewrite_config(broker, log_format="json", log_file=str(second))
    status, body = post_reload(port)
    assert status == 200 and body["reloaded"] is True and body["applied"] == ["log_file", "log_format"], body
    records = json_lines(wait_for_text(second, "reloaded"))
    assert [r["level"] for r in records] == ["info"]
    assert "reloaded" not in read(first).split("failed, the running settings stay", 1)[1]

    # And back to stderr when the key goes.
    rewrite_config(broker, log_format=None, log_file=None)
    status, body = post_reload(port)
    assert status == 200 and body["applied"] == ["log_file", "log_format"], body
    deadline = time.monotonic() + DEADLINE
    while not any(" info reloaded " in l for l in stderr_lines(broker)):
        assert time.monotonic() < deadline, stderr_lines(broker)
        time.sleep(0.02)  # poll interval of a bounded wait for a log line
    assert read(second).count("reloaded") == 1


def test_lines_stay_whole_while_many_threads_log_and_the_file_rotates(make_broker, tmp_path, uid):
    """Both workers log every connection (info) while the file is rotated four
    times: every line in every file is one whole JSON object, and none is lost."""
    log = tmp_path / "gw.log"
    broker = make_broker(log_format="json", log_file=str(log), log_level="debug", workers=2)
    wait_for_text(log, "tidegate ready")
    stop = threading.Event()
    connected = [[] for _ in range(4)]
    errors = []

    def connect_until_stopped(t):
        try:
            i = 0
            while not stop.is_set():
                client_id = "%s-%d-%d" % (uid, t, i)
                c = m.connect(broker.host, broker.port, client_id, version=5)
                connected[t].append(client_id)
                c.disconnect()
                c.close()
                i += 1
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=connect_until_stopped, args=(t,)) for t in range(len(connected))]
    for t in threads:
        t.start()
    try:
        rotations = 4
        for r in range(rotations):
            # Rotate only once connections are being logged into this file.
            wait_for_text(log, '"event":"connected"')
            os.rename(log, tmp_path / ("gw.log.%d" % (r + 1)))
            os.kill(broker.pid, signal.SIGHUP)
            wait_for_text(log, '"event":"reload"')
        wait_for_text(log, '"event":"connected"')
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors, errors
    wanted = {client_id for ids in connected for client_id in ids}
    files = [log] + [tmp_path / ("gw.log.%d" % (r + 1)) for r in range(rotations)]
    deadline = time.monotonic() + DEADLINE
    while True:
        records = [rec for f in files for rec in json_lines(read(f))]
        seen = [rec["client_id"] for rec in records
                if rec.get("event") == "connected" and rec["client_id"].startswith(uid + "-")]
        if set(seen) >= wanted or time.monotonic() > deadline:
            break
        time.sleep(0.02)  # poll interval: the last connections' lines may still be on their way
    assert len(wanted) > 4 * rotations
    assert sorted(seen) == sorted(wanted)
    assert sum(1 for r in records if r.get("event") == "reload") == rotations


@pytest.mark.parametrize("config, message", [
    ({"log_format": "yaml"}, 'log_format: must be "text" or "json"'),
    ({"log_file": ""}, "log_file: must not be empty"),
    ({"log_file": "/nonexistent-dir/tidegate.log"},
     "log_file: cannot open /nonexistent-dir/tidegate.log: No such file or directory"),
])
def test_bad_log_settings_are_refused_before_listening(tmp_path, config, message):
    b = Broker(TARGET, config, tmp_path / "bad")
    with pytest.raises(RuntimeError):
        b.start()
    b.proc.wait(5)
    assert b.proc.returncode == 2
    assert "tidegate: bad config: " + message in b.log_tail()
