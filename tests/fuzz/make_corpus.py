#!/usr/bin/env python3
"""Writes the seed corpus of the codec fuzz targets: valid packets of every
type for MQTT 3.1.1 (tests/fuzz/corpus/codec_v311/) and MQTT 5.0
(tests/fuzz/corpus/codec_v5/), built here with plain struct packing so the
seeds do not depend on the encoder under test, plus a few whole client
streams and framing edge cases.

Run it after changing it and commit its output:  python3 tests/fuzz/make_corpus.py
It rewrites only the files whose names it generates; regression seeds
(regress_*) and the config corpus are kept as they are.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


# --- wire primitives ----------------------------------------------------------

def vbi(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def s(text):
    """UTF-8 string or binary data with its two-byte length."""
    data = text.encode() if isinstance(text, str) else text
    return struct.pack(">H", len(data)) + data


def u8(v):
    return struct.pack(">B", v)


def u16(v):
    return struct.pack(">H", v)


def u32(v):
    return struct.pack(">I", v)


def packet(first_byte, body=b""):
    return u8(first_byte) + vbi(len(body)) + body


# --- MQTT 5 properties (MQTT 5.0 table 2-4) -------------------------------------

def props(*items):
    block = b"".join(items)
    return vbi(len(block)) + block


def payload_format(v): return u8(0x01) + u8(v)
def message_expiry(v): return u8(0x02) + u32(v)
def content_type(v): return u8(0x03) + s(v)
def response_topic(v): return u8(0x08) + s(v)
def correlation_data(v): return u8(0x09) + s(v)
def subscription_id(v): return u8(0x0B) + vbi(v)
def session_expiry(v): return u8(0x11) + u32(v)
def assigned_client_id(v): return u8(0x12) + s(v)
def server_keep_alive(v): return u8(0x13) + u16(v)
def auth_method(v): return u8(0x15) + s(v)
def auth_data(v): return u8(0x16) + s(v)
def request_problem_info(v): return u8(0x17) + u8(v)
def will_delay(v): return u8(0x18) + u32(v)
def request_response_info(v): return u8(0x19) + u8(v)
def response_info(v): return u8(0x1A) + s(v)
def server_reference(v): return u8(0x1C) + s(v)
def reason_string(v): return u8(0x1F) + s(v)
def receive_maximum(v): return u8(0x21) + u16(v)
def topic_alias_maximum(v): return u8(0x22) + u16(v)
def topic_alias(v): return u8(0x23) + u16(v)
def maximum_qos(v): return u8(0x24) + u8(v)
def retain_available(v): return u8(0x25) + u8(v)
def user_property(k, v): return u8(0x26) + s(k) + s(v)
def maximum_packet_size(v): return u8(0x27) + u32(v)
def wildcard_available(v): return u8(0x28) + u8(v)
def subscription_ids_available(v): return u8(0x29) + u8(v)
def shared_available(v): return u8(0x2A) + u8(v)


# --- packets ------------------------------------------------------------------

def connect(level, client_id, *, name="MQTT", clean=True, keep_alive=60, properties=None,
            will=None, username=None, password=None):
    """will: (topic, payload, qos, retain, will_properties or None)."""
    flags = 0x02 if clean else 0
    if will:
        flags |= 0x04 | (will[2] << 3) | (0x20 if will[3] else 0)
    if username is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    body = s(name) + u8(level) + u8(flags) + u16(keep_alive)
    if level == 5:
        body += properties if properties is not None else props()
    body += s(client_id)
    if will:
        if level == 5:
            body += will[4] if will[4] is not None else props()
        body += s(will[0]) + s(will[1])
    if username is not None:
        body += s(username)
    if password is not None:
        body += s(password)
    return packet(0x10, body)


def connack(session_present, code, properties=b""):
    return packet(0x20, u8(1 if session_present else 0) + u8(code) + properties)


def publish(topic, payload, *, qos=0, retain=False, dup=False, packet_id=1, properties=None):
    first = 0x30 | (qos << 1) | (0x08 if dup else 0) | (0x01 if retain else 0)
    body = s(topic)
    if qos:
        body += u16(packet_id)
    if properties is not None:
        body += properties
    return packet(first, body + payload)


def pub_response(kind, packet_id, tail=b""):
    first = {"puback": 0x40, "pubrec": 0x50, "pubrel": 0x62, "pubcomp": 0x70}[kind]
    return packet(first, u16(packet_id) + tail)


def subscribe(packet_id, subs, properties=None):
    body = u16(packet_id) + (properties if properties is not None else b"")
    for topic_filter, options in subs:
        body += s(topic_filter) + u8(options)
    return packet(0x82, body)


def suback(packet_id, codes, properties=None):
    return packet(0x90, u16(packet_id) + (properties if properties is not None else b"") +
                  bytes(codes))


def unsubscribe(packet_id, filters, properties=None):
    body = u16(packet_id) + (properties if properties is not None else b"")
    return packet(0xA2, body + b"".join(s(f) for f in filters))


def unsuback(packet_id, codes=None, properties=None):
    body = u16(packet_id)
    if properties is not None:
        body += properties + bytes(codes or [])
    return packet(0xB0, body)


PINGREQ = packet(0xC0)
PINGRESP = packet(0xD0)


# --- the corpora ----------------------------------------------------------------

def v311_seeds():
    c = {}
    c["connect_min"] = connect(4, "c1")
    c["connect_empty_client_id"] = connect(4, "", keep_alive=0)
    c["connect_full"] = connect(4, "sensor-42", clean=False, keep_alive=30,
                                will=("dev/42/status", b"offline", 1, True, None),
                                username="user", password=b"\x00secret\xff")
    c["connect_user_only"] = connect(4, "c2", username="alice")
    c["connect_v31"] = connect(3, "legacy", name="MQIsdp",
                               will=("lwt", b"gone", 2, False, None),
                               username="bob", password=b"pw")
    c["connect_v5_on_v311"] = connect(5, "c5", properties=props(session_expiry(60)))
    c["connect_bad_level"] = connect(6, "c6")
    c["connack_accepted"] = connack(False, 0)
    c["connack_session_present"] = connack(True, 0)
    c["connack_refused"] = connack(False, 5)
    c["publish_qos0"] = publish("a/b", b"hello")
    c["publish_qos0_empty"] = publish("t", b"", retain=True)
    c["publish_qos1"] = publish("sensors/temp", b"21.5", qos=1, packet_id=7)
    c["publish_qos2_dup_retain"] = publish("x/y/z", b"\x00\x01\x02", qos=2, dup=True,
                                           retain=True, packet_id=0xFFFF)
    c["publish_utf8_topic"] = publish("caf\u00e9/\U0001f600", b"{}", qos=1, packet_id=2)
    c["puback"] = pub_response("puback", 7)
    c["pubrec"] = pub_response("pubrec", 8)
    c["pubrel"] = pub_response("pubrel", 8)
    c["pubcomp"] = pub_response("pubcomp", 8)
    c["subscribe_one"] = subscribe(1, [("a/b", 0)])
    c["subscribe_wildcards"] = subscribe(2, [("a/+/c", 1), ("a/#", 2), ("#", 0),
                                            ("$share/g/s/+", 1), ("+", 2)])
    c["suback"] = suback(2, [0, 1, 2, 0x80])
    c["unsubscribe"] = unsubscribe(3, ["a/b", "a/#", "$share/g/s/+"])
    c["unsuback"] = unsuback(3)
    c["pingreq"] = PINGREQ
    c["pingresp"] = PINGRESP
    c["disconnect"] = packet(0xE0)
    c["stream_session"] = (connect(4, "s1") + subscribe(1, [("t/#", 1)]) +
                           publish("t/1", b"a", qos=1, packet_id=1) + pub_response("puback", 9) +
                           publish("t/2", b"b", qos=2, packet_id=2) + pub_response("pubrel", 2) +
                           unsubscribe(3, ["t/#"]) + PINGREQ + packet(0xE0))
    c["stream_split_header"] = PINGREQ + b"\x30\xff"  # remaining length still incomplete
    c["frame_too_large"] = u8(0x30) + vbi(4096) + s("big") + b"\x00" * 16
    c["frame_bad_remaining_length"] = b"\x30\x80\x80\x80\x80\x01"
    c["frame_non_minimal_length"] = b"\xc0\x80\x00"
    return c


def v5_seeds():
    c = {}
    c["connect_min"] = connect(5, "c1")
    c["connect_full"] = connect(
        5, "sensor-42", clean=False, keep_alive=30,
        properties=props(session_expiry(3600), receive_maximum(20), maximum_packet_size(65536),
                         topic_alias_maximum(10), request_response_info(1),
                         request_problem_info(0), user_property("k", "v"),
                         auth_method("SCRAM-SHA-1"), auth_data(b"\x01\x02")),
        will=("dev/42/status", b"offline", 1, True,
              props(will_delay(5), payload_format(1), message_expiry(60),
                    content_type("text/plain"), response_topic("dev/42/reply"),
                    correlation_data(b"\xde\xad"), user_property("w", "1"))),
        username="user", password=b"secret")
    c["connect_password_only"] = connect(5, "c3", password=b"token")
    c["connect_v311_on_v5"] = connect(4, "c4", username="u")
    c["connack_accepted"] = connack(False, 0, props())
    c["connack_full"] = connack(True, 0, props(
        session_expiry(0), receive_maximum(64), maximum_qos(1), retain_available(1),
        maximum_packet_size(1 << 20), assigned_client_id("auto-1"), topic_alias_maximum(16),
        reason_string("ok"), user_property("a", "b"), wildcard_available(1),
        subscription_ids_available(1), shared_available(0), server_keep_alive(120),
        response_info("resp/"), server_reference("other:1883"), auth_method("m"),
        auth_data(b"d")))
    c["connack_refused"] = connack(False, 0x87, props(reason_string("not authorized")))
    c["connack_no_property_length"] = connack(False, 0)
    c["publish_qos0"] = publish("a/b", b"hello", properties=props())
    c["publish_props"] = publish("a/b", b"{\"t\":1}", qos=1, packet_id=3, properties=props(
        payload_format(1), message_expiry(30), content_type("application/json"),
        response_topic("r/1"), correlation_data(b"\x00\x01"), subscription_id(1),
        subscription_id(268435455), user_property("x", "y"), user_property("x", "z")))
    c["publish_alias_only"] = publish("", b"p", qos=2, packet_id=4,
                                      properties=props(topic_alias(1)))
    c["publish_alias_and_topic"] = publish("a/long/topic", b"p", dup=True, qos=1, packet_id=5,
                                           retain=True, properties=props(topic_alias(65535)))
    c["puback_short"] = pub_response("puback", 7)
    c["puback_reason"] = pub_response("puback", 7, u8(0x10))
    c["puback_reason_props"] = pub_response("puback", 7, u8(0x97) + props(
        reason_string("quota"), user_property("q", "1")))
    c["puback_zero_empty_props"] = pub_response("puback", 7, u8(0) + props())
    c["pubrec"] = pub_response("pubrec", 8, u8(0x80) + props(reason_string("no")))
    c["pubrel"] = pub_response("pubrel", 8, u8(0x92))
    c["pubcomp"] = pub_response("pubcomp", 8, u8(0) + props(user_property("c", "d")))
    c["subscribe_options"] = subscribe(1, [("a/b", 0x00), ("a/+/c", 0x05), ("a/#", 0x0A),
                                           ("$share/g/s/#", 0x1A), ("x", 0x2E)],
                                       props(subscription_id(42), user_property("s", "t")))
    c["subscribe_min"] = subscribe(2, [("t", 1)], props())
    c["suback"] = suback(1, [0, 1, 2, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2],
                         props(reason_string("mixed"), user_property("k", "v")))
    c["unsubscribe"] = unsubscribe(3, ["a/b", "$share/g/s/+"], props(user_property("u", "v")))
    c["unsuback"] = unsuback(3, [0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91],
                             props(reason_string("r")))
    c["pingreq"] = PINGREQ
    c["pingresp"] = PINGRESP
    c["disconnect_empty"] = packet(0xE0)
    c["disconnect_reason"] = packet(0xE0, u8(0x04))
    c["disconnect_props"] = packet(0xE0, u8(0x9C) + props(
        session_expiry(10), reason_string("moved"), server_reference("b:1883"),
        user_property("k", "v")))
    c["auth_empty"] = packet(0xF0)
    c["auth_continue"] = packet(0xF0, u8(0x18) + props(auth_method("SCRAM-SHA-1"),
                                                       auth_data(b"\x00\xff"),
                                                       reason_string("step")))
    c["auth_reauth"] = packet(0xF0, u8(0x19) + props(auth_method("m")))
    c["stream_session"] = (connect(5, "s1", properties=props(topic_alias_maximum(4))) +
                           subscribe(1, [("t/#", 1)], props(subscription_id(5))) +
                           publish("t/1", b"a", qos=1, packet_id=1,
                                   properties=props(topic_alias(1))) +
                           publish("", b"b", qos=1, packet_id=2, properties=props(topic_alias(1))) +
                           pub_response("puback", 9) + pub_response("pubrel", 2, u8(0)) +
                           unsubscribe(3, ["t/#"], props()) + PINGREQ +
                           packet(0xE0, u8(0) + props(session_expiry(0))))
    c["frame_too_large"] = u8(0x30) + vbi(100000) + s("big") + props() + b"\x00" * 16
    return c


def write(directory, seeds):
    os.makedirs(directory, exist_ok=True)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(directory, name + ".bin"), "wb") as f:
            f.write(data)
    print(f"{os.path.relpath(directory, HERE)}: {len(seeds)} seeds")


if __name__ == "__main__":
    write(os.path.join(HERE, "corpus", "codec_v311"), v311_seeds())
    write(os.path.join(HERE, "corpus", "codec_v5"), v5_seeds())
