"""connect_timeout: a connection that has not become an MQTT session within it is
closed, so idle or half-open sockets cannot pile up -- a socket that sends
nothing, one that sends part of a CONNECT (also byte by byte), and one whose
authentication a plugin never answers (docs/plugins.md: "A completion not
answered within connect_timeout refuses the client (not authorized)"). The
gateway goes on serving other clients meanwhile."""

import pathlib
import select
import time

import pytest

import mqttraw as m
from conftest import TIDEGATE_BIN

pytestmark = pytest.mark.tidegate_only(reason="tidegate config keys connect_timeout and plugins")

TEST_PLUGIN = pathlib.Path(TIDEGATE_BIN).resolve().parents[1] / "lib" / "tidegate_test_plugin.so"

CONNECT_TIMEOUT = 1
# Closed within [CONNECT_TIMEOUT - EARLY, CONNECT_TIMEOUT + LATE] of the TCP connect.
EARLY = 0.1
LATE = 0.6


def check_closed_in_time(client, since):
    got = client.expect_closed(timeout=CONNECT_TIMEOUT + LATE + 1.0)
    elapsed = time.monotonic() - since
    assert CONNECT_TIMEOUT - EARLY <= elapsed <= CONNECT_TIMEOUT + LATE, \
        "closed %.2fs after connecting, connect_timeout is %ds" % (elapsed, CONNECT_TIMEOUT)
    return got


def check_serves_others(broker, uid, version=5):
    topic = "alive/" + uid
    sub = broker.connect(uid + "-sub", version)
    sub.subscribe(topic, qos=1)
    pub = broker.connect(uid + "-pub", version)
    pub.publish(topic, b"still here", qos=1)
    assert sub.expect_packet(m.PUBLISH).payload == b"still here"
    sub.close()
    pub.close()


@pytest.mark.broker_config(connect_timeout=CONNECT_TIMEOUT)
def test_silent_socket_is_closed(broker, uid):
    since = time.monotonic()
    c = broker.client(5)
    assert check_closed_in_time(c, since) == []  # no CONNECT, so no CONNACK or DISCONNECT either
    check_serves_others(broker, uid)


@pytest.mark.broker_config(connect_timeout=CONNECT_TIMEOUT)
@pytest.mark.parametrize("dribble", [False, True], ids=["half-at-once", "byte-by-byte"])
def test_half_a_connect_is_closed(broker, version, dribble, uid):
    connect = m.build_connect(uid, version, keepalive=60)
    half = connect[:len(connect) // 2]
    since = time.monotonic()
    c = broker.client(version)
    if not dribble:
        c.send_raw(half)
    else:
        # A byte every 0.2 s (the client's own pace), never the last one: the bytes
        # that arrive do not extend the deadline, which is counted from the TCP connect.
        for i in range(len(connect) - 1):
            if time.monotonic() - since > CONNECT_TIMEOUT + LATE:
                break
            c.send_raw(connect[i:i + 1])
            readable, _, _ = select.select([c.sock], [], [], 0.2)
            if readable:
                break  # the gateway closed (or wrote): expect_closed below tells which
    assert check_closed_in_time(c, since) == []
    check_serves_others(broker, uid)


@pytest.mark.broker_config(connect_timeout=CONNECT_TIMEOUT,
                           plugins=[{"path": str(TEST_PLUGIN), "options": {"silent_user": "slow"}}])
def test_unanswered_plugin_authentication_is_refused_after_connect_timeout(broker, version, uid):
    topic = "pipelined/" + uid
    watcher = broker.connect(uid + "-w", version)
    watcher.subscribe(topic, qos=1)
    since = time.monotonic()
    slow = broker.client(version)
    # CONNECT with the user name the plugin never answers, and a PUBLISH behind
    # it: held until an answer that never comes, so never published.
    slow.send_raw(m.build_connect(uid + "-slow", version, username="slow", password=b"x")
                  + m.build_publish(topic, b"unauthenticated", qos=1, packet_id=1, version=version))
    # Meanwhile the gateway serves everyone else.
    check_serves_others(broker, uid + "-during", version)
    got = check_closed_in_time(slow, since)
    assert [p.type for p in got] == [m.CONNACK], got
    assert got[0].reason_code == (m.RC_NOT_AUTHORIZED if version == 5 else 5), got  # not authorized
    check_serves_others(broker, uid + "-after", version)
    # The pipelined PUBLISH never went anywhere: the watcher gets the next message, not it.
    pub = broker.connect(uid + "-p", version)
    pub.publish(topic, b"authenticated", qos=1)
    assert watcher.expect_packet(m.PUBLISH).payload == b"authenticated"
