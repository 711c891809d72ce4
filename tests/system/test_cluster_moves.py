"""A persistent session moving across a freshly started cluster loses nothing
(docs/cluster.md, "Sessions across gateways").

Each run starts its own `nats-server -js` and three gateways gw-a, gw-b, gw-c,
and begins as soon as each admin API answers (the lookup is still settling).
The client "mover" subscribes on gw-a and leaves; a publisher on gw-c sends
messages before the move, while it happens and right after its CONNACK on
gw-b. Every acknowledged message must reach the mover; a repeat is allowed
only as a DUP resend.

TIDEGATE_CLUSTER_MOVES sets the number of fresh clusters per protocol version
(10 by default; docs/cluster.md gives a local run of 100)."""

import os
import threading
import time

import pytest

import mqttraw as m
from cluster_support import cluster_api, gateway, gateway_behind_a_forwarder, nats, wait_lookup_stable  # noqa: F401

pytestmark = pytest.mark.tidegate_only(reason="tidegate cluster mode (JSON config, NATS JetStream)")

MOVES = int(os.environ.get("TIDEGATE_CLUSTER_MOVES", "10"))
BEFORE, DURING, AFTER = 300, 100, 100


def publish_acknowledged(client, topic, numbers, window=10):
    """QoS 1 publishes, `window` unacknowledged at a time (within the gateway's
    Receive Maximum); returns once every one is acknowledged."""
    numbers = list(numbers)
    for start in range(0, len(numbers), window):
        pids = {client.publish(topic, b"%d" % n, qos=1, wait=False) for n in numbers[start:start + window]}
        while pids:
            ack = client.expect_packet(m.PUBACK, 10)
            assert ack.reason_code in (0, 0x10), "publish refused: %r" % ack
            pids.discard(ack.packet_id)


def receive_all(client, want, timeout=30):
    """PUBLISH packets until every number in `want` arrived (or the deadline)."""
    got = []
    missing = set(want)
    deadline = time.monotonic() + timeout
    while missing:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            p = client.read_packet(remaining)
        except m.NoPacket:
            break
        if p.type == m.PUBLISH:
            got.append(p)
            missing.discard(int(p.payload))
    return got, missing


def one_move(nats, gateway, version, run):  # noqa: F811
    server = nats()
    a, b, c = (gateway("gw-" + n, [server.url]) for n in "abc")
    props = {"session_expiry_interval": 3600} if version == 5 else None
    topic = "mv/t"
    mover = a.connect("mover", version, clean=False, props=props)
    mover.subscribe([("mv/#", 1)])
    mover.disconnect()

    publisher = c.connect("pub", 5)
    publish_acknowledged(publisher, topic, range(BEFORE))
    during = c.connect("pub-during", 5)
    thread = threading.Thread(target=publish_acknowledged, args=(during, topic, range(BEFORE, BEFORE + DURING)))
    thread.start()
    try:
        moved = b.connect("mover", version, clean=False, props=props, timeout=15)
    finally:
        thread.join(timeout=60)
    assert not thread.is_alive(), "run %d: the publisher during the move did not finish" % run
    assert moved.connack.session_present, "run %d: the session did not move" % run
    publish_acknowledged(publisher, topic, range(BEFORE + DURING, BEFORE + DURING + AFTER))

    total = BEFORE + DURING + AFTER
    got, missing = receive_all(moved, range(total))
    assert not missing, "run %d (v%d): acknowledged and lost: %r; b: %r" % (
        run, version, sorted(missing), cluster_api(b))
    seen = set()
    for p in got:
        n = int(p.payload)
        assert n not in seen or p.dup, "run %d: message %d delivered twice" % (run, n)
        seen.add(n)
    assert cluster_api(b)["sessions_moved"]["in"] == 1
    for g in (a, b, c):
        g.stop(kill=True)
    server.kill()


@pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
def test_session_moves_on_a_fresh_cluster_lose_no_acknowledged_message(nats, gateway, version):  # noqa: F811
    for run in range(MOVES):
        one_move(nats, gateway, version, run)


def test_a_session_too_large_to_move_stays_whole_on_its_gateway(nats, gateway, uid):  # noqa: F811
    """More waiting than one handover carries: the move is refused (0x88) and
    the session stays on its gateway with every message, instead of moving
    without the part beyond the bound."""
    server = nats()
    small = {"max_handover_bytes": 65536}
    a, b = gateway("a", [server.url], cluster=small), gateway("b", [server.url], cluster=small)
    wait_lookup_stable([a, b])
    props = {"session_expiry_interval": 3600}
    topic = "big/" + uid
    first = a.connect(uid, 5, clean=False, props=props)
    first.subscribe([(topic, 1)])
    first.disconnect()
    pub = a.connect(uid + "-p", 5)
    payloads = [b"%d:" % i + b"x" * 8000 for i in range(20)]  # 160 kB waiting, over 64 KiB
    for p in payloads:
        pub.publish(topic, p, qos=1)
    refused = b.client(5)
    ack = refused.connect(uid, clean=False, props=props, expect_success=False)
    assert ack.reason_code == 0x88, ack
    assert cluster_api(b)["sessions_moved"]["failed"] >= 1
    back = a.connect(uid, 5, clean=False, props=props)
    assert back.connack.session_present
    assert [p.payload for p in back.publishes_until(payloads[-1], timeout=10)] == payloads


def test_subscription_made_as_a_gateway_joins_gets_what_is_published_elsewhere_meanwhile(nats, gateway, uid):  # noqa: F811
    """A gateway that has just started subscribes before the others' lookups
    know it: the messages published meanwhile elsewhere all arrive, once (what
    a lookup left it out of is read from the stream once it is known)."""
    server = nats()
    a, c = gateway("a", [server.url]), gateway("c", [server.url])
    wait_lookup_stable([a, c])
    pub = c.connect(uid + "-p", 5)
    d = gateway("d", [server.url])
    sub = d.connect(uid + "-s", 5)
    sub.subscribe("join/%s/#" % uid, qos=1)  # within d's first 1.5 s: its route settles
    notify = cluster_api(d)["notify"]
    # (On a slow machine d may already be known everywhere: then nothing settles.)
    settling = notify["settling_routes"] > 0 or notify["settle_reads"] > 0
    count = 200
    publish_acknowledged(pub, "join/%s/x" % uid, range(count))
    got, missing = receive_all(sub, range(count), timeout=15)
    assert not missing, "acknowledged and lost: %r" % sorted(missing)
    numbers = [int(p.payload) for p in got]
    assert len(numbers) == len(set(numbers)), "repeated: %r" % numbers
    # The route settled with a read of the stream (which repeated none of these).
    deadline = time.monotonic() + 10
    while True:
        notify = cluster_api(d)["notify"]
        if notify["settling_routes"] == 0:
            break
        assert time.monotonic() < deadline, "d's route never settled: %r" % notify
        time.sleep(0.05)  # polling a gauge with a deadline
    assert notify["settle_reads"] >= 1 or not settling
    pub.publish("join/%s/x" % uid, b"last", qos=1)
    assert [p.payload for p in sub.publishes_until(b"last", timeout=5)] == [b"last"]


def test_a_gateway_cut_off_for_more_than_one_catch_up_round_misses_nothing(nats, gateway, uid):  # noqa: F811
    """More than 65,536 messages stored while b is cut off from NATS: its
    catch-up reads them in rounds, oldest first, instead of skipping the
    oldest beyond one round."""
    a, b, relay, sub, pub = gateway_behind_a_forwarder(nats, gateway, "cut/" + uid, uid, cluster={"lookup": False})
    relay.cut()
    try:
        publish_acknowledged(pub, "cut/" + uid, range(5))  # the oldest of the outage
        publish_acknowledged(pub, "filler/" + uid, range(70000), window=50)  # nobody on b wants these
        publish_acknowledged(pub, "cut/" + uid, range(5, 10))
    finally:
        relay.restore()
    got, missing = receive_all(sub, range(10), timeout=120)
    assert not missing, "acknowledged and lost: %r" % sorted(missing)
    assert cluster_api(b)["notify"]["catch_ups"] >= 2
