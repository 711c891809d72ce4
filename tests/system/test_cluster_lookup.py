"""Cluster mode (docs/cluster.md): the sharded lookup that tells which gateways
care about a topic, gateways and NATS nodes killed and restarted, and
`tidegatectl cluster`. Real gateways and `nats-server -js` on loopback."""

import json
import subprocess
import time

import pytest

import mqttraw as m
from conftest import HOST, free_port
from cluster_support import (  # noqa: F401 (fixtures, and the ones they use)
    cluster_api,
    ctl,
    find_topic_owned_by,
    gateway,
    nats,
    nats_cluster,
    three_gateways,
    two_gateways,
    wait_lookup_stable,
    wait_running,
)

pytestmark = pytest.mark.tidegate_only(reason="tidegate cluster mode (JSON config, NATS JetStream)")


def test_nats_node_killed_in_a_three_node_cluster_loses_no_acknowledged_message(nats_cluster, gateway, uid):
    urls = [s.url for s in nats_cluster]
    replicated = {"replicas": 3, "request_timeout_ms": 3000}
    a = gateway("a", urls, cluster=replicated)
    b = gateway("b", urls[::-1], cluster=replicated)
    topic = "r3/" + uid
    sub = b.connect(uid + "-s", 5)
    sub.subscribe(topic, qos=1)
    pub = a.connect(uid + "-p", 5)
    acknowledged, refused = [], []
    leader = nats_cluster[0].stream_leader()
    assert leader in ("n0", "n1", "n2"), leader
    for i in range(60):
        if i == 20:
            # The stream's leader: JetStream must elect another while we publish.
            next(s for s in nats_cluster if s.name == leader).kill()
        payload = b"%d" % i
        ack = pub.publish(topic, payload, qos=1, timeout=15)
        (acknowledged if ack.reason_code == m.RC_SUCCESS else refused).append(payload)
    assert len(acknowledged) >= 40, "the gateways did not go on with the two NATS servers left: %r" % refused
    got = set()
    deadline = time.monotonic() + 30
    while not set(acknowledged) <= got:
        assert time.monotonic() < deadline, "acknowledged but never delivered: %r" % sorted(set(acknowledged) - got)
        try:
            p = sub.read_packet(0.5)
        except m.NoPacket:
            continue
        if p.type == m.PUBLISH:
            got.add(p.payload)


def test_gateway_killed_while_the_others_keep_serving(nats, gateway, uid):
    server = nats()
    a, b, c = (gateway(n, [server.url]) for n in "abc")
    sub = c.connect(uid + "-s", 5)
    sub.subscribe("alive/" + uid, qos=1)
    on_b = b.connect(uid + "-b", 5)
    on_b.subscribe("alive/" + uid, qos=1)
    pub = a.connect(uid + "-p", 5)
    pub.publish("alive/" + uid, b"one", qos=1)
    assert sub.expect_packet(m.PUBLISH, timeout=5).payload == b"one"
    assert on_b.expect_packet(m.PUBLISH, timeout=5).payload == b"one"
    b.stop(kill=True)
    on_b.expect_closed(timeout=5)
    for i in range(10):
        assert pub.publish("alive/" + uid, b"after%d" % i, qos=1).reason_code == m.RC_SUCCESS
    got = sub.publishes_until(b"after9", timeout=10)
    assert [p.payload for p in got] == [b"after%d" % i for i in range(10)]
    # b's client moves to c and is served there.
    moved = c.connect(uid + "-b", 5)
    moved.subscribe("alive/" + uid, qos=1)
    pub.publish("alive/" + uid, b"moved", qos=1)
    assert moved.expect_packet(m.PUBLISH, timeout=5).payload == b"moved"


def test_tidegatectl_cluster_shows_the_node_its_link_and_counters(two_gateways, uid, make_broker):
    a, b, _ = two_gateways
    wait_lookup_stable([a, b])
    sub = b.connect(uid + "-s", 5)
    sub.subscribe("ctl/" + uid, qos=1)
    a.connect(uid + "-p", 5).publish("ctl/" + uid, b"x", qos=1)
    sub.expect_packet(m.PUBLISH, timeout=5)

    doc = json.loads(ctl(b, "cluster", "--json"))
    assert doc["enabled"] and doc["node"] == "b" and doc["store"]["connected"]
    assert doc["notify"]["mode"] == "lookup" and doc["notify"]["fetched"] == 1
    assert sorted(m.split("@")[0] for m in doc["lookup"]["members"]) == ["a", "b"]
    text = ctl(a, "cluster")
    assert "node:" in text and " a\n" in text and "appended:" in text
    single = make_broker(admin={"port": free_port()})
    from test_tidegatectl import CTL
    r = subprocess.run([CTL, "--admin", "%s:%d" % (HOST, single.config["admin"]["port"]), "cluster"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "not in a cluster" in r.stdout


def test_lookup_sends_notify_only_to_gateways_with_a_matching_subscription(three_gateways, uid):
    a, b, c, _ = three_gateways
    exact = b.connect(uid + "-e", 5)
    exact.subscribe("lk/%s/exact" % uid, qos=1)
    wild = c.connect(uid + "-w", 5)
    wild.subscribe("lk/%s/+/x" % uid, qos=1)
    pub = a.connect(uid + "-p", 5)
    before = {g: cluster_api(g)["notify"] for g in (a, b, c)}
    pub.publish("lk/%s/exact" % uid, b"to-b", qos=1)
    assert exact.expect_packet(m.PUBLISH, timeout=5).payload == b"to-b"
    pub.publish("lk/%s/1/x" % uid, b"to-c", qos=1)
    assert wild.expect_packet(m.PUBLISH, timeout=5).payload == b"to-c"
    pub.publish("lk/%s/nobody" % uid, b"none", qos=1)
    pub.publish("lk/%s/exact" % uid, b"last", qos=1)
    assert exact.expect_packet(m.PUBLISH, timeout=5).payload == b"last"
    after = {g: cluster_api(g)["notify"] for g in (a, b, c)}
    # b heard of its two messages only, c of its one: nobody heard of "nobody".
    assert after[b]["events_received"] - before[b]["events_received"] == 2
    assert after[c]["events_received"] - before[c]["events_received"] == 1
    assert after[a]["broadcast"] == before[a]["broadcast"], "the lookup answered every time"
    assert after[a]["targeted"] - before[a]["targeted"] == 3


def test_takeover_goes_to_the_gateway_the_lookup_names(three_gateways, uid):
    a, b, c, _ = three_gateways
    first = a.connect(uid, 5)
    deadline = time.monotonic() + 5
    # a's claim reaches the owner of the client's key (asynchronously).
    while cluster_api(a)["takeovers"]["sent_targeted"] + cluster_api(a)["lookup"]["answered"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.02)  # polling a counter with a deadline
    second = b.connect(uid, 5)
    assert first.expect_packet(m.DISCONNECT, timeout=5).reason_code == 0x8E
    first.expect_closed(timeout=5)
    assert second.is_open()
    assert cluster_api(b)["takeovers"]["sent_targeted"] == 1
    assert cluster_api(b)["takeovers"]["sent_broadcast"] == 0


def test_shard_owner_killed_delivery_continues_by_broadcast_then_lookup_again(three_gateways, uid):
    a, b, c, _ = three_gateways
    # A topic whose lookup key b holds; subscriber on c, publisher on a.
    topic = find_topic_owned_by(a, "b", "own/" + uid)
    sub = c.connect(uid + "-s", 5)
    sub.subscribe(topic, qos=1)
    pub = a.connect(uid + "-p", 5)
    pub.publish(topic, b"before", qos=1)
    assert sub.expect_packet(m.PUBLISH, timeout=5).payload == b"before"
    b.stop(kill=True)
    # Right away a cannot ask b: it broadcasts, and c still gets every message.
    for i in range(5):
        pub.publish(topic, b"during%d" % i, qos=1)
    got = sub.publishes_until(b"during4", timeout=10)
    assert [p.payload for p in got] == [b"during%d" % i for i in range(5)]
    fallbacks = cluster_api(a)["lookup"]["fallbacks"]
    assert fallbacks["unreachable"] + fallbacks["unstable"] >= 1
    # b is dropped from the members; the slots move, c announces again, and
    # the lookup answers once more.
    wait_lookup_stable([a, c])
    targeted = cluster_api(a)["notify"]["targeted"]
    pub.publish(topic, b"after", qos=1)
    assert sub.expect_packet(m.PUBLISH, timeout=5).payload == b"after"
    assert cluster_api(a)["notify"]["targeted"] == targeted + 1


def test_restarted_shard_owner_is_rebuilt_from_the_others(three_gateways, uid):
    a, b, c, _ = three_gateways
    topic = find_topic_owned_by(a, "b", "rb/" + uid)
    sub = c.connect(uid + "-s", 5)
    sub.subscribe(topic, qos=1)
    b.restart(kill=True)  # same node id, empty shard, new incarnation
    wait_running(b)
    wait_lookup_stable([a, b, c])
    assert cluster_api(a, "t:" + topic)["lookup"]["owner_of"]["t:" + topic] == "b"
    targeted = cluster_api(a)["notify"]["targeted"]
    pub = a.connect(uid + "-p", 5)
    pub.publish(topic, b"rebuilt", qos=1)
    assert sub.expect_packet(m.PUBLISH, timeout=5).payload == b"rebuilt"
    # Answered from b's rebuilt shard (c announced its subscription again), not broadcast.
    assert cluster_api(a)["notify"]["targeted"] == targeted + 1
