"""PUBLISH / SUBSCRIBE flows, QoS, topic matching (MQTT 3.1.1 §3.3, §4.3, §4.7; MQTT 5 §3.3, §4.3, §4.7, §3.8.3.1)."""

import pytest

import mqttraw as m
from checks import payloads


def test_qos0_flow(broker, version, uid):
    topic = "q0/" + uid
    sub = broker.connect(uid + "-s", version)
    assert sub.subscribe(topic, qos=0).reason_codes == [0]
    pub = broker.connect(uid + "-p", version)
    assert pub.publish(topic, b"zero", qos=0) is None
    p = sub.expect_packet(m.PUBLISH)
    assert (p.topic, p.payload, p.qos, p.dup, p.packet_id) == (topic, b"zero", 0, False, None)


def test_qos1_flow_packet_ids(broker, version, uid):
    topic = "q1/" + uid
    sub = broker.connect(uid + "-s", version, auto_ack=False)
    assert sub.subscribe(topic, qos=1).reason_codes == [1]
    pub = broker.connect(uid + "-p", version)
    ack = pub.publish(topic, b"one", qos=1, packet_id=4242)
    assert ack.type == m.PUBACK and ack.packet_id == 4242  # [MQTT-2.2.1-5]
    if version == 5:
        assert ack.reason_code == m.RC_SUCCESS, ack
    p = sub.expect_packet(m.PUBLISH)
    assert (p.topic, p.payload, p.qos, p.dup) == (topic, b"one", 1, False)
    assert p.packet_id, "a QoS 1 PUBLISH needs a non-zero packet id [MQTT-2.2.1-4]"
    sub.send_raw(m.build_ack(m.PUBACK, p.packet_id, version))
    assert sub.is_open()


def test_qos2_flow_packet_ids(broker, version, uid):
    topic = "q2/" + uid
    sub = broker.connect(uid + "-s", version, auto_ack=False)
    assert sub.subscribe(topic, qos=2).reason_codes == [2]
    pub = broker.connect(uid + "-p", version)
    pub.send_raw(m.build_publish(topic, b"two", qos=2, packet_id=77, version=version))
    rec = pub.expect_packet(m.PUBREC)
    assert rec.packet_id == 77 and rec.reason_code == 0
    pub.send_raw(m.build_ack(m.PUBREL, 77, version))
    comp = pub.expect_packet(m.PUBCOMP)
    assert comp.packet_id == 77 and comp.reason_code == 0

    p = sub.expect_packet(m.PUBLISH)
    assert (p.topic, p.payload, p.qos) == (topic, b"two", 2)
    assert p.packet_id
    sub.send_raw(m.build_ack(m.PUBREC, p.packet_id, version))
    rel = sub.expect_packet(m.PUBREL)
    assert rel.packet_id == p.packet_id
    assert rel.flags == 0x2, "PUBREL fixed header flags must be 0010 [MQTT-3.6.1-1]"
    sub.send_raw(m.build_ack(m.PUBCOMP, p.packet_id, version))
    assert sub.is_open()


def test_qos2_duplicate_publish_delivered_once(broker, version, uid):
    """A QoS 2 PUBLISH re-sent (DUP=1, same id) before PUBREL is delivered exactly once [MQTT-4.3.3-10]."""
    topic = "q2dup/" + uid
    sub = broker.connect(uid + "-s", version)
    sub.subscribe(topic, qos=2)
    pub = broker.connect(uid + "-p", version)
    pub.send_raw(m.build_publish(topic, b"once", qos=2, packet_id=9, version=version))
    assert pub.expect_packet(m.PUBREC).packet_id == 9
    pub.send_raw(m.build_publish(topic, b"once", qos=2, packet_id=9, dup=True, version=version))
    assert pub.expect_packet(m.PUBREC).packet_id == 9
    pub.send_raw(m.build_ack(m.PUBREL, 9, version))
    assert pub.expect_packet(m.PUBCOMP).packet_id == 9
    pub.publish(topic, b"sentinel", qos=2)
    got = sub.publishes_until(b"sentinel")
    assert payloads(got) == [b"once", b"sentinel"]


def test_delivered_qos_is_min_of_publish_and_subscription(broker, version, uid):
    topic = "minqos/" + uid
    subs = []
    for q in (0, 1, 2):
        s = broker.connect("%s-s%d" % (uid, q), version)
        assert s.subscribe(topic, qos=q).reason_codes == [q]
        subs.append(s)
    pub = broker.connect(uid + "-p", version)
    for q in (0, 1, 2):
        pub.publish(topic, b"pub%d" % q, qos=q)
    pub.publish(topic, b"sentinel", qos=0)
    for sq, s in enumerate(subs):
        got = s.publishes_until(b"sentinel")
        assert [(p.payload, p.qos) for p in got] == [
            (b"pub%d" % pq, min(pq, sq)) for pq in (0, 1, 2)] + [(b"sentinel", 0)]


WILDCARD_CASES = [
    # filter, topics that match, topics that do not
    ("{u}/+/c", ["{u}/b/c", "{u}//c"], ["{u}/b/d", "{u}/b/c/d", "{u}/c"]),
    ("{u}/#", ["{u}", "{u}/x", "{u}/x/y/z", "{u}/"], ["{u}x", "other/{u}"]),
    ("{u}/+", ["{u}/x", "{u}/"], ["{u}", "{u}/x/y"]),
    ("{u}/+/+/#", ["{u}/a/b", "{u}/a/b/c/d"], ["{u}/a"]),
    ("+/{u}/#", ["x/{u}", "x/{u}/y"], ["{u}/x", "x/y/{u}"]),
    ("{u}/a/b", ["{u}/a/b"], ["{u}/a/B", "{u}/a/b/", "{u}/a"]),
]


@pytest.mark.parametrize("case", range(len(WILDCARD_CASES)))
def test_wildcard_matching(broker, version, uid, case):
    flt, yes, no = WILDCARD_CASES[case]
    u = "w" + uid.replace("/", "_")
    flt = flt.format(u=u)
    yes = [t.format(u=u) for t in yes]
    no = [t.format(u=u) for t in no]
    sub = broker.connect(uid + "-s", version)
    sub.subscribe(flt, qos=1)
    pub = broker.connect(uid + "-p", version)
    for t in no + yes:
        pub.publish(t, t.encode(), qos=1)
    pub.publish(yes[0], b"sentinel", qos=1)
    got = sub.publishes_until(b"sentinel")
    assert [(p.topic, p.payload) for p in got[:-1]] == [(t, t.encode()) for t in yes], \
        "filter %r" % flt


def test_dollar_topics_not_matched_by_leading_wildcards(broker, version, uid):
    """Filters starting with # or + do not match topics starting with $ [MQTT-4.7.2-1]."""
    dollar = "$" + uid + "/x"
    hash_sub = broker.connect(uid + "-h", version)
    hash_sub.subscribe("#", qos=1)
    plus_sub = broker.connect(uid + "-p", version)
    plus_sub.subscribe("+/x", qos=1)
    exact = broker.connect(uid + "-e", version)
    exact.subscribe("$" + uid + "/+", qos=1)
    pub = broker.connect(uid + "-pub", version)
    pub.publish(dollar, b"dollar", qos=1)
    pub.publish("s/x", b"sentinel", qos=1)
    # The $ topic is deliverable: a filter that names the $ level gets it.
    assert exact.expect_packet(m.PUBLISH).payload == b"dollar"
    assert payloads(hash_sub.publishes_until(b"sentinel")) == [b"sentinel"]
    assert payloads(plus_sub.publishes_until(b"sentinel")) == [b"sentinel"]


def _check_overlap_delivery(got, version):
    """Spec rule for overlapping subscriptions [MQTT-3.3.4-2..5]: one copy at the highest
    QoS; further copies are allowed; sub ids: all of them on a single copy, else each its own."""
    msgs = [p for p in got if p.payload == b"both"]
    assert msgs, got
    assert max(p.qos for p in msgs) == 2, "must respect the maximum QoS of the matching subscriptions"
    if version == 5:
        if len(msgs) == 1:
            assert sorted(msgs[0].props.get("subscription_identifier", [])) == [11, 22], msgs
        else:
            ids = sorted(i for p in msgs for i in p.props.get("subscription_identifier", []))
            assert ids == [11, 22] and all(len(p.props["subscription_identifier"]) == 1 for p in msgs)
    return msgs


def _overlap_setup(broker, version, uid):
    base = "ov/" + uid
    sub = broker.connect(uid + "-s", version)
    if version == 5:
        sub.subscribe([(base + "/#", m.subscription_options(qos=0))], props={"subscription_identifier": 11})
        sub.subscribe([(base + "/+", m.subscription_options(qos=2))], props={"subscription_identifier": 22})
    else:
        sub.subscribe(base + "/#", qos=0)
        sub.subscribe(base + "/+", qos=2)
    pub = broker.connect(uid + "-p", version)
    pub.publish(base + "/x", b"both", qos=2)
    pub.publish(base + "/x", b"sentinel", qos=2)
    return sub.publishes_until(b"sentinel")


def test_overlapping_subscriptions_highest_qos(broker, version, uid):
    got = _overlap_setup(broker, version, uid)
    _check_overlap_delivery(got, version)


@pytest.mark.tidegate_only(reason="docs/design.md: one copy per message; the spec allows extra copies")
def test_overlapping_subscriptions_delivered_once(broker, version, uid):
    got = _overlap_setup(broker, version, uid)
    msgs = _check_overlap_delivery(got, version)
    assert len(msgs) == 1, got
    assert len([p for p in got if p.payload == b"sentinel"]) == 1, got


def test_resubscribe_replaces_subscription(broker, version, uid):
    """An identical filter replaces the existing subscription: one copy, new QoS [MQTT-3.8.4-3]."""
    topic = "resub/" + uid
    sub = broker.connect(uid + "-s", version)
    sub.subscribe(topic, qos=2)
    sub.subscribe(topic, qos=1)
    pub = broker.connect(uid + "-p", version)
    pub.publish(topic, b"m", qos=2)
    pub.publish(topic, b"sentinel", qos=2)
    got = sub.publishes_until(b"sentinel")
    assert [(p.payload, p.qos) for p in got] == [(b"m", 1), (b"sentinel", 1)]


def test_order_preserved_per_topic(broker, version, uid):
    """Messages on one topic at one QoS arrive in publish order [MQTT-4.6.0-6]."""
    topic = "order/" + uid
    sub = broker.connect(uid + "-s", version)
    sub.subscribe(topic, qos=1)
    pub = broker.connect(uid + "-p", version)
    for i in range(30):
        pub.publish(topic, b"%d" % i, qos=1, wait=False)
    for i in range(30):
        assert pub.expect_packet(m.PUBACK).packet_id == i + 1
    pub.publish(topic, b"sentinel", qos=1)
    got = sub.publishes_until(b"sentinel")
    assert payloads(got) == [b"%d" % i for i in range(30)] + [b"sentinel"]


def test_inflight_packet_ids_distinct(broker, version, uid):
    """Unacknowledged outbound QoS 1/2 messages each hold their own non-zero packet id."""
    topic = "ids/" + uid
    sub = broker.connect(uid + "-s", version, auto_ack=False)
    sub.subscribe(topic, qos=2)
    pub = broker.connect(uid + "-p", version)
    for i in range(5):
        pub.publish(topic, b"%d" % i, qos=1 + i % 2)
    got = [sub.expect_packet(m.PUBLISH) for _ in range(5)]
    ids = [p.packet_id for p in got]
    assert all(ids) and len(set(ids)) == 5, ids


def test_large_payload_round_trip(broker, version, uid):
    topic = "big/" + uid
    payload = bytes(range(256)) * 1024  # 256 KiB: four-byte remaining length on the wire
    sub = broker.connect(uid + "-s", version)
    sub.subscribe(topic, qos=1)
    pub = broker.connect(uid + "-p", version)
    pub.publish(topic, payload, qos=1)
    p = sub.expect_packet(m.PUBLISH, timeout=5)
    assert p.payload == payload


def test_empty_payload_delivered(broker, version, uid):
    topic = "empty/" + uid
    sub = broker.connect(uid + "-s", version)
    sub.subscribe(topic, qos=1)
    pub = broker.connect(uid + "-p", version)
    pub.publish(topic, b"", qos=1)
    p = sub.expect_packet(m.PUBLISH)
    assert (p.topic, p.payload) == (topic, b"")


def test_unicode_topic_round_trip(broker, version, uid):
    topic = "uni/" + uid + "/\u00e9t\u00e9/\u6e29\u5ea6/\U0001F321"
    sub = broker.connect(uid + "-s", version)
    sub.subscribe("uni/" + uid + "/+/#", qos=0)
    pub = broker.connect(uid + "-p", version)
    pub.publish(topic, b"t", qos=1)
    assert sub.expect_packet(m.PUBLISH).topic == topic


# ---------------------------------------------------------------- MQTT 5 subscription options

def test_no_local(broker, uid):
    """No Local: the server must not send a client its own publications [MQTT-3.8.3-3]."""
    topic = "nl/" + uid
    me = broker.connect(uid + "-me", 5)
    me.subscribe([(topic, m.subscription_options(qos=1, no_local=True))])
    other = broker.connect(uid + "-other", 5)
    me.publish(topic, b"own", qos=1)
    other.publish(topic, b"sentinel", qos=1)
    assert payloads(me.publishes_until(b"sentinel")) == [b"sentinel"]


def test_without_no_local_own_messages_arrive(broker, version, uid):
    topic = "loc/" + uid
    me = broker.connect(uid + "-me", version)
    me.subscribe(topic, qos=1)
    me.publish(topic, b"own", qos=1)
    assert me.expect_packet(m.PUBLISH).payload == b"own"


@pytest.mark.parametrize("rap", [False, True])
def test_retain_as_published(broker, uid, rap):
    """Retain As Published: live deliveries keep the RETAIN flag only when set [MQTT-3.3.1-12/13]."""
    topic = "rap/" + uid
    sub = broker.connect(uid + "-s", 5)
    sub.subscribe([(topic, m.subscription_options(qos=1, retain_as_published=rap))])
    pub = broker.connect(uid + "-p", 5)
    pub.publish(topic, b"kept", qos=1, retain=True)
    pub.publish(topic, b"plain", qos=1, retain=False)
    got = sub.publishes_until(b"plain")
    assert [(p.payload, p.retain) for p in got] == [(b"kept", rap), (b"plain", False)]


def test_subscription_identifier_on_delivery(broker, uid):
    topic = "sid/" + uid
    sub = broker.connect(uid + "-s", 5)
    sub.subscribe([(topic, 1)], props={"subscription_identifier": 268435455})
    sub.subscribe([("sid2/" + uid, 1)])
    pub = broker.connect(uid + "-p", 5)
    pub.publish(topic, b"a", qos=1)
    pub.publish("sid2/" + uid, b"b", qos=1)
    a = sub.expect_packet(m.PUBLISH)
    b = sub.expect_packet(m.PUBLISH)
    by_payload = {a.payload: a, b.payload: b}
    assert by_payload[b"a"].props.get("subscription_identifier") == [268435455]
    assert "subscription_identifier" not in by_payload[b"b"].props


def test_v5_publisher_to_v311_subscriber_and_back(broker, uid):
    """Protocol levels interoperate; 3.1.1 receivers get no properties."""
    topic = "mix/" + uid
    old = broker.connect(uid + "-old", 4)
    new = broker.connect(uid + "-new", 5)
    old.subscribe(topic, qos=1)
    new.subscribe(topic, qos=1)
    new.publish(topic, b"from5", qos=1, props={"user_property": [("k", "v")], "content_type": "t/p"})
    old.publish(topic, b"from4", qos=1)
    assert payloads(old.publishes_until(b"from4")) == [b"from5", b"from4"]
    got = new.publishes_until(b"from4")
    assert payloads(got) == [b"from5", b"from4"]
    assert got[0].props.get("user_property") == [("k", "v")]


@pytest.mark.broker_config(workers=2)
def test_fan_out_across_workers(broker, version, uid):
    """Subscribers spread over the worker threads each get every message, in order."""
    topic = "fan/" + uid
    subs = []
    for i in range(12):
        s = broker.connect("%s-s%d" % (uid, i), version)
        s.subscribe(topic if i % 2 else "fan/+", qos=1 + i % 2)
        subs.append(s)
    pub = broker.connect(uid + "-p", version)
    sent = [b"f%d" % i for i in range(10)]
    for payload in sent:
        pub.publish(topic, payload, qos=1)
    for s in subs:
        assert payloads(s.publishes_until(sent[-1])) == sent


@pytest.mark.broker_config(workers=2)
def test_repeated_takeover_across_workers(broker, version, uid):
    """Each new connection with the same client id replaces the previous one, whichever worker
    owns it; the last one keeps working."""
    topic = "tkrep/" + uid
    conns = []
    for _ in range(5):
        c = broker.connect(uid, version)
        if conns:
            conns[-1].expect_closed()
        conns.append(c)
    last = conns[-1]
    last.subscribe(topic, qos=1)
    last.publish(topic, b"still-here", qos=1)
    assert last.expect_packet(m.PUBLISH).payload == b"still-here"
