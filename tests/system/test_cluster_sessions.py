"""Cluster mode (docs/cluster.md): a persistent session follows its client to
another gateway with what was queued and what was in flight, through crashes
and failed moves. Real gateways and `nats-server -js` on loopback."""

import os
import signal
import threading
import time

import pytest

import mqttraw as m
from cluster_support import (  # noqa: F401 (fixtures, and the ones they use)
    cluster_api,
    connect_and_claim,
    ctl,
    gateway,
    metrics,
    nats,
    session_ids,
    settled_gateways,
    wait_lookup_stable,
    wait_moved_out,
    wait_running,
)

pytestmark = pytest.mark.tidegate_only(reason="tidegate cluster mode (JSON config, NATS JetStream)")


@pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
def test_persistent_session_continues_on_another_gateway_with_what_was_queued(settled_gateways, uid, version):
    a, b, _ = settled_gateways
    props = {"session_expiry_interval": 3600} if version == 5 else None
    topic = "move/%s/" % uid
    c = connect_and_claim(a, uid, version, clean=False, props=props)
    c.subscribe([(topic + "#", 1)])
    c.disconnect()
    # Published while the client is away: queued for its session on a.
    pub = a.connect(uid + "-p", 5)
    for i in range(20):
        pub.publish(topic + str(i), b"q%d" % i, qos=1)
    moved = b.connect(uid, version, clean=False, props=props)
    assert moved.connack.session_present
    got = moved.publishes_until(b"q19", timeout=10)
    assert [p.payload for p in got] == [b"q%d" % i for i in range(20)]
    # The subscription came along: new messages reach the client on b, once.
    pub.publish(topic + "after", b"after", qos=1)
    pub.publish(topic + "end", b"end", qos=1)
    assert [p.payload for p in moved.publishes_until(b"end", timeout=5)] == [b"after", b"end"]
    wait_moved_out(a)
    assert uid not in session_ids(a)
    assert cluster_api(b)["sessions_moved"]["in"] == 1
    assert metrics(b)["tidegate_cluster_sessions_moved_in_total"] == 1
    assert metrics(a)["tidegate_cluster_sessions_moved_out_total"] == 1
    text = ctl(b, "cluster")
    moved_lines = text[text.index("sessions_moved:"):].split("\n")[1:3]
    assert [l.split() for l in moved_lines] == [["in:", "1"], ["out:", "0"]], text


def test_unacknowledged_messages_are_resent_by_the_new_gateway_with_their_packet_ids(settled_gateways, uid):
    a, b, _ = settled_gateways
    props = {"session_expiry_interval": 3600}
    first = connect_and_claim(a, uid, 5, clean=False, props=props, auto_ack=False)
    first.subscribe("unacked/" + uid, qos=1)
    pub = a.connect(uid + "-p", 5)
    for i in range(3):
        pub.publish("unacked/" + uid, b"u%d" % i, qos=1)
    sent = [first.expect_packet(m.PUBLISH, timeout=5) for _ in range(3)]  # never acknowledged
    moved = b.connect(uid, 5, clean=False, props=props)
    assert first.expect_packet(m.DISCONNECT, timeout=5).reason_code == 0x8E
    assert moved.connack.session_present
    again = [moved.expect_packet(m.PUBLISH, timeout=5) for _ in range(3)]
    # MQTT-4.4.0-1: the same packet ids, marked DUP.
    assert [(p.payload, p.packet_id, p.dup) for p in again] == [(p.payload, p.packet_id, True) for p in sent]
    pub.publish("unacked/" + uid, b"next", qos=1)
    assert [p.payload for p in moved.publishes_until(b"next", timeout=5)] == [b"next"]
    assert cluster_api(b)["sessions_moved"]["in"] == 1


def test_messages_published_while_the_session_moves_are_neither_lost_nor_repeated(settled_gateways, uid):
    a, b, _ = settled_gateways
    props = {"session_expiry_interval": 3600}
    topic = "busy/" + uid
    first = connect_and_claim(a, uid, 5, clean=False, props=props)
    first.subscribe(topic, qos=1)
    pub = a.connect(uid + "-p", 5)
    received = []
    count = 400
    for i in range(count // 2):
        pub.publish(topic, b"%d" % i, qos=1)
    # The client moves while the publisher (on a) goes on with the rest.
    publisher = threading.Thread(target=lambda: [pub.publish(topic, b"%d" % i, qos=1) for i in range(count // 2, count)])
    publisher.start()
    try:
        moved = b.connect(uid, 5, clean=False, props=props)
    finally:
        publisher.join(timeout=30)
    assert not publisher.is_alive()
    # What the first connection read before it was taken over, acknowledged or not.
    while True:
        try:
            p = first.read_packet(5)
        except (m.NoPacket, m.ConnectionClosed, OSError):
            break
        if p.type == m.PUBLISH:
            received.append(p)
        elif p.type == m.DISCONNECT:
            break
    received += moved.publishes_until(b"%d" % (count - 1), timeout=20)
    payloads = [int(p.payload) for p in received]
    assert set(payloads) == set(range(count)), "lost: %r" % sorted(set(range(count)) - set(payloads))
    # A repeat is only a resend of what the first connection had not acknowledged.
    seen = set()
    for p in received:
        n = int(p.payload)
        assert n not in seen or p.dup, "message %d delivered twice" % n
        seen.add(n)
    assert cluster_api(b)["sessions_moved"]["in"] == 1


def test_messages_handed_over_survive_a_crash_of_the_new_gateway(settled_gateways, uid):
    a, b, _ = settled_gateways
    topic = "keep/" + uid
    c = connect_and_claim(a, uid, 5, clean=False, props={"session_expiry_interval": 3600})
    c.subscribe(topic, qos=1)
    c.disconnect()
    pub = a.connect(uid + "-p", 5)
    for i in range(10):
        pub.publish(topic, b"k%d" % i, qos=1)
    # One message in flight at a time: the other nine stay handed over, unsent.
    moved = b.connect(uid, 5, clean=False, props={"session_expiry_interval": 3600, "receive_maximum": 1},
                      auto_ack=False)
    assert moved.connack.session_present
    assert moved.expect_packet(m.PUBLISH, timeout=5).payload == b"k0"
    wait_moved_out(a)  # a has let go: b's store is the only copy
    b.restart(kill=True)
    wait_running(b)
    back = b.connect(uid, 5, clean=False, props={"session_expiry_interval": 3600})
    assert back.connack.session_present
    got = back.publishes_until(b"k9", timeout=10)
    assert [p.payload for p in got] == [b"k%d" % i for i in range(10)]
    assert got[0].dup  # k0 had gone out before the crash


def test_session_on_a_killed_gateway_does_not_hold_up_its_client(settled_gateways, uid):
    a, b, _ = settled_gateways
    c = connect_and_claim(a, uid, 5, clean=False, props={"session_expiry_interval": 3600})
    c.subscribe("lost/" + uid, qos=1)
    a.stop(kill=True)
    # Nobody can hand the session over: a new one, well within connect_timeout.
    started = time.monotonic()
    fresh = b.connect(uid, 5, clean=False, props={"session_expiry_interval": 3600}, timeout=10)
    assert not fresh.connack.session_present
    assert time.monotonic() - started < 8
    fresh.subscribe("lost/" + uid, qos=1)
    pub = b.connect(uid + "-p", 5)
    pub.publish("lost/" + uid, b"served", qos=1)
    assert fresh.expect_packet(m.PUBLISH, timeout=5).payload == b"served"


def test_a_move_that_cannot_finish_is_refused_and_the_next_attempt_moves_the_session(settled_gateways, uid):
    a, b, _ = settled_gateways
    props = {"session_expiry_interval": 3600}
    # A client id whose lookup key b holds: b can still ask who holds it while a is stopped.
    client_id = next(uid + "-%d" % i for i in range(500)
                     if cluster_api(b, "c:%s-%d" % (uid, i))["lookup"]["owner_of"]["c:%s-%d" % (uid, i)] == "b")
    c = connect_and_claim(a, client_id, 5, clean=False, props=props)
    c.subscribe("retry/" + uid, qos=1)
    c.disconnect()
    a.connect(uid + "-p", 5).publish("retry/" + uid, b"kept", qos=1)
    os.kill(a.pid, signal.SIGSTOP)  # alive (subscribed) but not answering: the move cannot finish
    try:
        refused = b.client(5, timeout=10).connect(client_id, clean=False, props=props, expect_success=False)
    finally:
        os.kill(a.pid, signal.SIGCONT)
    assert refused.reason_code == 0x88  # server unavailable: try again
    assert cluster_api(b)["sessions_moved"]["failed"] == 1
    wait_lookup_stable([a, b])
    moved = b.connect(client_id, 5, clean=False, props=props)
    assert moved.connack.session_present
    assert moved.expect_packet(m.PUBLISH, timeout=5).payload == b"kept"


def test_session_restored_by_a_restarted_gateway_still_follows_its_client(settled_gateways, uid):
    a, b, _ = settled_gateways
    props = {"session_expiry_interval": 3600}
    c = connect_and_claim(a, uid, 5, clean=False, props=props)
    c.subscribe("restored/" + uid, qos=1)
    c.disconnect()
    a.connect(uid + "-p", 5).publish("restored/" + uid, b"before the restart", qos=1)
    a.restart()
    # a names itself the holder of what it restored once the lookup has its state.
    wait_lookup_stable([a, b])
    moved = b.connect(uid, 5, clean=False, props=props)
    assert moved.connack.session_present
    assert moved.expect_packet(m.PUBLISH, timeout=5).payload == b"before the restart"


def test_clean_start_on_another_gateway_ends_the_session_there(settled_gateways, uid):
    a, b, _ = settled_gateways
    c = connect_and_claim(a, uid, 5, clean=False, props={"session_expiry_interval": 3600})
    c.subscribe("clean/" + uid, qos=1)
    c.disconnect()
    fresh = b.connect(uid, 5, clean=True)
    assert not fresh.connack.session_present
    deadline = time.monotonic() + 5
    while uid in session_ids(a):
        assert time.monotonic() < deadline, "a kept the session"
        time.sleep(0.02)  # polling the admin API with a deadline
    assert cluster_api(b)["sessions_moved"]["in"] == 0
