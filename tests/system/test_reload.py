"""Live reload (docs/operations.md): SIGHUP and POST /api/v1/reload re-read the config
file; password and ACL files, acl_deny, allow_anonymous and log level apply to new
connections; a reload that fails keeps the running settings and says why."""

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

import mqttraw as m
from checks import post_reload
from conftest import HOST, free_port

pytestmark = pytest.mark.tidegate_only(reason="tidegate reload")


def wait_for_log(broker, text, seconds=10):
    deadline = time.monotonic() + seconds
    while text not in broker.log_tail(200):
        assert time.monotonic() < deadline, "log never said %r" % text
        time.sleep(0.02)  # poll interval of a bounded wait for a log line


def test_sighup_reloads_password_file(make_broker, tmp_path, uid):
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), "alice", "a1"], check=True, timeout=10)
    broker = make_broker(password_file=str(passwd), allow_anonymous=False)
    bob = broker.client(5)
    assert bob.connect(uid + "-b", username="bob", password=b"b2", expect_success=False).reason_code == 0x86
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "bob", "b2"], check=True, timeout=10)
    os.kill(broker.pid, signal.SIGHUP)
    wait_for_log(broker, "reloaded")
    again = broker.client(5)
    assert again.connect(uid + "-b2", username="bob", password=b"b2").reason_code == 0


def test_failed_reload_keeps_running_rules(make_broker, tmp_path, uid):
    acl = tmp_path / "acl"
    acl.write_text("topic readwrite open/#\n")
    port = free_port()
    broker = make_broker(acl_file=str(acl), admin={"bind": HOST, "port": port})

    def reload():
        return post_reload(port)

    acl.write_text("topic sometimes open/#\nthis is not acl syntax\n")
    status, body = reload()
    assert status == 400 and "acl_file" in body["error"], body
    c = broker.connect(uid, 5)
    assert c.publish("open/x", b"1", qos=1).reason_code < 0x80, "the old rules must still apply"
    acl.write_text("topic readwrite other/#\n")
    status, body = reload()
    assert status == 200 and body["reloaded"] is True and body["new_connections"] == [], body
    fresh = broker.connect(uid + "-new", 5)
    assert fresh.publish("open/x", b"1", qos=1).reason_code == 0x87
    assert fresh.publish("other/x", b"1", qos=1).reason_code < 0x80


def test_tidegatectl_reload(make_broker, tmp_path, uid):
    ctl = os.environ.get("TIDEGATECTL") or str(
        __import__("pathlib").Path(__file__).resolve().parents[2] / "build" / "bin" / "tidegatectl")
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), "alice", "a1"], check=True, timeout=10)
    port = free_port()
    make_broker(password_file=str(passwd), admin={"bind": HOST, "port": port})
    run = lambda: subprocess.run([ctl, "--admin", "%s:%d" % (HOST, port), "reload"], capture_output=True,
                                 text=True, timeout=10)
    ok = run()
    assert ok.returncode == 0 and "reloaded" in ok.stdout, ok
    passwd.write_text("alice:not-a-hash\n")
    bad = run()
    assert bad.returncode == 1 and "password_file" in bad.stderr, bad


def test_sighup_applies_new_limits_to_running_clients(make_broker, uid):
    broker = make_broker(max_subscriptions_per_client=2, max_session_backlog=2)
    c = broker.connect(uid, 5)
    assert c.subscribe("a/" + uid, qos=1).reason_codes == [1]
    assert c.subscribe("b/" + uid, qos=1).reason_codes == [1]
    assert c.subscribe("c/" + uid, qos=1).reason_codes == [0x97]
    off = broker.connect(uid + "-off", 5, clean=False, props={"session_expiry_interval": 600})
    off.subscribe("bk/" + uid, qos=1)
    off.disconnect()
    pub = broker.connect(uid + "-p", 5)
    for i in range(2):
        assert pub.publish("bk/" + uid, b"%d" % i, qos=1).reason_code == 0
    assert pub.publish("bk/" + uid, b"over", qos=1).reason_code == 0x97

    broker.config.update(max_subscriptions_per_client=3, max_session_backlog=5)
    broker._write_config()
    os.kill(broker.pid, signal.SIGHUP)
    wait_for_log(broker, "reloaded")
    # The same connections, the new bounds.
    assert c.subscribe("c/" + uid, qos=1).reason_codes == [1]
    assert c.subscribe("d/" + uid, qos=1).reason_codes == [0x97]
    assert pub.publish("bk/" + uid, b"2", qos=1).reason_code == 0


def test_a_reload_reports_what_changed_and_what_needs_a_restart(make_broker, tmp_path):
    ctl = os.environ.get("TIDEGATECTL") or str(
        __import__("pathlib").Path(__file__).resolve().parents[2] / "build" / "bin" / "tidegatectl")
    port = free_port()
    broker = make_broker(admin={"bind": HOST, "port": port}, log_level="info", max_connections=100)
    status, body = post_reload(port)
    assert status == 200 and body["changed"] == [] and body["restart_needed"] == [], body

    moved = free_port()
    broker.config.update(log_level="warn", max_connections=50, allow_anonymous=True,
                         listeners=[{"protocol": "mqtt", "bind": HOST, "port": moved}])
    broker._write_config()
    run = subprocess.run([ctl, "--admin", "%s:%d" % (HOST, port), "reload"], capture_output=True, text=True,
                         timeout=10)
    # Not all of the file is in effect: tidegatectl says which key and exits 4.
    assert run.returncode == 4, run
    assert "applied now:          log_level, max_connections" in run.stdout, run.stdout
    assert "new connections:      allow_anonymous" in run.stdout, run.stdout
    assert "NEED A RESTART:       listeners" in run.stdout, run.stdout
    # And the new port is indeed not listened on (the report is honest).
    with __import__("socket").socket() as s:
        assert s.connect_ex((HOST, moved)) != 0
    # The log line names only what changed.
    wait_for_log(broker, "some changes need a restart")
    line = next(l for l in broker.log_tail(50).splitlines() if "some changes need a restart" in l)
    assert " warn reloaded; some changes need a restart " in line, line
    assert "applied=log_level,max_connections new_connections=allow_anonymous restart_needed=listeners" in line
    assert "max_retained_bytes" not in line
    # Until a restart, every reload still says so; the applied keys are not changes any more.
    status, body = post_reload(port)
    assert status == 200 and body["changed"] == ["listeners"] and body["restart_needed"] == ["listeners"], body
    json_run = subprocess.run([ctl, "--admin", "%s:%d" % (HOST, port), "--json", "reload"], capture_output=True,
                              text=True, timeout=10)
    assert json_run.returncode == 4 and json.loads(json_run.stdout)["restart_needed"] == ["listeners"], json_run
