"""A small raw MQTT client for system tests: MQTT 3.1 (level 3), 3.1.1 (4) and 5.0 (5).

Independent of tidegate's C++ codec on purpose: the tests check the broker
against the specification, so the test side must not share the broker's
encoder or decoder.  Every packet type is built and parsed here, every MQTT 5
property included.  Builders return bytes so that a test can corrupt them
before sending; `Client` speaks to one socket with a hard deadline on every
read.
"""

import socket
import struct
import time

from mqttraw_packets import *  # noqa: F401,F403 (tests use the builders as mqttraw.X)


# ---------------------------------------------------------------- client

class Client:
    """One raw MQTT connection.

    read_packet() returns the next packet, first from the backlog of packets
    that expect_packet() skipped.  With auto_ack the client answers incoming
    QoS 1/2 PUBLISH and PUBREL itself (and still returns those packets).
    Outgoing topic aliases are not tracked; incoming ones are resolved into
    .topic (the wire value stays in .wire_topic).
    """

    def __init__(self, host, port, version=4, timeout=2.0, auto_ack=True, client_id=None, sock=None):
        self.host, self.port = host, port
        self.version = version
        self.timeout = timeout
        self.auto_ack = auto_ack
        self.client_id = client_id
        if sock is None:  # or a connected socket-like object (TLS, WebSocket)
            sock = socket.create_connection((host, port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.buf = bytearray()
        self.backlog = []
        self.closed = False
        self.next_id = 1
        self.server_aliases = {}
        self.connack = None

    # ---- transport
    def send_raw(self, data):
        self.sock.sendall(data)

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    def abort(self):
        """Close with a TCP RST (no FIN): an abnormal network failure."""
        if not self.closed:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NoPacket("no packet within the deadline")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise NoPacket("no packet within the deadline") from None
        except (ConnectionResetError, BrokenPipeError):
            raise ConnectionClosed("connection reset by peer") from None
        if not chunk:
            raise ConnectionClosed("connection closed by peer")
        self.buf += chunk

    def _take_packet(self, deadline):
        while True:
            if len(self.buf) >= 2:
                try:
                    length, pos = decode_varint(self.buf, 1)
                except IndexError:
                    length = None
                if length is not None and len(self.buf) >= pos + length:
                    first = self.buf[0]
                    body = bytes(self.buf[pos:pos + length])
                    del self.buf[:pos + length]
                    return first >> 4, first & 0x0F, body
            self._fill(deadline)

    def _next_wire_packet(self, deadline):
        ptype, flags, body = self._take_packet(deadline)
        p = parse_packet(ptype, flags, body, self.version)
        if p.type == PUBLISH:
            self._resolve_alias(p)
            if self.auto_ack:
                if p.qos == 1:
                    self.send_raw(build_ack(PUBACK, p.packet_id, self.version))
                elif p.qos == 2:
                    self.send_raw(build_ack(PUBREC, p.packet_id, self.version))
        elif p.type == PUBREL and self.auto_ack:
            self.send_raw(build_ack(PUBCOMP, p.packet_id, self.version))
        return p

    def read_packet(self, timeout=None):
        if self.backlog:
            return self.backlog.pop(0)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        return self._next_wire_packet(deadline)

    def _resolve_alias(self, p):
        p.wire_topic = p.topic
        alias = p.props.get("topic_alias")
        if alias is None:
            return
        if p.topic:
            self.server_aliases[alias] = p.topic
        else:
            if alias not in self.server_aliases:
                raise AssertionError("server used unknown topic alias %d" % alias)
            p.topic = self.server_aliases[alias]

    def expect_packet(self, ptype, timeout=None):
        """Return the next packet of ptype; packets of other types are kept in the backlog."""
        for i, p in enumerate(self.backlog):
            if p.type == ptype:
                return self.backlog.pop(i)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            p = self._next_wire_packet(deadline)
            if p.type == ptype:
                return p
            self.backlog.append(p)

    def expect_closed(self, timeout=None):
        """Wait until the peer closes; return the packets that came before the close.

        Fails if the connection is still open after the timeout."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        got = list(self.backlog)
        self.backlog.clear()
        while True:
            try:
                ptype, flags, body = self._take_packet(deadline)
            except ConnectionClosed:
                self.close()
                return got
            except NoPacket:
                raise AssertionError("connection still open after the deadline; got %r" % got) from None
            try:
                got.append(parse_packet(ptype, flags, body, self.version))
            except (ValueError, IndexError) as exc:
                got.append(("unparsable", ptype, flags, body, str(exc)))

    def is_open(self, timeout=0.5):
        """Round-trip a PINGREQ: True if PINGRESP came back."""
        try:
            self.send_raw(build_pingreq())
            self.expect_packet(PINGRESP, timeout)
            return True
        except (ConnectionClosed, NoPacket, OSError):
            return False

    # ---- protocol helpers
    def new_packet_id(self):
        pid = self.next_id
        self.next_id = self.next_id % 65535 + 1
        return pid

    def connect(self, client_id=None, clean=True, keepalive=60, will=None, username=None,
                password=None, props=None, expect_success=True, timeout=None):
        """Send CONNECT and return the CONNACK (asserting success unless told not to)."""
        if client_id is None:
            client_id = self.client_id if self.client_id is not None else ""
        self.client_id = client_id
        self.send_raw(build_connect(client_id, self.version, clean, keepalive, will,
                                    username, password, props))
        ack = self.expect_packet(CONNACK, timeout)
        self.connack = ack
        if expect_success:
            assert ack.reason_code == 0, "CONNECT refused: %r" % ack
        return ack

    def subscribe(self, topics, qos=0, props=None, packet_id=None, timeout=None):
        """topics: a filter, or a list of filters or (filter, options) pairs. Returns SUBACK."""
        if isinstance(topics, str):
            topics = [topics]
        topics = [(t, qos) if isinstance(t, str) else t for t in topics]
        pid = packet_id if packet_id is not None else self.new_packet_id()
        self.send_raw(build_subscribe(pid, topics, self.version, props))
        ack = self.expect_packet(SUBACK, timeout)
        assert ack.packet_id == pid, "SUBACK for packet id %d, sent %d" % (ack.packet_id, pid)
        return ack

    def unsubscribe(self, topics, props=None, packet_id=None, timeout=None):
        if isinstance(topics, str):
            topics = [topics]
        pid = packet_id if packet_id is not None else self.new_packet_id()
        self.send_raw(build_unsubscribe(pid, topics, self.version, props))
        ack = self.expect_packet(UNSUBACK, timeout)
        assert ack.packet_id == pid
        return ack

    def publish(self, topic, payload=b"", qos=0, retain=False, props=None, packet_id=None,
                dup=False, wait=True, timeout=None):
        """Publish; for QoS 1 return the PUBACK, for QoS 2 the PUBCOMP (full flow).

        With wait=False only the PUBLISH is sent and its packet id returned."""
        pid = None
        if qos:
            pid = packet_id if packet_id is not None else self.new_packet_id()
        self.send_raw(build_publish(topic, payload, qos, retain, dup, pid, self.version, props))
        if not wait or qos == 0:
            return pid
        if qos == 1:
            ack = self.expect_packet(PUBACK, timeout)
            assert ack.packet_id == pid
            return ack
        rec = self.expect_packet(PUBREC, timeout)
        assert rec.packet_id == pid
        if self.version == 5 and rec.reason_code >= 0x80:
            return rec
        self.send_raw(build_ack(PUBREL, pid, self.version))
        comp = self.expect_packet(PUBCOMP, timeout)
        assert comp.packet_id == pid
        comp.pubrec = rec
        return comp

    def ping(self, timeout=None):
        self.send_raw(build_pingreq())
        return self.expect_packet(PINGRESP, timeout)

    def disconnect(self, reason_code=0, props=None, timeout=None):
        """Send DISCONNECT and wait for the server to close the connection.

        The close is the synchronisation point: after it the server has
        processed the DISCONNECT."""
        self.send_raw(build_disconnect(self.version, reason_code, props))
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        return self.expect_closed(timeout)

    def publishes_until(self, payload, timeout=None):
        """Read PUBLISH packets until one carries `payload`; return all of them in order.

        Other packet types are dropped (the auto-ack has answered them)."""
        if isinstance(payload, str):
            payload = payload.encode()
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        got = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NoPacket("sentinel %r not received; got %r" % (payload, got))
            p = self.read_packet(remaining)
            if p.type != PUBLISH:
                continue
            got.append(p)
            if p.payload == payload:
                return got


def connect(host, port, client_id="", version=4, **kwargs):
    """Open a Client and complete CONNECT/CONNACK. kwargs go to Client.connect()."""
    opts = {k: kwargs.pop(k) for k in ("timeout", "auto_ack") if k in kwargs}
    c = Client(host, port, version=version, client_id=client_id, **opts)
    try:
        c.connect(client_id, **kwargs)
    except BaseException:
        c.close()
        raise
    return c
