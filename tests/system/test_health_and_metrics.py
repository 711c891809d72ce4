"""GET /healthz and the operator's metrics (docs/operations.md, "Health" and
"Metrics"): probes need no token and learn only what fails; failed logins,
the build and the process have series; the gateway's own $SYS updates are not
counted as client traffic."""

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request

import pytest

import mqttraw as m
from checks import metric, password_file
from conftest import HOST, TIDEGATE_BIN, free_port

pytestmark = pytest.mark.tidegate_only(reason="tidegate's admin API")

DEADLINE = 10.0


def get(port, path, token=None):
    request = urllib.request.Request("http://%s:%d%s" % (HOST, port, path))
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_healthz_answers_without_a_token_and_names_only_what_fails(make_broker, tmp_path):
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    port = free_port()
    dead = free_port()  # nothing listens: the bridge stays down
    make_broker(admin={"bind": HOST, "port": port, "token_file": str(token)},
                bridges=[{"name": "cloud", "address": "%s:%d" % (HOST, dead), "keep_alive": 5,
                          "out": [{"filter": "up/#", "qos": 1}]}])
    # Everything else still needs the token.
    assert get(port, "/api/v1/stats")[0] == 401
    assert get(port, "/metrics")[0] == 401
    status, body = get(port, "/healthz")
    # A bridge that is down is reported, and the devices are still served: 200.
    assert (status, json.loads(body)) == (200, {"status": "ok", "degraded": ["bridges.cloud"]})


def test_failed_logins_are_counted_by_reason(make_broker, tmp_path, uid):
    port = free_port()
    broker = make_broker(password_file=password_file(tmp_path / "passwd", {"alice": "a1"}), allow_anonymous=False,
                         admin={"bind": HOST, "port": port})
    sample = 'tidegate_auth_failures_total{reason="%s"}'
    assert metric(port, sample % "bad_credentials") == 0
    for i in range(3):
        c = broker.client(5)
        assert c.connect("%s-%d" % (uid, i), username="alice", password=b"nope", expect_success=False).reason_code == 0x86
    c = broker.client(4)
    assert c.connect(uid + "-anon", expect_success=False).reason_code == 5
    assert metric(port, sample % "bad_credentials") == 3
    assert metric(port, sample % "anonymous_denied") == 1
    assert metric(port, sample % "hook_denied") == 0


def test_build_and_process_series(make_broker):
    port = free_port()
    broker = make_broker(admin={"bind": HOST, "port": port})
    status, text = get(port, "/metrics")
    assert status == 200
    info = re.search(r'^tidegate_build_info\{version="([^"]+)",commit="([^"]+)"\} 1$', text, re.M)
    assert info, text
    version = subprocess.run([TIDEGATE_BIN, "--version"], capture_output=True, text=True,
                             timeout=10).stdout.split()[1]
    assert info.group(1) == version
    with open("/proc/%d/status" % broker.pid) as f:
        rss_kib = int(next(l for l in f if l.startswith("VmRSS:")).split()[1])
    resident = metric(port, "process_resident_memory_bytes")
    assert 0.5 * rss_kib * 1024 < resident < 2 * rss_kib * 1024
    fds = len(os.listdir("/proc/%d/fd" % broker.pid))
    assert abs(metric(port, "process_open_fds") - fds) <= 4
    started = metric(port, "process_start_time_seconds")
    assert time.time() - 120 < started <= time.time() + 1
    assert metric(port, "process_cpu_seconds_total") >= 0
    assert metric(port, "process_max_fds") > 0


def test_sys_updates_are_not_client_traffic(make_broker, uid):
    port = free_port()
    broker = make_broker(admin={"bind": HOST, "port": port}, sys_interval=1)
    watcher = broker.connect(uid + "-sys", 5)
    watcher.subscribe("$SYS/broker/uptime", qos=0)
    # Wait for three rounds of $SYS updates (the first is the retained one).
    for _ in range(3):
        watcher.expect_packet(m.PUBLISH, timeout=5)
    assert metric(port, "tidegate_messages_no_subscribers_total") == 0
    assert metric(port, "tidegate_retained_messages") == 0
    pub = broker.connect(uid + "-pub", 5)
    for i in range(3):
        pub.publish("nobody/" + uid, b"%d" % i, qos=1)
    pub.publish("kept/" + uid, b"r", qos=1, retain=True)
    watcher.expect_packet(m.PUBLISH, timeout=5)  # one more $SYS round after them
    assert metric(port, "tidegate_messages_no_subscribers_total") == 4
    assert metric(port, "tidegate_retained_messages") == 1
