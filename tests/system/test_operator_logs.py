"""The log lines an operator relies on (docs/operations.md, "Log events"):
one line per connect, disconnect and refusal at info, with the client id,
address, user name and reason; the same facts as fields with log_format json.

Every wait polls the log file with a deadline; nothing sleeps in place of a
synchronisation."""

import json
import time
import urllib.request

import pytest

import mqttraw as m
from checks import password_file
from conftest import HOST, free_port

pytestmark = pytest.mark.tidegate_only(reason="tidegate's own log lines")

DEADLINE = 10.0


def events(path, name):
    """The JSON records of event `name` in the log at `path`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [r for r in map(json.loads, text.splitlines()) if r.get("event") == name]


def wait_event(path, name, count=1, **fields):
    """Polls until `count` records of event `name` with these field values exist; returns them."""
    deadline = time.monotonic() + DEADLINE
    while True:
        found = [r for r in events(path, name) if all(r.get(k) == v for k, v in fields.items())]
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, "no %r event with %r in:\n%s" % (
            name, fields, path.read_text()[-3000:] if path.exists() else "")
        time.sleep(0.02)  # poll interval of a bounded wait for a log line


@pytest.fixture
def json_log(make_broker, tmp_path):
    """A gateway logging JSON at info (the default level) to a file; (broker, log path)."""
    log = tmp_path / "gw.log"

    def start(**config):
        broker = make_broker(log_format="json", log_file=str(log), **config)
        return broker, log
    return start


def test_connect_is_logged_at_info_with_the_sessions_facts(json_log, tmp_path, uid):
    passwd = password_file(tmp_path / "passwd", {"alice": "a1"})
    broker, log = json_log(password_file=passwd)
    c = broker.client(5)
    c.connect(uid, username="alice", password=b"a1", keepalive=42, clean=False,
              props={"session_expiry_interval": 60})
    [line] = wait_event(log, "connected", client_id=uid)
    assert line["level"] == "info"
    assert line["username"] == "alice" and line["protocol"] == 5 and line["keep_alive"] == 42
    assert line["clean_start"] is False and line["session_present"] is False
    host, port = line["address"].rsplit(":", 1)
    assert host == HOST and int(port) == c.sock.getsockname()[1]
    c.disconnect()
    wait_event(log, "disconnected", client_id=uid)
    again = broker.client(4)
    again.connect(uid, username="alice", password=b"a1", clean=False)
    second = wait_event(log, "connected", count=2, client_id=uid)[1]
    assert second["session_present"] is True and second["protocol"] == 4 and second["clean_start"] is False


def test_each_way_a_connection_ends_is_one_line_with_its_reason(json_log, uid):
    broker, log = json_log(admin={"bind": HOST, "port": free_port()})
    # A client DISCONNECT, with its reason code.
    c = broker.connect(uid + "-bye", 5)
    c.disconnect(reason_code=0x04)
    [bye] = wait_event(log, "disconnected", client_id=uid + "-bye")
    assert bye["reason"] == "client_disconnect" and bye["detail"].startswith("0x04 "), bye
    assert bye["level"] == "info" and isinstance(bye["duration_s"], (int, float)) and bye["duration_s"] >= 0
    # The socket closed without DISCONNECT.
    c = broker.connect(uid + "-gone", 4)
    c.abort()
    [gone] = wait_event(log, "disconnected", client_id=uid + "-gone")
    assert gone["reason"] == "socket_closed", gone
    # A protocol error: one line (not a protocol-error line and a disconnect line).
    c = broker.connect(uid + "-bad", 5)
    c.send_raw(b"\x30\x00")
    c.expect_closed()
    [bad] = wait_event(log, "disconnected", client_id=uid + "-bad")
    assert bad["reason"] == "protocol_error" and bad["detail"], bad
    text = log.read_text()
    assert sum(1 for line in text.splitlines() if uid + "-bad" in line) == 2, text  # connected, disconnected
    # A takeover by a new connection with the same id.
    old = broker.connect(uid + "-twin", 5)
    broker.connect(uid + "-twin", 5)
    old.expect_closed()
    [taken] = wait_event(log, "disconnected", client_id=uid + "-twin")
    assert taken["reason"] == "taken_over", taken
    # A kick from the admin API.
    kicked = broker.connect(uid + "-kick", 5)
    admin_port = broker.config["admin"]["port"]
    urllib.request.urlopen(urllib.request.Request(
        "http://%s:%d/api/v1/sessions/%s/kick" % (HOST, admin_port, uid + "-kick"), method="POST"), timeout=5)
    kicked.expect_closed()
    [kick] = wait_event(log, "disconnected", client_id=uid + "-kick")
    assert kick["reason"] == "kicked", kick


def test_keep_alive_timeout_and_shutdown_are_reasons_too(json_log, uid):
    broker, log = json_log()
    silent = broker.client(4)
    silent.connect(uid + "-silent", keepalive=1)
    # 1.5 x keep alive without a packet: the gateway closes it.
    silent.expect_closed(timeout=5)
    [timeout] = wait_event(log, "disconnected", client_id=uid + "-silent")
    assert timeout["reason"] == "keep_alive_timeout", timeout
    assert timeout["duration_s"] >= 1.0, timeout
    broker.connect(uid + "-stay", 5)
    assert broker.stop() == 0
    [down] = wait_event(log, "disconnected", client_id=uid + "-stay")
    assert down["reason"] == "server_shutdown", down


def test_a_refusal_names_the_user_and_the_reason(json_log, tmp_path, uid):
    passwd = password_file(tmp_path / "passwd", {"alice": "a1"})
    broker, log = json_log(password_file=passwd, allow_anonymous=False)
    c = broker.client(5)
    assert c.connect(uid, username="alice", password=b"wrong", expect_success=False).reason_code == 0x86
    [refused] = wait_event(log, "connect_refused", client_id=uid)
    assert refused["level"] == "info" and refused["username"] == "alice", refused
    assert refused["reason"] == "bad_user_name_or_password" and refused["detail"] == "bad user name or password"
    assert refused["address"].startswith(HOST + ":"), refused
    assert events(log, "disconnected") == []  # never connected: the refusal is the one line


def test_a_refusal_is_one_text_line_with_its_fields(make_broker, tmp_path, uid):
    log = tmp_path / "gw.log"
    broker = make_broker(log_file=str(log), allow_anonymous=False)
    c = broker.client(4)
    assert c.connect(uid, expect_success=False).reason_code == 5
    deadline = time.monotonic() + DEADLINE
    while "connection refused" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline
        time.sleep(0.02)  # poll interval of a bounded wait for a log line
    line = next(l for l in log.read_text().splitlines() if "connection refused" in l)
    assert " info connection refused client_id=%s " % uid in line, line
    assert 'detail="anonymous access is not allowed"' in line, line


def test_text_lines_carry_the_same_fields_as_key_value_pairs(make_broker, tmp_path, uid):
    log = tmp_path / "gw.log"
    broker = make_broker(log_file=str(log))
    c = broker.client(5)
    c.connect(uid, keepalive=30)
    c.disconnect()
    deadline = time.monotonic() + DEADLINE
    while "client disconnected client_id=%s " % uid not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.02)  # poll interval of a bounded wait for a log line
    lines = log.read_text().splitlines()
    connected = next(l for l in lines if "client connected client_id=%s " % uid in l)
    assert " info client connected " in connected
    for field in ("address=%s:" % HOST, "protocol=5", "keep_alive=30", "clean_start=true", "session_present=false"):
        assert field in connected, connected
    assert "username=" not in connected  # absent, not "null"
    disconnected = next(l for l in lines if "client disconnected client_id=%s " % uid in l)
    assert 'reason=client_disconnect detail="0x00 normal disconnection" duration_s=' in disconnected, disconnected


def test_a_disconnect_that_breaks_the_rules_is_logged_as_the_protocol_error(json_log, uid):
    broker, log = json_log()
    c = broker.connect(uid, 5)  # session expiry 0 on CONNECT
    c.disconnect(props={"session_expiry_interval": 60})  # MQTT 5 §3.14.2.2.2: not allowed after 0
    [line] = wait_event(log, "disconnected", client_id=uid)
    assert line["reason"] == "protocol_error" and line["detail"].startswith("protocol_error: "), line
