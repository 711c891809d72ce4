"""The admin HTTP/JSON API and /metrics, driven over plain HTTP with real clients
connected (issue 6 item 1 and 3; tidegatectl is tested in test_tidegatectl.py)."""

import json
import urllib.error
import urllib.request

import pytest

import mqttraw as m
from conftest import HOST, free_port

pytestmark = pytest.mark.tidegate_only(reason="tidegate admin API")


@pytest.fixture
def admin(make_broker, tmp_path):
    token = tmp_path / "admin.token"
    token.write_text("s3cret\n")
    port = free_port()
    broker = make_broker(admin={"bind": HOST, "port": port, "token_file": str(token)})

    def call(method, path, token="s3cret"):
        request = urllib.request.Request("http://%s:%d%s" % (HOST, port, path), method=method)
        if token:
            request.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                body = response.read().decode()
                return response.status, (json.loads(body) if "json" in response.headers["Content-Type"] else body)
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read().decode())

    return broker, call


def test_token_is_required(admin):
    _, call = admin
    status, body = call("GET", "/api/v1/stats", token=None)
    assert status == 401 and "token" in body["error"]
    assert call("GET", "/api/v1/stats", token="wrong")[0] == 401
    assert call("GET", "/api/v1/stats")[0] == 200


def test_sessions_and_kick_with_real_clients(admin, uid):
    broker, call = admin
    online = broker.connect(uid + "-on", 5)
    online.subscribe("k/" + uid, qos=1, props={"subscription_identifier": 7})
    offline = broker.connect(uid + "-off", 5, clean=False, props={"session_expiry_interval": 600})
    offline.disconnect()
    status, body = call("GET", "/api/v1/sessions?prefix=" + uid)
    assert status == 200 and body["total"] == 2
    states = {s["client_id"]: s["online"] for s in body["sessions"]}
    assert states == {uid + "-on": True, uid + "-off": False}
    status, show = call("GET", "/api/v1/sessions/" + uid + "-on")
    assert show["subscriptions"][0]["filter"] == "k/" + uid
    assert show["subscriptions"][0]["subscription_id"] == 7
    assert call("GET", "/api/v1/sessions/nobody")[0] == 404
    assert call("POST", "/api/v1/sessions/%s-on/kick" % uid) == (200, {"kicked": True})
    got = online.expect_closed()
    assert any(p.type == m.DISCONNECT and p.reason_code == 0x98 for p in got)
    assert call("DELETE", "/api/v1/sessions/%s-off" % uid) == (200, {"deleted": True})
    again = broker.connect(uid + "-off", 5, clean=False, props={"session_expiry_interval": 600})
    assert not again.connack.session_present


def test_metrics_and_stats_count_what_happened(admin, uid):
    broker, call = admin
    c = broker.connect(uid, 5)
    c.subscribe("mt/" + uid, qos=1)
    c.publish("mt/" + uid, b"x", qos=1)
    c.expect_packet(m.PUBLISH)
    status, text = call("GET", "/metrics")
    assert status == 200
    values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert int(values["tidegate_messages_received_total"]) >= 1
    assert int(values["tidegate_messages_sent_total"]) >= 1
    assert int(values["tidegate_connections_open"]) >= 1
    assert 'tidegate_dropped_total{reason="expired"}' in values
    stats = call("GET", "/api/v1/stats")[1]
    assert stats["messages"]["persisted"] >= 1 and stats["sessions"]["online"] >= 1
