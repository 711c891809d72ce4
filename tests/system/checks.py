"""Assertions and admin-API calls shared by the system tests."""

import json
import subprocess
import urllib.error
import urllib.request

import mqttraw as m
from conftest import HOST


def password_file(path, credentials):
    """A mosquitto_passwd file at `path` for {user: password}; returns its path as a string."""
    for i, (user, password) in enumerate(credentials.items()):
        subprocess.run(["mosquitto_passwd", "-b"] + (["-c"] if i == 0 else []) + [str(path), user, password],
                       check=True, timeout=10)
    return str(path)


def metric(admin_port, sample, token=None):
    """The value of one /metrics sample (name with its labels) on the admin API at `admin_port`."""
    request = urllib.request.Request("http://%s:%d/metrics" % (HOST, admin_port))
    if token:
        request.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(request, timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(sample + " "):
                return float(line.split()[1])
    raise AssertionError("no metric " + sample)


def post_reload(port):
    """POST /api/v1/reload on the admin API at `port`: (status, JSON body)."""
    request = urllib.request.Request("http://%s:%d/api/v1/reload" % (HOST, port), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def expect_error_close(client, reason_codes, timeout=3.0, allow_connack=False):
    """The broker must close the connection because of a protocol violation.

    MQTT 5 (section 4.13): the server SHOULD send DISCONNECT with a reason code
    and MUST close; we require the DISCONNECT, with one of `reason_codes`, as
    the last packet before the close.  MQTT 3.1.1 has no error packet: the
    server just closes (nothing may answer the bad packet).
    Returns the packets received before the close.
    """
    got = client.expect_closed(timeout)
    packets = [p for p in got if isinstance(p, m.Packet)]
    assert len(packets) == len(got), "unparsable data from the broker: %r" % got
    if client.version == 5:
        if allow_connack and packets and packets[-1].type == m.CONNACK:
            assert packets[-1].reason_code in reason_codes, packets
            return packets
        assert packets and packets[-1].type == m.DISCONNECT, \
            "expected DISCONNECT %s before the close, got %r" % (
                "/".join("0x%02X" % c for c in reason_codes), packets)
        assert packets[-1].reason_code in reason_codes, packets[-1]
    else:
        assert all(p.type in (m.PUBLISH, m.PUBREL) for p in packets), \
            "3.1.1 broker answered a bad packet instead of closing: %r" % packets
    return packets


def payloads(packets):
    return [p.payload for p in packets]


def will(topic, payload=b"will", qos=0, retain=False, props=None):
    return {"topic": topic, "payload": payload, "qos": qos, "retain": retain, "props": props}


def both_versions(xfail_mosquitto_v5=None, xfail_mosquitto_v311=None):
    """parametrize("version", [4, 5]) with a mosquitto xfail on one of them."""
    import pytest

    def param(v, ident, reason):
        marks = [pytest.mark.xfail_mosquitto(reason=reason)] if reason else []
        return pytest.param(v, id=ident, marks=marks)

    return pytest.mark.parametrize("version", [param(4, "v311", xfail_mosquitto_v311),
                                               param(5, "v5", xfail_mosquitto_v5)])


MOSQ_NO_DISCONNECT = "closes without sending the DISCONNECT reason code (MQTT 5 §4.13 SHOULD)"
