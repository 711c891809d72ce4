"""UNSUBSCRIBE / UNSUBACK (MQTT 3.1.1 §3.10-3.11; MQTT 5 §3.10-3.11)."""

import mqttraw as m
from checks import payloads


def test_unsubscribe_stops_delivery(broker, version, uid):
    base = "uns/" + uid
    sub = broker.connect(uid + "-s", version)
    sub.subscribe([(base + "/drop", 1), (base + "/keep", 1)])
    ack = sub.unsubscribe(base + "/drop", packet_id=321)
    assert ack.packet_id == 321  # [MQTT-3.10.4-4]
    if version == 5:
        assert ack.reason_codes == [m.RC_SUCCESS]
    else:
        assert ack.raw == bytes([321 >> 8, 321 & 0xFF]), "3.1.1 UNSUBACK has only the packet id"
    pub = broker.connect(uid + "-p", version)
    pub.publish(base + "/drop", b"unwanted", qos=1)
    pub.publish(base + "/keep", b"sentinel", qos=1)
    assert payloads(sub.publishes_until(b"sentinel")) == [b"sentinel"]


def test_unsuback_reason_codes_v5(broker, uid):
    """0x00 for a removed subscription, 0x11 where none existed, one per filter in order (§3.11.3)."""
    base = "unsc/" + uid
    sub = broker.connect(uid, 5)
    sub.subscribe([(base + "/a", 0), (base + "/+", 1)])
    ack = sub.unsubscribe([base + "/a", base + "/nothing", base + "/+", base + "/a"])
    assert ack.reason_codes == [m.RC_SUCCESS, m.RC_NO_SUBSCRIPTION_EXISTED,
                                m.RC_SUCCESS, m.RC_NO_SUBSCRIPTION_EXISTED]


def test_unsuback_when_nothing_subscribed_311(broker, uid):
    """3.1.1: UNSUBACK even if no topic filter matched [MQTT-3.10.4-5]."""
    sub = broker.connect(uid, 4)
    ack = sub.unsubscribe(["unsn/" + uid, "unsn/" + uid + "/#"], packet_id=7)
    assert ack.packet_id == 7
    assert sub.is_open()


def test_unsubscribe_compares_filters_literally(broker, version, uid):
    """UNSUBSCRIBE removes a subscription with the identical filter only, no wildcard matching
    [MQTT-3.10.4-1]."""
    base = "unsl/" + uid
    sub = broker.connect(uid + "-s", version)
    sub.subscribe(base + "/+", qos=1)
    ack = sub.unsubscribe(base + "/x")
    if version == 5:
        assert ack.reason_codes == [m.RC_NO_SUBSCRIPTION_EXISTED]
    pub = broker.connect(uid + "-p", version)
    pub.publish(base + "/x", b"still-subscribed", qos=1)
    assert sub.expect_packet(m.PUBLISH).payload == b"still-subscribed"


def test_unsubscribe_shared_subscription(broker, uid):
    topic = "unssh/" + uid
    sub = broker.connect(uid + "-s", 5)
    sub.subscribe([("$share/g/" + topic, 1), (topic + "/keep", 1)])
    assert sub.unsubscribe("$share/g/" + topic).reason_codes == [m.RC_SUCCESS]
    pub = broker.connect(uid + "-p", 5)
    pub.publish(topic, b"unwanted", qos=1)
    pub.publish(topic + "/keep", b"sentinel", qos=1)
    assert payloads(sub.publishes_until(b"sentinel")) == [b"sentinel"]


def test_unsubscribe_persists_in_session(broker, version, uid):
    base = "unsp/" + uid
    props = {"session_expiry_interval": 300} if version == 5 else None
    sub = broker.connect(uid + "-s", version, clean=False, props=props)
    sub.subscribe([(base + "/drop", 1), (base + "/keep", 1)])
    sub.unsubscribe(base + "/drop")
    sub.disconnect()
    pub = broker.connect(uid + "-p", version)
    pub.publish(base + "/drop", b"unwanted", qos=1)
    pub.publish(base + "/keep", b"sentinel", qos=1)
    sub = broker.connect(uid + "-s", version, clean=False, props=props)
    assert sub.connack.session_present
    assert payloads(sub.publishes_until(b"sentinel")) == [b"sentinel"]
