"""The MQTT packets of mqttraw: builders that return bytes (so a test can
corrupt them before sending) and a parser for every packet type and MQTT 5
property, written from the specifications and independent of tidegate's codec."""

import struct

# ---------------------------------------------------------------- constants

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 8, 9, 10, 11
PINGREQ, PINGRESP, DISCONNECT, AUTH = 12, 13, 14, 15

PACKET_NAMES = {
    CONNECT: "CONNECT", CONNACK: "CONNACK", PUBLISH: "PUBLISH", PUBACK: "PUBACK",
    PUBREC: "PUBREC", PUBREL: "PUBREL", PUBCOMP: "PUBCOMP", SUBSCRIBE: "SUBSCRIBE",
    SUBACK: "SUBACK", UNSUBSCRIBE: "UNSUBSCRIBE", UNSUBACK: "UNSUBACK",
    PINGREQ: "PINGREQ", PINGRESP: "PINGRESP", DISCONNECT: "DISCONNECT", AUTH: "AUTH",
}

# Fixed-header flags the specification requires (MQTT-2.1.3-1).
REQUIRED_FLAGS = {PUBREL: 2, SUBSCRIBE: 2, UNSUBSCRIBE: 2}

# MQTT 5 properties: identifier -> (name, wire type).
PROPERTIES = {
    0x01: ("payload_format_indicator", "byte"),
    0x02: ("message_expiry_interval", "u32"),
    0x03: ("content_type", "str"),
    0x08: ("response_topic", "str"),
    0x09: ("correlation_data", "bin"),
    0x0B: ("subscription_identifier", "varint"),
    0x11: ("session_expiry_interval", "u32"),
    0x12: ("assigned_client_identifier", "str"),
    0x13: ("server_keep_alive", "u16"),
    0x15: ("authentication_method", "str"),
    0x16: ("authentication_data", "bin"),
    0x17: ("request_problem_information", "byte"),
    0x18: ("will_delay_interval", "u32"),
    0x19: ("request_response_information", "byte"),
    0x1A: ("response_information", "str"),
    0x1C: ("server_reference", "str"),
    0x1F: ("reason_string", "str"),
    0x21: ("receive_maximum", "u16"),
    0x22: ("topic_alias_maximum", "u16"),
    0x23: ("topic_alias", "u16"),
    0x24: ("maximum_qos", "byte"),
    0x25: ("retain_available", "byte"),
    0x26: ("user_property", "pair"),
    0x27: ("maximum_packet_size", "u32"),
    0x28: ("wildcard_subscription_available", "byte"),
    0x29: ("subscription_identifier_available", "byte"),
    0x2A: ("shared_subscription_available", "byte"),
}
PROPERTY_IDS = {name: (pid, kind) for pid, (name, kind) in PROPERTIES.items()}
# Properties that may legally appear more than once; decoded as lists.
MULTI_PROPERTIES = {"user_property", "subscription_identifier"}

# Reason codes used by the tests (MQTT 5 section 2.4).
RC_SUCCESS = 0x00
RC_GRANTED_QOS1 = 0x01
RC_GRANTED_QOS2 = 0x02
RC_DISCONNECT_WITH_WILL = 0x04
RC_NO_MATCHING_SUBSCRIBERS = 0x10
RC_NO_SUBSCRIPTION_EXISTED = 0x11
RC_UNSPECIFIED = 0x80
RC_MALFORMED = 0x81
RC_PROTOCOL_ERROR = 0x82
RC_UNSUPPORTED_PROTOCOL_VERSION = 0x84
RC_CLIENT_ID_NOT_VALID = 0x85
RC_NOT_AUTHORIZED = 0x87
RC_KEEP_ALIVE_TIMEOUT = 0x8D
RC_SESSION_TAKEN_OVER = 0x8E
RC_TOPIC_FILTER_INVALID = 0x8F
RC_TOPIC_NAME_INVALID = 0x90
RC_RECEIVE_MAXIMUM_EXCEEDED = 0x93
RC_TOPIC_ALIAS_INVALID = 0x94
RC_PACKET_TOO_LARGE = 0x95

# MQTT 3.1.1 CONNACK return codes.
CONNACK_ACCEPTED = 0
CONNACK_BAD_PROTOCOL_VERSION = 1
CONNACK_IDENTIFIER_REJECTED = 2


class NoPacket(AssertionError):
    """No complete packet arrived before the deadline."""


class ConnectionClosed(AssertionError):
    """The peer closed the connection (EOF or reset)."""


# ---------------------------------------------------------------- primitives

def encode_varint(value):
    if value < 0 or value > 268_435_455:
        raise ValueError("variable byte integer out of range: %d" % value)
    out = bytearray()
    while True:
        byte = value % 128
        value //= 128
        if value:
            byte |= 0x80
        out.append(byte)
        if not value:
            return bytes(out)


def decode_varint(buf, pos):
    """Return (value, new_pos); raise ValueError on a malformed encoding."""
    value, mult = 0, 1
    for i in range(4):
        if pos >= len(buf):
            raise IndexError("truncated variable byte integer")
        byte = buf[pos]
        pos += 1
        value += (byte & 0x7F) * mult
        if not byte & 0x80:
            return value, pos
        mult *= 128
    raise ValueError("variable byte integer longer than 4 bytes")


def encode_str(value):
    if isinstance(value, str):
        value = value.encode("utf-8")
    return struct.pack("!H", len(value)) + value


encode_bin = encode_str


def _u16(buf, pos):
    return struct.unpack_from("!H", buf, pos)[0], pos + 2


def _u32(buf, pos):
    return struct.unpack_from("!I", buf, pos)[0], pos + 4


def _bin(buf, pos):
    n, pos = _u16(buf, pos)
    if pos + n > len(buf):
        raise IndexError("truncated string")
    return bytes(buf[pos:pos + n]), pos + n


def _str(buf, pos):
    raw, pos = _bin(buf, pos)
    return raw.decode("utf-8"), pos


def fixed_header(ptype, flags, body_len):
    return bytes([(ptype << 4) | (flags & 0x0F)]) + encode_varint(body_len)


def packet(ptype, flags, body):
    return fixed_header(ptype, flags, len(body)) + body


# ---------------------------------------------------------------- properties

def _prop_items(props):
    if props is None:
        return []
    if isinstance(props, dict):
        items = []
        for name, value in props.items():
            if name in MULTI_PROPERTIES and isinstance(value, (list, tuple)) and (
                    name != "user_property" or (value and isinstance(value[0], (list, tuple)))):
                items.extend((name, v) for v in value)
            elif name == "user_property" and isinstance(value, (list, tuple)) and not value:
                continue
            else:
                items.append((name, value))
        return items
    return list(props)


def encode_properties(props):
    """props: dict (lists for repeated properties) or list of (name, value).

    Returns the property length followed by the properties.  A list of pairs
    keeps its order and may repeat any property (used to build bad packets).
    """
    out = bytearray()
    for name, value in _prop_items(props):
        pid, kind = PROPERTY_IDS[name]
        out += encode_varint(pid)
        if kind == "byte":
            out.append(value)
        elif kind == "u16":
            out += struct.pack("!H", value)
        elif kind == "u32":
            out += struct.pack("!I", value)
        elif kind == "varint":
            out += encode_varint(value)
        elif kind in ("str", "bin"):
            out += encode_str(value)
        elif kind == "pair":
            out += encode_str(value[0]) + encode_str(value[1])
    return encode_varint(len(out)) + bytes(out)


def decode_properties(buf, pos):
    """Return (props dict, new_pos).  Repeated user properties keep their order."""
    length, pos = decode_varint(buf, pos)
    end = pos + length
    if end > len(buf):
        raise IndexError("property length past the end of the packet")
    props = {}
    while pos < end:
        pid, pos = decode_varint(buf, pos)
        if pid not in PROPERTIES:
            raise ValueError("unknown property identifier 0x%02x" % pid)
        name, kind = PROPERTIES[pid]
        if kind == "byte":
            value, pos = buf[pos], pos + 1
        elif kind == "u16":
            value, pos = _u16(buf, pos)
        elif kind == "u32":
            value, pos = _u32(buf, pos)
        elif kind == "varint":
            value, pos = decode_varint(buf, pos)
        elif kind == "str":
            value, pos = _str(buf, pos)
        elif kind == "bin":
            value, pos = _bin(buf, pos)
        else:
            k, pos = _str(buf, pos)
            v, pos = _str(buf, pos)
            value = (k, v)
        if name in MULTI_PROPERTIES:
            props.setdefault(name, []).append(value)
        elif name in props:
            raise ValueError("property %s repeated" % name)
        else:
            props[name] = value
    if pos != end:
        raise ValueError("property overran its length")
    return props, pos


# ---------------------------------------------------------------- builders

def build_connect(client_id="", version=4, clean=True, keepalive=60, will=None,
                  username=None, password=None, props=None, protocol_name=None,
                  reserved_flag=False):
    """will: dict(topic, payload, qos=0, retain=False, props=None)."""
    if protocol_name is None:
        protocol_name = "MQIsdp" if version == 3 else "MQTT"
    flags = 0
    if clean:
        flags |= 0x02
    if will is not None:
        flags |= 0x04 | (will.get("qos", 0) << 3) | (0x20 if will.get("retain") else 0)
    if password is not None:
        flags |= 0x40
    if username is not None:
        flags |= 0x80
    if reserved_flag:
        flags |= 0x01
    body = encode_str(protocol_name) + bytes([version, flags]) + struct.pack("!H", keepalive)
    if version == 5:
        body += encode_properties(props)
    body += encode_str(client_id)
    if will is not None:
        if version == 5:
            body += encode_properties(will.get("props"))
        body += encode_str(will["topic"]) + encode_bin(will.get("payload", b""))
    if username is not None:
        body += encode_str(username)
    if password is not None:
        body += encode_bin(password)
    return packet(CONNECT, 0, body)


def build_connack(session_present=False, reason_code=0, version=4, props=None):
    body = bytes([1 if session_present else 0, reason_code])
    if version == 5:
        body += encode_properties(props)
    return packet(CONNACK, 0, body)


def build_publish(topic, payload=b"", qos=0, retain=False, dup=False, packet_id=None,
                  version=4, props=None):
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    flags = (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    body = encode_str(topic)
    if qos > 0:
        body += struct.pack("!H", packet_id)
    if version == 5:
        body += encode_properties(props)
    return packet(PUBLISH, flags, body + payload)


def build_ack(ptype, packet_id, version=4, reason_code=0, props=None):
    """PUBACK, PUBREC, PUBREL or PUBCOMP."""
    body = struct.pack("!H", packet_id)
    if version == 5 and (reason_code or props):
        body += bytes([reason_code])
        if props:
            body += encode_properties(props)
    return packet(ptype, REQUIRED_FLAGS.get(ptype, 0), body)


def subscription_options(qos=0, no_local=False, retain_as_published=False, retain_handling=0):
    return qos | (0x04 if no_local else 0) | (0x08 if retain_as_published else 0) | (retain_handling << 4)


def build_subscribe(packet_id, topics, version=4, props=None):
    """topics: list of (filter, options byte) or (filter, qos) for 3.1.1."""
    body = struct.pack("!H", packet_id)
    if version == 5:
        body += encode_properties(props)
    for topic, options in topics:
        body += encode_str(topic) + bytes([options])
    return packet(SUBSCRIBE, 2, body)


def build_suback(packet_id, codes, version=4, props=None):
    body = struct.pack("!H", packet_id)
    if version == 5:
        body += encode_properties(props)
    return packet(SUBACK, 0, body + bytes(codes))


def build_unsubscribe(packet_id, topics, version=4, props=None):
    body = struct.pack("!H", packet_id)
    if version == 5:
        body += encode_properties(props)
    for topic in topics:
        body += encode_str(topic)
    return packet(UNSUBSCRIBE, 2, body)


def build_unsuback(packet_id, codes=(), version=4, props=None):
    body = struct.pack("!H", packet_id)
    if version == 5:
        body += encode_properties(props) + bytes(codes)
    return packet(UNSUBACK, 0, body)


def build_pingreq():
    return packet(PINGREQ, 0, b"")


def build_pingresp():
    return packet(PINGRESP, 0, b"")


def build_disconnect(version=4, reason_code=0, props=None):
    body = b""
    if version == 5 and (reason_code or props):
        body = bytes([reason_code])
        if props:
            body += encode_properties(props)
    return packet(DISCONNECT, 0, body)


def build_auth(reason_code=0, props=None):
    body = b""
    if reason_code or props:
        body = bytes([reason_code]) + (encode_properties(props) if props else b"")
    return packet(AUTH, 0, body)


# ---------------------------------------------------------------- parsing

class Packet:
    """A parsed packet: .type, .flags, .raw and type-specific attributes."""

    def __init__(self, ptype, flags, raw):
        self.type = ptype
        self.flags = flags
        self.raw = raw
        self.props = {}

    @property
    def name(self):
        return PACKET_NAMES.get(self.type, "TYPE%d" % self.type)

    def __repr__(self):
        fields = {k: v for k, v in self.__dict__.items() if k not in ("raw", "type", "flags")}
        if isinstance(fields.get("payload"), bytes) and len(fields["payload"]) > 64:
            fields["payload"] = fields["payload"][:64] + b"..."
        return "<%s %s>" % (self.name, " ".join("%s=%r" % kv for kv in fields.items()))


def parse_packet(ptype, flags, body, version):
    """Parse one packet body.  Raises ValueError/IndexError on malformed input."""
    p = Packet(ptype, flags, body)
    v5 = version == 5
    pos = 0
    if ptype == CONNECT:
        p.protocol_name, pos = _str(body, 0)
        p.protocol_level = body[pos]
        cflags = body[pos + 1]
        p.keepalive, pos = _u16(body, pos + 2)
        p.clean = bool(cflags & 0x02)
        if p.protocol_level == 5:
            p.props, pos = decode_properties(body, pos)
        p.client_id, pos = _str(body, pos)
        p.will = None
        if cflags & 0x04:
            will = {"qos": (cflags >> 3) & 3, "retain": bool(cflags & 0x20), "props": {}}
            if p.protocol_level == 5:
                will["props"], pos = decode_properties(body, pos)
            will["topic"], pos = _str(body, pos)
            will["payload"], pos = _bin(body, pos)
            p.will = will
        p.username = p.password = None
        if cflags & 0x80:
            p.username, pos = _str(body, pos)
        if cflags & 0x40:
            p.password, pos = _bin(body, pos)
    elif ptype == CONNACK:
        p.session_present = bool(body[0] & 1)
        p.ack_flags = body[0]
        p.reason_code = body[1]
        pos = 2
        if v5 and len(body) > 2:
            p.props, pos = decode_properties(body, 2)
    elif ptype == PUBLISH:
        p.dup = bool(flags & 0x08)
        p.qos = (flags >> 1) & 3
        p.retain = bool(flags & 0x01)
        if p.qos == 3:
            raise ValueError("PUBLISH with QoS 3")
        p.topic, pos = _str(body, 0)
        p.packet_id = None
        if p.qos:
            p.packet_id, pos = _u16(body, pos)
        if v5:
            p.props, pos = decode_properties(body, pos)
        p.payload = bytes(body[pos:])
        pos = len(body)
    elif ptype in (PUBACK, PUBREC, PUBREL, PUBCOMP):
        p.packet_id, pos = _u16(body, 0)
        p.reason_code = 0
        if v5 and len(body) > 2:
            p.reason_code = body[2]
            pos = 3
            if len(body) > 3:
                p.props, pos = decode_properties(body, 3)
    elif ptype == SUBSCRIBE:
        p.packet_id, pos = _u16(body, 0)
        if v5:
            p.props, pos = decode_properties(body, pos)
        p.topics = []
        while pos < len(body):
            t, pos = _str(body, pos)
            p.topics.append((t, body[pos]))
            pos += 1
    elif ptype in (SUBACK, UNSUBACK):
        p.packet_id, pos = _u16(body, 0)
        if v5:
            p.props, pos = decode_properties(body, pos)
        p.reason_codes = list(body[pos:])
        pos = len(body)
    elif ptype == UNSUBSCRIBE:
        p.packet_id, pos = _u16(body, 0)
        if v5:
            p.props, pos = decode_properties(body, pos)
        p.topics = []
        while pos < len(body):
            t, pos = _str(body, pos)
            p.topics.append(t)
    elif ptype in (PINGREQ, PINGRESP):
        pass
    elif ptype in (DISCONNECT, AUTH):
        p.reason_code = 0
        if len(body) >= 1:
            p.reason_code = body[0]
            pos = 1
            if len(body) > 1:
                p.props, pos = decode_properties(body, 1)
    else:
        raise ValueError("reserved packet type %d" % ptype)
    if pos != len(body):
        raise ValueError("%s has %d trailing bytes" % (p.name, len(body) - pos))
    return p
