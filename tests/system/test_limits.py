"""Flow control and size limits (MQTT 5 §3.1.2.11.3-4, §3.2.2.3.3, §3.2.2.3.6, §4.9) and the
acl_deny config (the config contract in README.md, "Running")."""

import pytest

import mqttraw as m
from checks import both_versions, expect_error_close, payloads

MOSQ_PACKET_SIZE = ("leaves the Remaining Length bytes out of the packet size, so it accepts packets "
                    "up to 2 bytes over the limit, and closes without DISCONNECT 0x95")
MOSQ_INFLIGHT = ("after one acknowledgement it sends more than one queued message, exceeding the "
                 "window (max_inflight_messages)")


def _no_publish_pending(client):
    """PING round trip: no PUBLISH may be queued in front of the PINGRESP."""
    client.ping()
    pending = [p for p in client.backlog if p.type == m.PUBLISH]
    client.backlog = [p for p in client.backlog if p.type != m.PUBLISH]
    return pending


# ---------------------------------------------------------------- receive maximum

@pytest.mark.xfail_mosquitto(reason="answers the excess PUBLISH with PUBREC 0x97 (quota exceeded) "
                                    "instead of DISCONNECT 0x93")
@pytest.mark.broker_config(receive_maximum=2)
def test_server_receive_maximum_announced_and_enforced(broker, uid):
    """More unacknowledged inbound QoS 2 publications than the server's Receive Maximum:
    DISCONNECT 0x93 [MQTT-3.3.4-9]."""
    c = broker.connect(uid, 5)
    assert c.connack.props.get("receive_maximum") == 2
    for pid in (1, 2):
        c.send_raw(m.build_publish("rm/" + uid, b"x", qos=2, packet_id=pid, version=5))
        assert c.expect_packet(m.PUBREC).packet_id == pid
    c.send_raw(m.build_publish("rm/" + uid, b"x", qos=2, packet_id=3, version=5))
    expect_error_close(c, [m.RC_RECEIVE_MAXIMUM_EXCEEDED])


@pytest.mark.broker_config(receive_maximum=2)
def test_server_receive_maximum_counts_completed_flows_out(broker, uid):
    """Completed QoS 2 flows free their slot: many sequential publishes are fine."""
    c = broker.connect(uid, 5)
    for i in range(6):
        assert c.publish("rmok/" + uid, b"%d" % i, qos=2).reason_code == 0
    assert c.is_open()


def _window_test(broker, sub, version, uid, window):
    topic = "win/" + uid
    sub.subscribe(topic, qos=1)
    pub = broker.connect(uid + "-p", version)
    for i in range(window + 3):
        pub.publish(topic, b"w%d" % i, qos=1)  # PUBACKed: the broker holds them all
    got = [sub.expect_packet(m.PUBLISH) for _ in range(window)]
    assert payloads(got) == [b"w%d" % i for i in range(window)]
    assert _no_publish_pending(sub) == [], "more than %d unacknowledged in flight" % window
    sub.send_raw(m.build_ack(m.PUBACK, got[0].packet_id, version))
    nxt = sub.expect_packet(m.PUBLISH)
    assert nxt.payload == b"w%d" % window
    assert _no_publish_pending(sub) == [], "one acknowledgement must free exactly one slot"
    for p in got[1:] + [nxt]:
        sub.send_raw(m.build_ack(m.PUBACK, p.packet_id, version))
    rest = [sub.expect_packet(m.PUBLISH) for _ in range(2)]
    assert payloads(rest) == [b"w%d" % (window + 1), b"w%d" % (window + 2)]


@pytest.mark.xfail_mosquitto(reason=MOSQ_INFLIGHT)
def test_client_receive_maximum_respected(broker, uid):
    """The server sends at most the client's Receive Maximum unacknowledged QoS 1/2 [MQTT-3.3.4-7]."""
    sub = broker.client(5, auto_ack=False)
    sub.connect(uid + "-s", props={"receive_maximum": 2})
    _window_test(broker, sub, 5, uid, 2)


@pytest.mark.xfail_mosquitto(reason=MOSQ_INFLIGHT)
@pytest.mark.broker_config(max_inflight=3)
def test_max_inflight_for_311_clients(broker, uid):
    """3.1.1 has no Receive Maximum: the configured max_inflight is the outbound window."""
    sub = broker.client(4, auto_ack=False)
    sub.connect(uid + "-s")
    _window_test(broker, sub, 4, uid, 3)


# ---------------------------------------------------------------- maximum packet size

def _payload_for_size(topic, total, version):
    """Payload length that makes a QoS 1 PUBLISH exactly `total` bytes on the wire."""
    n = total - len(m.build_publish(topic, b"", qos=1, packet_id=1, version=version))
    while len(m.build_publish(topic, b"a" * n, qos=1, packet_id=1, version=version)) > total:
        n -= 1  # the remaining length grew a byte
    assert len(m.build_publish(topic, b"a" * n, qos=1, packet_id=1, version=version)) == total
    return n


@pytest.mark.broker_config(max_packet_size=1024)
@both_versions(xfail_mosquitto_v311=MOSQ_PACKET_SIZE, xfail_mosquitto_v5=MOSQ_PACKET_SIZE)
def test_server_maximum_packet_size(broker, version, uid):
    """Announced in CONNACK (5.0); a larger packet is refused: 5.0 DISCONNECT 0x95 [MQTT-3.2.2-15],
    3.1.1 close."""
    topic = "mps/" + uid
    c = broker.connect(uid, version)
    if version == 5:
        assert c.connack.props.get("maximum_packet_size") == 1024
    n = _payload_for_size(topic, 1024, version)
    c.publish(topic, b"a" * n, qos=1)  # exactly the limit: accepted
    c.send_raw(m.build_publish(topic, b"a" * (n + 1), qos=1, packet_id=2, version=version))
    expect_error_close(c, [m.RC_PACKET_TOO_LARGE])


def test_client_maximum_packet_size_respected(broker, uid):
    """A message larger than the client's Maximum Packet Size is not sent to it
    [MQTT-3.1.2-24/25]; other subscribers still get it."""
    topic = "cmps/" + uid
    small = broker.connect(uid + "-small", 5, props={"maximum_packet_size": 256})
    small.subscribe(topic, qos=1)
    big = broker.connect(uid + "-big", 5)
    big.subscribe(topic, qos=1)
    pub = broker.connect(uid + "-p", 5)
    pub.publish(topic, b"tiny", qos=1)
    pub.publish(topic, b"L" * 1000, qos=1)
    pub.publish(topic, b"sentinel", qos=1)
    assert payloads(small.publishes_until(b"sentinel")) == [b"tiny", b"sentinel"]
    assert payloads(big.publishes_until(b"sentinel")) == [b"tiny", b"L" * 1000, b"sentinel"]
    assert small.is_open()


# ---------------------------------------------------------------- acl_deny

ACL = [
    {"filter": "locked/#", "access": "readwrite"},
    {"filter": "nopub/#", "access": "publish"},
    {"filter": "nosub/#", "access": "subscribe"},
]


@pytest.mark.tidegate_only(reason="mosquitto's acl_file grants every SUBSCRIBE and filters on delivery")
@pytest.mark.broker_config(acl_deny=ACL)
@pytest.mark.parametrize("flt", ["locked/#", "locked/a", "locked/+/b", "locked/a/#"])
def test_acl_denied_subscribe(broker, version, uid, flt):
    c = broker.connect(uid, version)
    ack = c.subscribe([(flt, 1), ("open/" + uid, 1)])
    denied = m.RC_NOT_AUTHORIZED if version == 5 else 0x80
    assert ack.reason_codes == [denied, 1]


@pytest.mark.broker_config(acl_deny=ACL)
def test_acl_denied_publish(broker, version, uid):
    """Denied publish: 5.0 PUBACK 0x87; 3.1.1 acknowledged but dropped. Never delivered."""
    watcher = broker.connect(uid + "-w", version)
    watcher.subscribe("#", qos=1)
    c = broker.connect(uid, version)
    ack = c.publish("locked/" + uid, b"denied", qos=1)
    assert ack.reason_code == (m.RC_NOT_AUTHORIZED if version == 5 else 0)
    comp = c.publish("locked/" + uid, b"denied2", qos=2)
    if version == 5:
        assert comp.type == m.PUBREC and comp.reason_code == m.RC_NOT_AUTHORIZED
    c.publish("open/" + uid, b"sentinel", qos=1)
    assert payloads(watcher.publishes_until(b"sentinel")) == [b"sentinel"]
    assert c.is_open()


@pytest.mark.tidegate_only(reason="mosquitto's ACL file cannot deny publish and subscribe separately")
@pytest.mark.broker_config(acl_deny=ACL)
def test_acl_access_kinds(broker, version, uid):
    """"publish" denies publishing only, "subscribe" denies subscribing only."""
    denied_sub = m.RC_NOT_AUTHORIZED if version == 5 else 0x80
    denied_pub = m.RC_NOT_AUTHORIZED if version == 5 else 0
    reader = broker.connect(uid + "-r", version)
    assert reader.subscribe([("nopub/" + uid, 1), ("nosub/" + uid, 1), ("open/" + uid, 1)]
                            ).reason_codes == [1, denied_sub, 1]
    writer = broker.connect(uid + "-w", version)
    assert writer.publish("nopub/" + uid, b"dropped", qos=1).reason_code == denied_pub
    assert writer.publish("nosub/" + uid, b"allowed", qos=1).reason_code < 0x80
    writer.publish("open/" + uid, b"sentinel", qos=1)
    assert payloads(reader.publishes_until(b"sentinel")) == [b"sentinel"]


@pytest.mark.broker_config(receive_maximum=2)
def test_receive_maximum_counts_each_qos2_publish_once(broker, uid):
    """Two QoS 2 publishes in one write are within a Receive Maximum of 2 even while
    the store is still committing them [MQTT-3.3.4-7]; a third one is over it."""
    c = broker.connect(uid, 5)
    c.send_raw(m.build_publish("rm2/" + uid, b"a", qos=2, packet_id=1, version=5) +
               m.build_publish("rm2/" + uid, b"b", qos=2, packet_id=2, version=5))
    assert sorted([c.expect_packet(m.PUBREC).packet_id, c.expect_packet(m.PUBREC).packet_id]) == [1, 2]
    c.send_raw(m.build_ack(m.PUBREL, 1, 5))
    assert c.expect_packet(m.PUBCOMP).packet_id == 1
    c.send_raw(m.build_publish("rm2/" + uid, b"c", qos=2, packet_id=3, version=5))
    assert c.expect_packet(m.PUBREC).packet_id == 3
    c.send_raw(m.build_publish("rm2/" + uid, b"d", qos=2, packet_id=4, version=5))
    expect_error_close(c, [m.RC_RECEIVE_MAXIMUM_EXCEEDED])


def test_connack_refusal_fits_client_maximum_packet_size(make_broker, uid):
    """A refusing CONNACK leaves out its Reason String when the client's Maximum
    Packet Size is too small for it [MQTT-3.2.2-19]."""
    broker = make_broker(allow_anonymous=False)
    c = broker.client(5)
    c.connect(uid, props={"maximum_packet_size": 16}, expect_success=False)
    assert c.connack.reason_code >= 0x80
    assert "reason_string" not in c.connack.props
    assert len(c.connack.raw) + 2 <= 16


@pytest.mark.broker_config(receive_maximum=2)
def test_311_pipelined_qos2_beyond_receive_maximum_does_not_stall(broker, uid):
    """3.1.1 has no Receive Maximum: a client that sends more QoS 2 publishes than
    receive_maximum before releasing any must get every PUBREC, and its PUBRELs must
    be read (a pause on the QoS 2 quota would wait for PUBRELs it never reads)."""
    c = broker.connect(uid, 4)
    c.send_raw(b"".join(m.build_publish("q2/" + uid, b"x%d" % i, 2, packet_id=i, version=4) for i in (1, 2, 3, 4)))
    assert sorted(c.expect_packet(m.PUBREC, timeout=5).packet_id for _ in range(4)) == [1, 2, 3, 4]
    c.send_raw(b"".join(m.build_ack(m.PUBREL, i, 4) for i in (1, 2, 3, 4)))
    assert sorted(c.expect_packet(m.PUBCOMP, timeout=5).packet_id for _ in range(4)) == [1, 2, 3, 4]
