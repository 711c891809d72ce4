"""Cluster mode (docs/cluster.md): several real tidegate processes sharing a
real `nats-server -js` on loopback: delivery across gateways, retained and
shared subscriptions, JetStream outages, takeovers and the lookup's config.
Devices are raw MQTT clients; every process is killed by PID at teardown."""

import json
import os
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

import mqttraw as m
from conftest import HOST, free_port
from cluster_support import (  # noqa: F401 (fixtures, and the ones they use)
    cluster_api,
    collect_until_quiet,
    gateway,
    gateway_behind_a_forwarder,
    metrics,
    nats,
    three_gateways,
    two_gateways,
    wait_lookup_stable,
)

pytestmark = pytest.mark.tidegate_only(reason="tidegate cluster mode (JSON config, NATS JetStream)")


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_message_published_on_one_gateway_reaches_a_subscriber_on_another(two_gateways, uid, qos):
    a, b, _ = two_gateways
    topic = "cl/" + uid
    sub = b.connect(uid + "-s", 5)
    assert sub.subscribe(topic, qos=2).reason_codes == [2]
    pub = a.connect(uid + "-p", 5)
    ack = pub.publish(topic, b"across", qos=qos)
    if qos == 1:
        # Acknowledged after JetStream stored it; never "no matching subscribers"
        # (the subscriber is on the other gateway).
        assert ack.reason_code == m.RC_SUCCESS, ack
    p = sub.expect_packet(m.PUBLISH, timeout=5)
    assert (p.topic, p.payload, p.qos) == (topic, b"across", qos)


def test_wildcard_filters_across_gateways(two_gateways, uid):
    a, b, _ = two_gateways
    base = "w/" + uid
    sub_hash = b.connect(uid + "-h", 5)
    sub_hash.subscribe(base + "/#", qos=1)
    sub_plus = b.connect(uid + "-p", 5)
    sub_plus.subscribe(base + "/+/temp", qos=1)
    pub = a.connect(uid + "-pub", 5)
    # `base/#` also matches `base` itself (MQTT-4.7.1-2); `+` exactly one level.
    for topic, payload in [(base, b"parent"), (base + "/r1/temp", b"t1"), (base + "/r1/x/temp", b"deep"),
                           (base + "/r2/temp", b"t2"), ("other/" + uid, b"no"), (base + "/end", b"end")]:
        pub.publish(topic, payload, qos=1)
    got_hash = [(p.topic, p.payload) for p in sub_hash.publishes_until(b"end", timeout=5)]
    assert got_hash == [(base, b"parent"), (base + "/r1/temp", b"t1"), (base + "/r1/x/temp", b"deep"),
                        (base + "/r2/temp", b"t2"), (base + "/end", b"end")]
    pub.publish(base + "/r3/temp", b"last", qos=1)
    got_plus = [(p.topic, p.payload) for p in sub_plus.publishes_until(b"last", timeout=5)]
    assert got_plus == [(base + "/r1/temp", b"t1"), (base + "/r2/temp", b"t2"), (base + "/r3/temp", b"last")]


def test_topics_with_characters_nats_treats_specially_arrive_unchanged(two_gateways, uid):
    a, b, _ = two_gateways
    sub = b.connect(uid + "-s", 5)
    sub.subscribe("sp/" + uid + "/#", qos=1)
    pub = a.connect(uid + "-p", 5)
    topics = ["sp/%s/a.b" % uid, "sp/%s/*" % uid, "sp/%s/>" % uid, "sp/%s/with space" % uid,
              "sp/%s/50%%25" % uid, "sp/%s//empty" % uid, "sp/%s/ünï" % uid]
    for i, t in enumerate(topics):
        pub.publish(t, b"%d" % i, qos=1)
    got = sub.publishes_until(b"%d" % (len(topics) - 1), timeout=5)
    assert [p.topic for p in got] == topics
    assert [p.payload for p in got] == [b"%d" % i for i in range(len(topics))]


def test_order_of_one_publisher_is_kept_across_gateways(two_gateways, uid):
    a, b, _ = two_gateways
    topic = "ord/" + uid
    sub = b.connect(uid + "-s", 5)
    sub.subscribe(topic, qos=1)
    pub = a.connect(uid + "-p", 5)
    # QoS 0 and 1 mixed, sent without waiting (40 QoS 1 in flight: under Receive Maximum).
    for i in range(120):
        pub.publish(topic, b"%d" % i, qos=1 if i % 3 == 0 else 0, wait=False)
    got = sub.publishes_until(b"119", timeout=10)
    assert [p.payload for p in got] == [b"%d" % i for i in range(120)]


def test_retained_message_from_another_gateway_is_sent_to_a_later_subscriber(two_gateways, uid):
    a, b, _ = two_gateways
    topic = "ret/" + uid
    pub = a.connect(uid + "-p", 5)
    assert pub.publish(topic, b"kept", qos=1, retain=True).reason_code in (m.RC_SUCCESS, 0x10)
    # b had no subscriber when it was published; b keeps it all the same.
    deadline = time.monotonic() + 5
    while metrics(b).get("tidegate_cluster_fetched_total", 0) < 1:
        assert time.monotonic() < deadline, "b never read the retained message"
        time.sleep(0.02)  # polling a counter with a deadline, not a synchronisation by time
    sub = b.connect(uid + "-s", 5)
    sub.subscribe(topic, qos=1)
    p = sub.expect_packet(m.PUBLISH, timeout=5)
    assert (p.topic, p.payload, p.retain) == (topic, b"kept", True)


def test_events_for_topics_nobody_here_subscribes_are_not_read(two_gateways, uid):
    a, b, _ = two_gateways
    watcher = b.connect(uid + "-w", 5)
    watcher.subscribe("watched/" + uid, qos=1)
    pub = a.connect(uid + "-p", 5)
    for i in range(5):
        pub.publish("unwatched/%s/%d" % (uid, i), b"x", qos=1)
    pub.publish("watched/" + uid, b"seen", qos=1)
    assert watcher.expect_packet(m.PUBLISH, timeout=5).payload == b"seen"
    mb = metrics(b)
    assert mb["tidegate_cluster_events_received_total"] >= 6
    assert mb["tidegate_cluster_skipped_total"] >= 5
    assert mb["tidegate_cluster_fetched_total"] == 1


def test_publish_is_refused_not_acknowledged_while_jetstream_is_unreachable(two_gateways, uid):
    a, b, server = two_gateways
    pub5 = a.connect(uid + "-5", 5)
    pub3 = a.connect(uid + "-3", 4)
    assert pub5.publish("up/" + uid, b"ok", qos=1).reason_code in (m.RC_SUCCESS, 0x10)
    server.kill()
    started = time.monotonic()
    ack = pub5.publish("down/" + uid, b"lost", qos=1, timeout=10)
    assert ack.reason_code == 0x80, "a message JetStream did not store must not be acknowledged: %r" % ack
    assert time.monotonic() - started < 8  # within request_timeout_ms (2 s) and some slack
    # 3.1.1 has no negative PUBACK: the connection is closed without one.
    pub3.send_raw(m.build_publish("down/" + uid, b"lost", 1, False, False, 9, 4, None))
    pub3.expect_closed(timeout=10)
    assert metrics(a)["tidegate_cluster_append_errors_total"] >= 2


def test_gateway_recovers_when_jetstream_comes_back(two_gateways, uid):
    a, b, server = two_gateways
    server.kill()
    server.start()  # same port, same store directory
    sub = b.connect(uid + "-s", 5)
    sub.subscribe("back/" + uid, qos=1)
    pub = a.connect(uid + "-p", 5)
    deadline = time.monotonic() + 15
    while True:
        ack = pub.publish("back/" + uid, b"again", qos=1, timeout=10)
        if ack.reason_code == m.RC_SUCCESS:
            break
        assert time.monotonic() < deadline, "the gateway did not reconnect to NATS"
    # Whichever gateway reconnected first, b's subscriber gets it: by the notify,
    # or by the catch-up b runs after its reconnect.
    assert sub.expect_packet(m.PUBLISH, timeout=5).payload == b"again"
    deadline = time.monotonic() + 5
    while metrics(b)["tidegate_cluster_catch_ups_total"] < 1:
        assert time.monotonic() < deadline, "b did not read the stream after reconnecting"
        time.sleep(0.02)  # polling a counter with a deadline


def test_config_without_nats_servers_is_refused(tmp_path):
    from conftest import TIDEGATE_BIN
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"data_dir": str(tmp_path / "d"), "cluster": {"node": "a", "nats": []}}))
    r = subprocess.run([TIDEGATE_BIN, "--config", str(cfg)], capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    assert "cluster.nats" in r.stderr + r.stdout


def test_unreachable_nats_at_start_is_a_clear_error(tmp_path):
    from conftest import TIDEGATE_BIN
    cfg = tmp_path / "c.json"
    port = free_port()
    cfg.write_text(json.dumps({"data_dir": str(tmp_path / "d"),
                               "listeners": [{"bind": HOST, "port": free_port()}],
                               "cluster": {"node": "a", "nats": ["nats://%s:%d" % (HOST, port)],
                                           "request_timeout_ms": 500}}))
    r = subprocess.run([TIDEGATE_BIN, "--config", str(cfg)], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    out = r.stderr + r.stdout
    assert "nats://%s:%d" % (HOST, port) in out, out


def test_shared_subscription_gives_each_message_to_one_member_across_gateways(two_gateways, uid):
    a, b, _ = two_gateways
    group = "$share/g%s/sh/%s" % (os.getpid(), uid)
    member_a = a.connect(uid + "-ma", 5)
    member_a.subscribe(group, qos=1)
    member_b = b.connect(uid + "-mb", 5)
    member_b.subscribe(group, qos=1)
    pub = a.connect(uid + "-p", 5)
    sent = [b"%d" % i for i in range(40)]
    for payload in sent:
        pub.publish("sh/" + uid, payload, qos=1)
    got = collect_until_quiet([member_a, member_b], len(sent))
    everything = got[member_a] + got[member_b]
    assert sorted(everything) == sorted(sent), "each message exactly once to the group"
    assert got[member_a] and got[member_b], "JetStream spreads the group's messages over both gateways"
    # Nothing more comes (no second copy from the other gateway).
    assert collect_until_quiet([member_a, member_b], 1, timeout=0.5) == {member_a: [], member_b: []}


def test_shared_subscription_member_on_another_gateway_gets_everything(two_gateways, uid):
    a, b, _ = two_gateways
    group = "$share/only/one/%s/+" % uid
    member = b.connect(uid + "-m", 5)
    member.subscribe(group, qos=1)
    ordinary = a.connect(uid + "-o", 5)
    ordinary.subscribe("one/%s/+" % uid, qos=1)
    pub = a.connect(uid + "-p", 5)
    for i in range(10):
        pub.publish("one/%s/%d" % (uid, i), b"%d" % i, qos=1)
    got = member.publishes_until(b"9", timeout=5)
    assert sorted(p.payload for p in got) == sorted(b"%d" % i for i in range(10))
    # The ordinary subscriber beside the group still gets its own copy of each.
    assert [p.payload for p in ordinary.publishes_until(b"9", timeout=5)] == [b"%d" % i for i in range(10)]


def test_shared_group_left_on_one_gateway_continues_on_the_other(two_gateways, uid):
    a, b, _ = two_gateways
    group = "$share/left/lv/" + uid
    member_a = a.connect(uid + "-ma", 5)
    member_a.subscribe(group, qos=1)
    member_b = b.connect(uid + "-mb", 5)
    member_b.subscribe(group, qos=1)
    member_a.unsubscribe(group)
    pub = a.connect(uid + "-p", 5)
    for i in range(10):
        pub.publish("lv/" + uid, b"%d" % i, qos=1)
    got = member_b.publishes_until(b"9", timeout=5)
    assert sorted(p.payload for p in got) == sorted(b"%d" % i for i in range(10))


def test_messages_missed_while_a_gateway_was_cut_from_nats_are_caught_up(nats, gateway, uid):
    """b loses its NATS connection while a keeps publishing (and acknowledging):
    b never receives those notify messages, and reads them from the stream instead."""
    a, b, relay, sub, pub = gateway_behind_a_forwarder(nats, gateway, "gap/" + uid, uid)
    relay.cut()
    for i in range(5):
        assert pub.publish("gap/" + uid, b"during%d" % i, qos=1).reason_code == m.RC_SUCCESS
    relay.restore()
    got = sub.publishes_until(b"during4", timeout=15)
    assert [p.payload for p in got] == [b"during%d" % i for i in range(5)]
    assert metrics(b)["tidegate_cluster_caught_up_total"] >= 5
    relay.cut()


@pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
def test_client_id_connecting_on_another_gateway_closes_the_older_connection(two_gateways, uid, version):
    a, b, _ = two_gateways
    first = a.connect(uid, version)
    second = b.connect(uid, version)
    if version == 5:
        # [MQTT-3.1.4-3] across gateways: the older connection is told why.
        p = first.expect_packet(m.DISCONNECT, timeout=5)
        assert p.reason_code == 0x8E, p
    first.expect_closed(timeout=5)
    assert second.is_open()
    assert metrics(a)["tidegate_cluster_takeovers_total"] == 1
    assert metrics(b)["tidegate_cluster_takeovers_total"] == 0
    # The client now lives on b: messages for it arrive there.
    second.subscribe("to/" + uid, qos=1)
    pub = a.connect(uid + "-p", 5)
    pub.publish("to/" + uid, b"here", qos=1)
    assert second.expect_packet(m.PUBLISH, timeout=5).payload == b"here"


def test_session_parked_on_one_gateway_ends_when_its_client_connects_on_another(two_gateways, uid):
    a, b, _ = two_gateways
    c = a.connect(uid, 5, clean=False, props={"session_expiry_interval": 3600})
    c.subscribe("parked/" + uid, qos=1)
    c.disconnect()
    sessions = json.loads(urllib.request.urlopen("http://%s:%d/api/v1/sessions" % (HOST, a.admin_port),
                                                 timeout=5).read())
    assert any(s["client_id"] == uid for s in sessions["sessions"]), sessions
    b.connect(uid, 5)
    deadline = time.monotonic() + 5
    while metrics(a)["tidegate_cluster_takeovers_total"] < 1:
        assert time.monotonic() < deadline, "a kept the parked session"
        time.sleep(0.02)  # polling a counter with a deadline
    sessions = json.loads(urllib.request.urlopen("http://%s:%d/api/v1/sessions" % (HOST, a.admin_port),
                                                 timeout=5).read())
    assert not any(s["client_id"] == uid for s in sessions["sessions"]), sessions


def test_gateway_added_to_a_running_cluster_receives_its_messages(three_gateways, gateway, uid):
    a, b, c, server = three_gateways
    d = gateway("d", [server.url])
    sub = d.connect(uid + "-s", 5)
    sub.subscribe("new/" + uid + "/#", qos=1)
    wait_lookup_stable([a, b, c, d])
    pub = a.connect(uid + "-p", 5)
    pub.publish("new/%s/x" % uid, b"welcome", qos=1)
    assert sub.expect_packet(m.PUBLISH, timeout=5).payload == b"welcome"


def test_without_the_lookup_every_notify_is_broadcast(nats, gateway, uid):
    server = nats()
    a = gateway("a", [server.url], cluster={"lookup": False})
    b = gateway("b", [server.url], cluster={"lookup": False})
    sub = b.connect(uid + "-s", 5)
    sub.subscribe("bc/" + uid, qos=1)
    pub = a.connect(uid + "-p", 5)
    pub.publish("bc/" + uid, b"all", qos=1)
    assert sub.expect_packet(m.PUBLISH, timeout=5).payload == b"all"
    doc = cluster_api(a)
    assert doc["notify"]["mode"] == "broadcast" and "lookup" not in doc
    assert doc["notify"]["broadcast"] >= 1 and doc["notify"]["targeted"] == 0


def test_lookup_config_errors_name_the_key(tmp_path):
    from conftest import TIDEGATE_BIN
    for cluster, key in [({"lookup_bind": "not-an-ip"}, "cluster.lookup_bind"),
                         ({"lookup_bind": "0.0.0.0"}, "cluster.lookup_advertise"),
                         ({"lookup_port": 70000}, "cluster.lookup_port")]:
        cfg = tmp_path / "c.json"
        cfg.write_text(json.dumps({"data_dir": str(tmp_path / "d"),
                                   "cluster": dict({"node": "a", "nats": ["nats://127.0.0.1:1"]}, **cluster)}))
        r = subprocess.run([TIDEGATE_BIN, "--config", str(cfg)], capture_output=True, text=True, timeout=10)
        assert r.returncode != 0 and key in r.stderr + r.stdout, (cluster, r.stderr)
