"""MQTT 5 properties: topic aliases, message expiry, request/response, user properties,
problem information (MQTT 5 §3.1.2.11, §3.2.2.3, §3.3.2.3)."""

import time

import pytest

import mqttraw as m
from checks import expect_error_close, payloads


def test_connack_announces_supported_features(broker, uid):
    """Absent means supported; a tidegate broker supports all of these."""
    c = broker.connect(uid, 5)
    props = c.connack.props
    assert "maximum_qos" not in props, "QoS 2 is supported"
    for key in ("retain_available", "wildcard_subscription_available",
                "subscription_identifier_available", "shared_subscription_available"):
        assert props.get(key, 1) == 1, key


# ---------------------------------------------------------------- topic aliases

def test_topic_alias_client_to_server(broker, uid):
    base = "ta/" + uid
    sub = broker.connect(uid + "-s", 5)
    sub.subscribe(base + "/#", qos=1)
    pub = broker.connect(uid + "-p", 5)
    limit = pub.connack.props.get("topic_alias_maximum", 0)
    assert limit >= 1, "need a server Topic Alias Maximum to test aliases"
    pub.publish(base + "/one", b"set", qos=1, props={"topic_alias": 1})
    pub.publish("", b"use", qos=1, props={"topic_alias": 1})
    pub.publish(base + "/two", b"remap", qos=1, props={"topic_alias": 1})
    pub.publish("", b"use-remapped", qos=1, props={"topic_alias": 1})
    got = sub.publishes_until(b"use-remapped")
    assert [(p.topic, p.payload) for p in got] == [
        (base + "/one", b"set"), (base + "/one", b"use"),
        (base + "/two", b"remap"), (base + "/two", b"use-remapped")]
    assert all("topic_alias" not in p.props for p in got), "the subscriber allowed no aliases"


@pytest.mark.broker_config(topic_alias_maximum=4)
def test_topic_alias_maximum_announced_and_enforced(broker, uid):
    c = broker.connect(uid, 5)
    assert c.connack.props.get("topic_alias_maximum") == 4
    assert c.publish("tam/" + uid, b"ok", qos=1, props={"topic_alias": 4}).reason_code < 0x80
    c.send_raw(m.build_publish("tam/" + uid, b"x", qos=1, packet_id=9, version=5, props={"topic_alias": 5}))
    expect_error_close(c, [m.RC_TOPIC_ALIAS_INVALID])  # [MQTT-3.3.2-10]


@pytest.mark.xfail_mosquitto(reason="answers DISCONNECT 0x81 Malformed Packet, but the packet parses: "
                                    "it is a Topic Alias error (0x94) / Protocol Error (§4.13)")
def test_topic_alias_zero_is_invalid(broker, uid):
    """A Topic Alias of 0 is not permitted [MQTT-3.3.2-8]."""
    c = broker.connect(uid, 5)
    c.send_raw(m.build_publish("taz/" + uid, b"x", qos=0, version=5, props={"topic_alias": 0}))
    expect_error_close(c, [m.RC_TOPIC_ALIAS_INVALID, m.RC_PROTOCOL_ERROR])


def test_unknown_topic_alias_with_empty_topic(broker, uid):
    c = broker.connect(uid, 5)
    c.send_raw(m.build_publish("", b"x", qos=1, packet_id=3, version=5, props={"topic_alias": 2}))
    expect_error_close(c, [m.RC_PROTOCOL_ERROR, m.RC_TOPIC_ALIAS_INVALID])


def test_empty_topic_without_alias_is_protocol_error(broker, uid):
    c = broker.connect(uid, 5)
    c.send_raw(m.build_publish("", b"x", qos=1, packet_id=3, version=5))
    expect_error_close(c, [m.RC_PROTOCOL_ERROR, m.RC_TOPIC_NAME_INVALID, m.RC_MALFORMED])


def test_aliases_not_carried_to_next_connection(broker, uid):
    """Topic alias mappings live for one network connection [MQTT-3.3.2-7]."""
    c = broker.connect(uid, 5)
    c.publish("tac/" + uid, b"x", qos=1, props={"topic_alias": 1})
    c.disconnect()
    c = broker.connect(uid, 5)
    c.send_raw(m.build_publish("", b"x", qos=1, packet_id=3, version=5, props={"topic_alias": 1}))
    expect_error_close(c, [m.RC_PROTOCOL_ERROR, m.RC_TOPIC_ALIAS_INVALID])


def test_no_server_aliases_unless_client_allows(broker, uid):
    """Topic Alias Maximum absent/0 in CONNECT: the server sends no Topic Alias [MQTT-3.1.2-26/27]."""
    base = "tan/" + uid
    sub = broker.connect(uid + "-s", 5, props={"topic_alias_maximum": 0})
    sub.subscribe(base + "/#", qos=1)
    pub = broker.connect(uid + "-p", 5)
    for i in range(6):
        pub.publish("%s/%d" % (base, i % 2), b"%d" % i, qos=1)
    got = sub.publishes_until(b"5")
    assert len(got) == 6
    assert all("topic_alias" not in p.props and p.wire_topic for p in got), got


def test_server_aliases_within_client_limit(broker, uid):
    """When the client allows aliases, any the server uses stay within the limit and resolve
    to the right topic [MQTT-3.3.2-9]."""
    base = "tas/" + uid
    sub = broker.connect(uid + "-s", 5, props={"topic_alias_maximum": 2})
    sub.subscribe(base + "/#", qos=1)
    pub = broker.connect(uid + "-p", 5)
    sent = [("%s/%d" % (base, i % 3), b"%d" % i) for i in range(12)]
    for topic, payload in sent:
        pub.publish(topic, payload, qos=1)
    got = sub.publishes_until(b"11")  # Client resolves aliases and fails on an unknown one
    assert [(p.topic, p.payload) for p in got] == sent
    for p in got:
        alias = p.props.get("topic_alias")
        assert alias is None or 1 <= alias <= 2, p


# ---------------------------------------------------------------- message expiry

def test_message_expiry_forwarded_and_expired_not_delivered(broker, uid):
    """Remaining lifetime is forwarded [MQTT-3.3.2-6]; an expired message is not delivered
    to a session that was offline [MQTT-3.3.2-5]."""
    topic = "exp/" + uid
    session = {"clean": False, "props": {"session_expiry_interval": 300}}
    sub = broker.connect(uid + "-s", 5, **session)
    sub.subscribe(topic, qos=1)
    pub = broker.connect(uid + "-p", 5)
    pub.publish(topic, b"online", qos=1, props={"message_expiry_interval": 60})
    p = sub.expect_packet(m.PUBLISH)
    assert p.payload == b"online" and 58 <= p.props.get("message_expiry_interval", -1) <= 60, p
    sub.disconnect()
    pub.publish(topic, b"short", qos=1, props={"message_expiry_interval": 1})
    pub.publish(topic, b"long", qos=1, props={"message_expiry_interval": 60})
    pub.publish(topic, b"forever", qos=1)
    time.sleep(2.2)  # the subject of the test: outlive the 1 s expiry
    sub = broker.connect(uid + "-s", 5, **session)
    got = sub.publishes_until(b"forever")
    assert payloads(got) == [b"long", b"forever"]
    remaining = got[0].props.get("message_expiry_interval")
    assert remaining is not None and 1 <= remaining <= 59, "waited >2 s: %r" % remaining
    assert "message_expiry_interval" not in got[1].props


def test_retained_message_expires(broker, uid):
    topic = "expr/" + uid
    pub = broker.connect(uid + "-p", 5)
    pub.publish(topic, b"brief", qos=1, retain=True, props={"message_expiry_interval": 1})
    time.sleep(2.2)  # the subject of the test: outlive the 1 s expiry
    sub = broker.connect(uid + "-s", 5)
    sub.subscribe(topic, qos=1)
    pub.publish(topic, b"sentinel", qos=1)
    assert payloads(sub.publishes_until(b"sentinel")) == [b"sentinel"]


# ---------------------------------------------------------------- pass-through properties

def test_publish_properties_passed_through(broker, uid):
    topic = "props/" + uid
    sub = broker.connect(uid + "-s", 5)
    sub.subscribe(topic, qos=1)
    pub = broker.connect(uid + "-p", 5)
    props = {
        "payload_format_indicator": 1,
        "content_type": "application/json; charset=utf-8",
        "response_topic": "reply/" + uid + "/\u00e9",
        "correlation_data": bytes(range(256)),
        "user_property": [("z", "1"), ("a", "2"), ("z", "0"), ("", ""), ("k\u00fc", "v\u6e29")],
    }
    pub.publish(topic, b'{"t":21.5}', qos=1, props=props)
    p = sub.expect_packet(m.PUBLISH)
    assert p.payload == b'{"t":21.5}'
    for key in ("payload_format_indicator", "content_type", "response_topic", "correlation_data"):
        assert p.props.get(key) == props[key], key
    assert p.props.get("user_property") == props["user_property"], "order and duplicates kept [MQTT-3.3.2-18]"


def test_payload_format_indicator_zero_and_binary_payload(broker, uid):
    topic = "pfi/" + uid
    sub = broker.connect(uid + "-s", 5)
    sub.subscribe(topic, qos=1)
    pub = broker.connect(uid + "-p", 5)
    pub.publish(topic, b"\xff\xfe\x00binary", qos=1, props={"payload_format_indicator": 0})
    p = sub.expect_packet(m.PUBLISH)
    assert p.payload == b"\xff\xfe\x00binary"
    assert p.props.get("payload_format_indicator", 0) == 0


def test_request_response_pattern(broker, uid):
    """A responder uses the Response Topic and Correlation Data it received."""
    req_topic = "svc/" + uid + "/req"
    responder = broker.connect(uid + "-svc", 5)
    responder.subscribe(req_topic, qos=1)
    requester = broker.connect(uid + "-cli", 5)
    reply_topic = "svc/" + uid + "/reply"
    requester.subscribe(reply_topic, qos=1)
    requester.publish(req_topic, b"ping?", qos=1,
                      props={"response_topic": reply_topic, "correlation_data": b"id-42"})
    req = responder.expect_packet(m.PUBLISH)
    responder.publish(req.props["response_topic"], b"pong", qos=1,
                      props={"correlation_data": req.props["correlation_data"]})
    rep = requester.expect_packet(m.PUBLISH)
    assert (rep.topic, rep.payload, rep.props.get("correlation_data")) == (reply_topic, b"pong", b"id-42")


@pytest.mark.parametrize("requested", [None, 0, 1])
def test_request_response_information(broker, uid, requested):
    """Response Information only when requested [MQTT-3.1.2-28]."""
    props = {} if requested is None else {"request_response_information": requested}
    c = broker.connect(uid, 5, props=props)
    info = c.connack.props.get("response_information")
    if requested == 1:
        assert info is None or isinstance(info, str)
    else:
        assert info is None, c.connack


# ---------------------------------------------------------------- problem information

@pytest.mark.broker_config(acl_deny=[{"filter": "rpi-secret/#", "access": "readwrite"}])
def test_no_reason_string_when_problem_information_not_requested(broker, uid):
    """Request Problem Information 0: no Reason String or User Property on any packet
    but PUBLISH, CONNACK, DISCONNECT [MQTT-3.1.2-29]."""
    c = broker.connect(uid, 5, props={"request_problem_information": 0})
    acks = [
        c.subscribe("rpi-secret/" + uid, qos=1),
        c.subscribe("rpi-open/" + uid, qos=1),
        c.unsubscribe("rpi-none/" + uid),
        c.publish("rpi-secret/" + uid, b"x", qos=1),
        c.publish("rpi-open/" + uid, b"x", qos=1),
        c.publish("rpi-secret/" + uid, b"x", qos=2),
    ]
    failures = [a for a in acks if getattr(a, "reason_code", 0) >= 0x80 or
                any(rc >= 0x80 for rc in getattr(a, "reason_codes", []))]
    assert failures, "the ACL should have produced failure acknowledgements: %r" % acks
    for a in acks:
        assert "reason_string" not in a.props and "user_property" not in a.props, a
        pubrec = getattr(a, "pubrec", None)
        if pubrec is not None:
            assert "reason_string" not in pubrec.props and "user_property" not in pubrec.props, pubrec
