"""Malformed packets and protocol errors over raw sockets (MQTT 3.1.1 §4.8; MQTT 5 §4.13).

MQTT 5: DISCONNECT with the reason code, then close (checks.expect_error_close).
MQTT 3.1.1: close without answering.  Each case also checks the broker survived.
"""

import struct

import pytest

import mqttraw as m
from checks import MOSQ_NO_DISCONNECT, expect_error_close

MALFORMED = [m.RC_MALFORMED]
PROTOCOL = [m.RC_PROTOCOL_ERROR]
EITHER = [m.RC_MALFORMED, m.RC_PROTOCOL_ERROR]


def _sub(flt, opts=0, pid=1, version=4, props=None):
    return m.build_subscribe(pid, [(flt, opts)], version, props)


def _replace_first_byte(data, first):
    return bytes([first]) + data[1:]


def _publish_raw_topic(topic_bytes, version, qos=0, props=b"\x00"):
    body = struct.pack("!H", len(topic_bytes)) + topic_bytes
    if qos:
        body += struct.pack("!H", 1)
    if version == 5:
        body += props
    return m.packet(m.PUBLISH, qos << 1, body + b"payload")


def _props_raw(*chunks):
    raw = b"".join(chunks)
    return m.encode_varint(len(raw)) + raw


# id -> (builder(version, uid) -> bytes, v5 reason codes, versions it applies to,
#        {version: why mosquitto 2.0.11 fails the spec assertion})
CASES = {
    # fixed header
    "remaining-length-5-bytes": (lambda v, u: b"\x30\xff\xff\xff\xff\x7f", MALFORMED, (4, 5), {}),
    "subscribe-flags-0": (lambda v, u: _replace_first_byte(_sub("a/" + u, version=v), 0x80), MALFORMED, (4, 5), {}),
    "unsubscribe-flags-0": (lambda v, u: _replace_first_byte(m.build_unsubscribe(1, ["a"], v), 0xA0),
                            MALFORMED, (4, 5), {}),
    "pubrel-flags-0": (lambda v, u: _replace_first_byte(m.build_ack(m.PUBREL, 1, v), 0x60), MALFORMED, (4, 5), {}),
    "pingreq-flags-1": (lambda v, u: b"\xc1\x00", MALFORMED, (4, 5), {}),
    "packet-type-0": (lambda v, u: b"\x00\x00", EITHER, (4, 5), {}),
    "auth-in-311": (lambda v, u: b"\xf0\x00", MALFORMED, (4,), {}),
    "publish-qos-3": (lambda v, u: m.packet(m.PUBLISH, 0x6, m.encode_str("a/" + u) + b"\x00\x01" +
                                            (b"\x00" if v == 5 else b"") + b"x"), MALFORMED, (4, 5), {}),
    "truncated-topic": (lambda v, u: m.packet(m.PUBLISH, 0, b"\x00\x20abc"), MALFORMED, (4, 5), {}),
    # packet identifiers
    "publish-qos1-packet-id-0": (lambda v, u: m.build_publish("a/" + u, b"x", 1, packet_id=0, version=v),
                                 EITHER, (4, 5), {}),
    "subscribe-packet-id-0": (lambda v, u: _sub("a/" + u, pid=0, version=v), EITHER, (4, 5), {}),
    "unsubscribe-packet-id-0": (lambda v, u: m.build_unsubscribe(0, ["a/" + u], v), EITHER, (4, 5), {}),
    # strings
    "topic-invalid-utf8": (lambda v, u: _publish_raw_topic(b"a/\xff\xfe", v), MALFORMED, (4, 5), {}),
    "topic-utf16-surrogate": (lambda v, u: _publish_raw_topic(b"a/\xed\xa0\x80", v), MALFORMED, (4, 5), {}),
    "topic-null-char": (lambda v, u: _publish_raw_topic(b"a/\x00b", v), MALFORMED, (4, 5), {}),
    "filter-invalid-utf8": (lambda v, u: m.packet(m.SUBSCRIBE, 2, b"\x00\x01" + (b"\x00" if v == 5 else b"") +
                                                   b"\x00\x03a/\xc3\x01"), MALFORMED, (4, 5), {}),
    "filter-null-char": (lambda v, u: _sub("a/\x00", version=v), MALFORMED, (4, 5), {}),
    "user-property-null-char": (lambda v, u: m.build_publish("a/" + u, b"x", 0, version=5,
                                                             props={"user_property": [("k", "v\x00")]}),
                                MALFORMED, (5,), {}),
    # topic names and filters
    "publish-topic-plus-wildcard": (lambda v, u: m.build_publish("a/+/" + u, b"x", 1, packet_id=1, version=v),
                                    [m.RC_MALFORMED, m.RC_PROTOCOL_ERROR, m.RC_TOPIC_NAME_INVALID], (4, 5), {}),
    "publish-topic-hash-wildcard": (lambda v, u: m.build_publish("a/" + u + "/#", b"x", 0, version=v),
                                    [m.RC_MALFORMED, m.RC_PROTOCOL_ERROR, m.RC_TOPIC_NAME_INVALID], (4, 5), {}),
    "publish-empty-topic-311": (lambda v, u: m.build_publish("", b"x", 0, version=v), EITHER, (4,), {}),
    "subscribe-no-filters": (lambda v, u: m.packet(m.SUBSCRIBE, 2, b"\x00\x01" + (b"\x00" if v == 5 else b"")),
                             EITHER, (4, 5), {}),
    "unsubscribe-no-filters": (lambda v, u: m.packet(m.UNSUBSCRIBE, 2, b"\x00\x01" + (b"\x00" if v == 5 else b"")),
                               EITHER, (4, 5), {}),
    # 5.0 §3.8.3.1 calls Maximum QoS 3 a Protocol Error; reserved option bits are Malformed.
    "subscribe-requested-qos-3": (lambda v, u: _sub("a/" + u, 3, version=v), PROTOCOL, (4, 5), {}),
    "subscribe-reserved-option-bits": (lambda v, u: _sub("a/" + u, 0xC1, version=v), MALFORMED, (4, 5), {}),
    "subscribe-retain-handling-3": (lambda v, u: _sub("a/" + u, 0x31, version=5), PROTOCOL, (5,), {}),
    "shared-subscription-no-local": (lambda v, u: _sub("$share/g/a/" + u, 0x05, version=5), PROTOCOL, (5,), {}),
    # properties
    "repeated-property": (lambda v, u: _publish_raw_topic(
        ("a/" + u).encode(), 5, qos=0,
        props=_props_raw(b"\x03\x00\x01a", b"\x03\x00\x01b")), PROTOCOL, (5,), {}),
    "unknown-property": (lambda v, u: _publish_raw_topic(("a/" + u).encode(), 5, props=_props_raw(b"\x7f\x00")),
                         MALFORMED, (5,), {}),
    "property-not-allowed-in-publish": (lambda v, u: m.build_publish(
        "a/" + u, b"x", 0, version=5, props={"session_expiry_interval": 5}), EITHER, (5,), {}),
    "property-length-overruns-packet": (lambda v, u: _publish_raw_topic(("a/" + u).encode(), 5, props=b"\x50"),
                                        MALFORMED, (5,), {}),
    "subscription-identifier-from-client": (lambda v, u: m.build_publish(
        "a/" + u, b"x", 0, version=5, props={"subscription_identifier": 3}), PROTOCOL, (5,), {}),
    "subscription-identifier-zero": (lambda v, u: m.build_subscribe(
        1, [("a/" + u, 0)], 5, props={"subscription_identifier": 0}), PROTOCOL, (5,), {}),
    "disconnect-session-expiry-after-zero": (lambda v, u: m.build_disconnect(
        5, 0, props={"session_expiry_interval": 30}), PROTOCOL, (5,), {}),
}

NO_DISCONNECT = {5: MOSQ_NO_DISCONNECT}
RESERVED_FLAGS = "answers a PINGREQ whose reserved flag bits are set instead of closing [MQTT-2.1.3-1]"
for name in ("remaining-length-5-bytes", "pubrel-flags-0", "user-property-null-char", "repeated-property"):
    CASES[name][3].update(NO_DISCONNECT)
CASES["pingreq-flags-1"][3].update({4: RESERVED_FLAGS, 5: RESERVED_FLAGS})
CASES["subscribe-retain-handling-3"][3][5] = "answers 0x81; §3.8.3.1 calls Retain Handling 3 a Protocol Error (0x82)"
CASES["subscribe-requested-qos-3"][3][5] = "answers 0x81; §3.8.3.1 calls Maximum QoS 3 a Protocol Error (0x82)"
CASES["subscription-identifier-zero"][3][5] = "answers 0x81; §3.8.2.1.2 calls a Subscription Identifier of 0 a Protocol Error (0x82)"
CASES["shared-subscription-no-local"][3][5] = "grants No Local on a shared subscription [MQTT-3.8.3-4]"
CASES["subscription-identifier-from-client"][3][5] = \
    "accepts a Subscription Identifier in a PUBLISH from a client [MQTT-3.3.4-6]"


def _params():
    out = []
    for name, (_, codes, versions, mosq) in CASES.items():
        for v in versions:
            marks = []
            if v in mosq:
                marks.append(pytest.mark.xfail_mosquitto(reason=mosq[v]))
            out.append(pytest.param(name, v, id="%s-%s" % (name, "v5" if v == 5 else "v311"), marks=marks))
    return out


@pytest.mark.parametrize("case,version", _params())
def test_malformed_or_forbidden_packet_closes(broker, uid, case, version):
    build, codes, _, _ = CASES[case]
    c = broker.connect(uid, version)
    c.send_raw(build(version, uid))
    expect_error_close(c, codes)
    assert broker.connect(uid + "-after", version).is_open(), "broker must keep serving others"


def _connect_with_flags(version, uid, set_bits=0, clear_bits=0, extra=b""):
    data = bytearray(m.build_connect(uid, version))
    # fixed header (2 bytes) + protocol name (2 + "MQTT" or "MQIsdp") + level (1) -> connect flags
    flags_at = 2 + 2 + (6 if version == 3 else 4) + 1
    data[flags_at] = (data[flags_at] | set_bits) & ~clear_bits & 0xFF
    return bytes(data) + extra


# id -> (builder(version, uid) -> bytes, versions it applies to); 3 is MQTT 3.1 ("MQIsdp").
CONNECT_CASES = {
    # MQTT 3.1 leaves the reserved bit unused (no rule to enforce): 3.1.1 and 5.0 only.
    "reserved-flag": (lambda v, u: _connect_with_flags(v, u, set_bits=0x01), (4, 5)),
    "will-qos-3": (lambda v, u: m.build_connect(u, v, will={"topic": "w", "payload": b"x", "qos": 3}), (3, 4, 5)),
    "will-qos-without-will-flag": (lambda v, u: _connect_with_flags(v, u, set_bits=0x08), (4, 5)),
    "will-retain-without-will-flag": (lambda v, u: _connect_with_flags(v, u, set_bits=0x20), (4, 5)),
    "password-without-username-311": (lambda v, u: m.build_connect(u, v, password=b"pw"), (4,)),
    "client-id-invalid-utf8": (lambda v, u: m.build_connect(b"id-\xc0\xaf", v), (3, 4, 5)),
    "client-id-null-char": (lambda v, u: m.build_connect("id\x00x", v), (4, 5)),
    "will-topic-wildcard": (lambda v, u: m.build_connect(u, v, will={"topic": "w/#", "payload": b"x"}), (4, 5)),
    # the client id string claims 3 more bytes than the packet holds
    "truncated-connect": (lambda v, u: m.packet(m.CONNECT, 0, m.build_connect(u, v)[2:-3]), (3, 4, 5)),
    # a Remaining Length of five bytes [MQTT-2.2.3]: the version is never read
    "remaining-length-5-bytes": (lambda v, u: b"\x10\xff\xff\xff\xff\x7f", (4,)),
}
VERSION_IDS = {3: "v31", 4: "v311", 5: "v5"}


@pytest.mark.parametrize("case,version", [
    pytest.param(n, v, id="%s-%s" % (n, VERSION_IDS[v]))
    for n, (_, versions) in CONNECT_CASES.items() for v in versions])
def test_malformed_connect_refused(broker, uid, case, version):
    """A bad CONNECT: close; never a success, and no DISCONNECT before a CONNACK [MQTT-3.2.0-1].
    MQTT 5 may answer with a failure CONNACK first [MQTT-3.1.4-1]. MQTT 3.1 and 3.1.1
    define no return code for a malformed CONNECT (1 and 2 are for a level or an
    identifier that are well formed but refused): the server closes without a CONNACK
    [MQTT-3.1.2-3, 3.1.2-14, 4.8], so that the client does not read "server
    unavailable" (3) and retry the same bytes."""
    c = broker.client(version)
    c.send_raw(CONNECT_CASES[case][0](version, uid[:23]))
    got = c.expect_closed()
    if version == 5:
        assert all(isinstance(p, m.Packet) and p.type == m.CONNACK and p.reason_code != 0 for p in got), got
        assert len(got) <= 1, got
    else:
        assert got == [], "a malformed %s CONNECT must be closed without an answer" % VERSION_IDS[version]
    assert broker.connect(uid[:20] + "-af", version).is_open()
