"""Self-check of the test client's codec (no broker): every packet type and every MQTT 5
property survives build -> parse, so broker-facing assertions rest on a sound client."""

import pytest

import mqttraw as m

ALL_PROPS = {
    "payload_format_indicator": 1, "message_expiry_interval": 0xFFFFFFFF, "content_type": "c/t",
    "response_topic": "r/t", "correlation_data": b"\x00\xff", "subscription_identifier": [1, 268435455],
    "session_expiry_interval": 7, "assigned_client_identifier": "id", "server_keep_alive": 65535,
    "authentication_method": "SCRAM", "authentication_data": b"\x01", "request_problem_information": 0,
    "will_delay_interval": 3, "request_response_information": 1, "response_information": "ri",
    "server_reference": "other:1883", "reason_string": "why", "receive_maximum": 10,
    "topic_alias_maximum": 5, "topic_alias": 2, "maximum_qos": 1, "retain_available": 0,
    "user_property": [("k", "v"), ("k", "w"), ("\u00e9", "\u6e29")], "maximum_packet_size": 1 << 20,
    "wildcard_subscription_available": 1, "subscription_identifier_available": 1,
    "shared_subscription_available": 0,
}


def split(data):
    length, pos = m.decode_varint(data, 1)
    assert len(data) == pos + length
    return data[0] >> 4, data[0] & 0x0F, data[pos:]


def roundtrip(data, version):
    return m.parse_packet(*split(data), version)


def test_every_property_round_trips():
    assert set(ALL_PROPS) == {name for name, _ in m.PROPERTIES.values()}
    props, pos = m.decode_properties(m.encode_properties(ALL_PROPS), 0)
    assert props == ALL_PROPS


@pytest.mark.parametrize("value", [0, 127, 128, 16383, 16384, 2097151, 2097152, 268435455])
def test_varint_boundaries(value):
    enc = m.encode_varint(value)
    assert len(enc) == 1 + (value > 127) + (value > 16383) + (value > 2097151)
    assert m.decode_varint(enc, 0) == (value, len(enc))


def test_varint_too_long_rejected():
    with pytest.raises(ValueError):
        m.decode_varint(b"\xff\xff\xff\xff\x7f", 0)


@pytest.mark.parametrize("version", [3, 4, 5])
def test_connect_round_trip(version):
    w = {"topic": "w/t", "payload": b"bye", "qos": 2, "retain": True,
         "props": {"will_delay_interval": 5} if version == 5 else {}}
    p = roundtrip(m.build_connect("cid", version, clean=False, keepalive=30, will=w, username="u",
                                  password=b"p", props={"session_expiry_interval": 9} if version == 5 else None),
                  version)
    assert (p.protocol_name, p.protocol_level, p.keepalive, p.clean, p.client_id) == (
        "MQIsdp" if version == 3 else "MQTT", version, 30, False, "cid")
    assert p.will == w and (p.username, p.password) == ("u", b"p")


@pytest.mark.parametrize("version", [4, 5])
def test_other_packets_round_trip(version):
    props = {"reason_string": "r", "user_property": [("a", "b")]} if version == 5 else None
    p = roundtrip(m.build_connack(True, 0, version, props), version)
    assert (p.session_present, p.reason_code) == (True, 0)
    p = roundtrip(m.build_publish("t/x", b"pl", 2, True, True, 513, version,
                                  {"topic_alias": 3} if version == 5 else None), version)
    assert (p.topic, p.payload, p.qos, p.retain, p.dup, p.packet_id) == ("t/x", b"pl", 2, True, True, 513)
    for ptype in (m.PUBACK, m.PUBREC, m.PUBREL, m.PUBCOMP):
        data = m.build_ack(ptype, 65535, version, 0x10 if version == 5 else 0, props)
        assert data[0] & 0x0F == (2 if ptype == m.PUBREL else 0)
        p = roundtrip(data, version)
        assert p.packet_id == 65535 and p.reason_code == (0x10 if version == 5 else 0)
    p = roundtrip(m.build_subscribe(7, [("a/+", 1), ("b/#", 0x2E)], version), version)
    assert (p.packet_id, p.topics) == (7, [("a/+", 1), ("b/#", 0x2E)])
    p = roundtrip(m.build_suback(7, [0, 1, 2, 0x80], version, props), version)
    assert p.reason_codes == [0, 1, 2, 0x80]
    p = roundtrip(m.build_unsubscribe(8, ["a", "b"], version), version)
    assert p.topics == ["a", "b"]
    p = roundtrip(m.build_unsuback(8, [0, 0x11], version), version)
    assert p.packet_id == 8 and p.reason_codes == ([0, 0x11] if version == 5 else [])
    assert roundtrip(m.build_pingreq(), version).type == m.PINGREQ
    assert roundtrip(m.build_pingresp(), version).type == m.PINGRESP
    p = roundtrip(m.build_disconnect(version, 0x04 if version == 5 else 0, props), version)
    assert p.reason_code == (0x04 if version == 5 else 0)
    if version == 5:
        p = roundtrip(m.build_auth(0x18, {"authentication_method": "x"}), 5)
        assert (p.reason_code, p.props) == (0x18, {"authentication_method": "x"})


def test_parser_rejects_repeated_single_property():
    raw = m.encode_properties([("content_type", "a"), ("content_type", "b")])
    with pytest.raises(ValueError):
        m.decode_properties(raw, 0)
