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
from test_cluster import cluster_api, gateway, nats  # noqa: F401 (fixtures)

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
