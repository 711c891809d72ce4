"""TLS, mutual TLS and WebSocket listeners (docs/security.md), driven by real
clients: mosquitto_pub/mosquitto_sub with --cafile/--cert/--key, Python's ssl
module under the raw MQTT client, paho-mqtt over WebSocket, and a raw WebSocket
wrapper that controls how MQTT packets fall into frames."""

import base64
import os
import signal
import socket
import ssl
import struct
import subprocess
import time

import pytest

import mqttraw as m
from conftest import HOST, free_port

pytestmark = pytest.mark.tidegate_only(reason="tidegate listener config (JSON)")


# ---------------------------------------------------------------- certificates

def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, timeout=30,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Pki:
    """A CA, a server certificate for 127.0.0.1, and client certificates."""

    def __init__(self, directory, name="ca"):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca = str(self.dir / (name + ".crt"))
        self.ca_key = str(self.dir / (name + ".key"))
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-" + name,
                "-keyout", self.ca_key, "-out", self.ca, cwd=self.dir)

    def issue(self, stem, cn, server=False):
        key, csr, crt = (str(self.dir / (stem + ext)) for ext in (".key", ".csr", ".crt"))
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + cn, "-keyout", key, "-out", csr,
                cwd=self.dir)
        ext = self.dir / (stem + ".ext")
        ext.write_text("subjectAltName=IP:127.0.0.1\n" if server else "extendedKeyUsage=clientAuth\n")
        openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key, "-CAcreateserial",
                "-days", "2", "-out", crt, "-extfile", str(ext), cwd=self.dir)
        return crt, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    base = tmp_path_factory.mktemp("pki")
    good = Pki(base / "good")
    other = Pki(base / "other", "other-ca")
    good.server = good.issue("server", "localhost", server=True)
    good.device = good.issue("device", "device-17")
    other.device = other.issue("device", "device-17")
    return good, other


def tls_listener(port, pki, **extra):
    crt, key = pki.server
    listener = {"protocol": "mqtts", "bind": HOST, "port": port, "cert": crt, "key": key}
    listener.update(extra)
    return listener


def tls_client(broker, port, ca, cert=None, version=5):
    context = ssl.create_default_context(cafile=ca)
    if cert:
        context.load_cert_chain(*cert)
    raw = socket.create_connection((HOST, port), timeout=5)
    sock = context.wrap_socket(raw, server_hostname=HOST)
    c = m.Client(HOST, port, version=version, sock=sock)
    broker.clients.append(c)
    return c


def wait_for_port(port):
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            assert time.monotonic() < deadline, "listener on %d never came up" % port
            time.sleep(0.02)  # poll interval of a bounded readiness wait


def mosquitto_client(tool, port, pki_ca, *args, timeout=10):
    return subprocess.run([tool, "-h", HOST, "-p", str(port), "--cafile", pki_ca] + list(args),
                          capture_output=True, timeout=timeout)


# ---------------------------------------------------------------- TLS

def test_mqtts_round_trip_with_mosquitto_clients(make_broker, pki, uid):
    good, _ = pki
    port = free_port()
    broker = make_broker(listeners=[tls_listener(port, good)])
    wait_for_port(port)
    sub = subprocess.Popen(["mosquitto_sub", "-h", HOST, "-p", str(port), "--cafile", good.ca, "-t", "tls/" + uid,
                            "-C", "1", "-V", "5", "-q", "1", "-i", uid + "-sub"], stdout=subprocess.PIPE)
    try:
        # Wait until the subscription exists: a retained-free sentinel loop would need a
        # second subscriber; instead the publisher retries until the subscriber got one.
        deadline = time.monotonic() + 10
        while sub.poll() is None and time.monotonic() < deadline:
            pub = mosquitto_client("mosquitto_pub", port, good.ca, "-t", "tls/" + uid, "-m", "over-tls",
                                   "-q", "1", "-V", "311")
            assert pub.returncode == 0, pub.stderr
            try:
                sub.wait(0.2)
            except subprocess.TimeoutExpired:
                pass
        assert sub.wait(5) == 0
        assert sub.stdout.read().strip() == b"over-tls"
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()


def test_untrusted_server_certificate_is_refused_by_the_client(make_broker, pki, uid):
    good, other = pki
    port = free_port()
    make_broker(listeners=[tls_listener(port, good)])
    wait_for_port(port)
    bad = mosquitto_client("mosquitto_pub", port, other.ca, "-t", "x", "-m", "x")
    assert bad.returncode != 0
    ok = mosquitto_client("mosquitto_pub", port, good.ca, "-t", "x", "-m", "x")
    assert ok.returncode == 0, ok.stderr


def test_mutual_tls_requires_a_certificate_from_our_ca(make_broker, pki, uid):
    good, other = pki
    port = free_port()
    make_broker(listeners=[tls_listener(port, good, ca=good.ca, require_certificate=True)])
    wait_for_port(port)
    assert mosquitto_client("mosquitto_pub", port, good.ca, "-t", "x", "-m", "x").returncode != 0
    foreign = mosquitto_client("mosquitto_pub", port, good.ca, "--cert", other.device[0], "--key", other.device[1],
                               "-t", "x", "-m", "x")
    assert foreign.returncode != 0
    ours = mosquitto_client("mosquitto_pub", port, good.ca, "--cert", good.device[0], "--key", good.device[1],
                            "-t", "x", "-m", "x", "-q", "1")
    assert ours.returncode == 0, ours.stderr


def test_certificate_common_name_as_username_with_acl(make_broker, pki, tmp_path, uid):
    good, _ = pki
    acl = tmp_path / "acl"
    acl.write_text("user device-17\ntopic readwrite d17/#\n")
    port = free_port()
    broker = make_broker(acl_file=str(acl), allow_anonymous=False,
                         listeners=[tls_listener(port, good, ca=good.ca, require_certificate=True,
                                                 use_identity_as_username=True)])
    wait_for_port(port)
    c = tls_client(broker, port, good.ca, cert=good.device)
    assert c.connect(uid).reason_code == 0
    assert c.publish("d17/temp", b"21", qos=1).reason_code < 0x80
    assert c.publish("d18/temp", b"21", qos=1).reason_code == 0x87


def test_sighup_reloads_certificates_without_dropping_connections(make_broker, pki, tmp_path, uid):
    good, other = pki
    crt, key = tmp_path / "server.crt", tmp_path / "server.key"
    crt.write_bytes(open(good.server[0], "rb").read())
    key.write_bytes(open(good.server[1], "rb").read())
    port = free_port()
    broker = make_broker(listeners=[{"protocol": "mqtts", "bind": HOST, "port": port, "cert": str(crt),
                                     "key": str(key)}])
    wait_for_port(port)
    before = tls_client(broker, port, good.ca)
    before.connect(uid + "-before")

    other.server = other.issue("server", "localhost", server=True)
    crt.write_bytes(open(other.server[0], "rb").read())
    key.write_bytes(open(other.server[1], "rb").read())
    os.kill(broker.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "certificates reloaded" not in broker.log_tail(100):
        assert time.monotonic() < deadline, "no reload logged"
        time.sleep(0.02)  # poll interval of a bounded wait for a log line

    with pytest.raises(ssl.SSLError):
        tls_client(broker, port, good.ca)
    after = tls_client(broker, port, other.ca)
    assert after.connect(uid + "-after").reason_code == 0
    assert before.ping().type == m.PINGRESP, "the connection made before the reload was dropped"


def test_bad_certificate_path_is_refused_with_its_key(make_broker, tmp_path):
    from conftest import Broker, TARGET
    b = Broker(TARGET, {"listeners": [{"protocol": "mqtts", "bind": HOST, "port": free_port(),
                                       "cert": "/nonexistent.crt", "key": "/nonexistent.key"}]},
               tmp_path / "bad")
    with pytest.raises(RuntimeError):
        b.start()
    b.proc.wait(5)
    assert b.proc.returncode == 2
    assert "listeners[1].cert: cannot read /nonexistent.crt" in b.log_tail()


@pytest.mark.tidegate_only(reason="the linger after a DISCONNECT is tidegate's delivery policy")
def test_tls_disconnect_reaches_a_client_that_keeps_sending(make_broker, pki, uid):
    """Over TLS, too, a client that floods past Receive Maximum and sends on reads
    the DISCONNECT 0x93, then the gateway's close_notify (an orderly end of
    the TLS stream: recv() returns b""), not a reset (docs/durability.md)."""
    from test_close_delivery import CHUNK, SLOW_RUN_LINGER_MS, keep_sending, publishes, read_to_end
    good, _ = pki
    port = free_port()
    broker = make_broker(receive_maximum=2, close_linger_ms=SLOW_RUN_LINGER_MS, listeners=[tls_listener(port, good)])
    wait_for_port(port)
    # Ragged EOFs not suppressed nor ignored: recv() returns b"" only after close_notify.
    context = ssl.create_default_context(cafile=good.ca)
    context.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    tls = context.wrap_socket(socket.create_connection((HOST, port), timeout=5), server_hostname=HOST,
                              suppress_ragged_eofs=False)
    c = m.Client(HOST, port, version=5, sock=tls)
    broker.clients.append(c)
    c.connect(uid)
    c.send_raw(publishes(uid, 50))
    sent = keep_sending(c, publishes(uid, CHUNK // 110, first_id=100))
    assert sent is True, "the gateway reset the connection while the client was sending: %r" % sent
    packets, ended = read_to_end(c)
    assert ended == "eof", "the connection ended with %s after %r" % (ended, packets)
    assert packets and packets[-1].type == m.DISCONNECT, packets
    assert packets[-1].reason_code == m.RC_RECEIVE_MAXIMUM_EXCEEDED, packets[-1]


# ---------------------------------------------------------------- WebSocket

class WebSocket:
    """A socket-like MQTT-over-WebSocket client: sendall() sends one binary frame."""

    def __init__(self, port, path="/mqtt", protocol="mqtt", sock=None):
        self.sock = sock or socket.create_connection((HOST, port), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        request = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n" % (path, HOST, port, key))
        if protocol:
            request += "Sec-WebSocket-Protocol: %s\r\n" % protocol
        self.sock.sendall((request + "\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            head += chunk
        self.response, _, self.pending = head.partition(b"\r\n\r\n")
        self.status = int(self.response.split(b" ")[1]) if self.response else 0
        self.data = bytearray()

    def sendall(self, payload, fin=True, opcode=2):
        mask = os.urandom(4)
        header = bytes([(0x80 if fin else 0) | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + body)

    def _read(self, n):
        while len(self.pending) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("closed")
            self.pending += chunk
        out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def recv(self, _n):
        while not self.data:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(n)
            if b0 & 0x0F == 8:  # close frame
                return b""
            if b0 & 0x0F in (0, 2):
                self.data += payload
        out, self.data = bytes(self.data), bytearray()
        return out

    def settimeout(self, t):
        self.sock.settimeout(t)

    def setsockopt(self, *a):
        self.sock.setsockopt(*a)

    def shutdown(self, how):
        self.sock.shutdown(how)

    def close(self):
        self.sock.close()


def ws_broker(make_broker, **extra):
    port = free_port()
    listener = {"protocol": "ws", "bind": HOST, "port": port, "path": "/mqtt"}
    listener.update(extra)
    broker = make_broker(listeners=[listener])
    wait_for_port(port)
    return broker, port


def test_websocket_selects_mqtt_subprotocol_and_checks_path(make_broker):
    broker, port = ws_broker(make_broker)
    ok = WebSocket(port)
    assert ok.status == 101
    assert b"sec-websocket-protocol: mqtt" in ok.response.lower()
    ok.close()
    assert WebSocket(port, path="/other").status == 404
    assert WebSocket(port, protocol="chat").status == 400


def test_websocket_packets_across_and_within_frames(make_broker, version, uid):
    broker, port = ws_broker(make_broker)
    ws = WebSocket(port)
    c = m.Client(HOST, port, version=version, sock=ws)
    broker.clients.append(c)
    # CONNECT and SUBSCRIBE in one WebSocket message.
    ws.sendall(m.build_connect(uid, version, True, 60) +
               m.build_subscribe(1, [("wsf/" + uid, 1)], version))
    assert c.expect_packet(m.CONNACK).reason_code == 0
    assert c.expect_packet(m.SUBACK).packet_id == 1
    # One PUBLISH split over three messages.
    packet = m.build_publish("wsf/" + uid, b"split-payload", 1, packet_id=2, version=version)
    for part in (packet[:3], packet[3:10], packet[10:]):
        ws.sendall(part)
    assert c.expect_packet(m.PUBACK).packet_id == 2
    assert c.expect_packet(m.PUBLISH).payload == b"split-payload"


def test_websocket_text_frame_closes_connection(make_broker, version, uid):
    """MQTT travels in binary WebSocket messages only: a packet in a text message
    closes the connection, unanswered (MQTT-6.0.0-1)."""
    broker, port = ws_broker(make_broker)
    ws = WebSocket(port)
    c = m.Client(HOST, port, version=version, sock=ws)
    broker.clients.append(c)
    assert c.connect(uid).reason_code == 0
    topic = "wstext/" + uid
    sub = broker.connect(uid + "-sub", version)
    sub.subscribe(topic, qos=0)
    # A QoS 0 PUBLISH whose bytes are valid UTF-8, so that only the frame type is wrong.
    packet = m.build_publish(topic, b"as text", version=version)
    packet.decode("utf-8")
    ws.sendall(packet, opcode=1)
    assert c.expect_closed(timeout=3) == []
    broker.connect(uid + "-pub", version).publish(topic, b"as binary", qos=1)
    assert sub.expect_packet(m.PUBLISH).payload == b"as binary"  # the text one went nowhere


@pytest.mark.parametrize("when", ["connect", "after-connack"])
def test_websocket_text_frame_closes_the_connection(make_broker, uid, when):
    """MQTT packets travel in binary frames only; on any other data frame the
    receiver closes the network connection [MQTT-6.0.0-1]. The MQTT bytes in
    the text frame (valid UTF-8, so only the frame type is wrong) are not
    acted on: no CONNACK; no PUBLISH to the client's own subscription."""
    broker, port = ws_broker(make_broker)
    ws = WebSocket(port)
    c = m.Client(HOST, port, version=4, sock=ws)
    broker.clients.append(c)
    if when == "connect":
        ws.sendall(m.build_connect(uid, 4, True, 60), opcode=1)
    else:
        ws.sendall(m.build_connect(uid, 4, True, 60))
        assert c.expect_packet(m.CONNACK).reason_code == 0
        assert c.subscribe("wstext/" + uid, qos=0).reason_codes == [0]
        ws.sendall(m.build_publish("wstext/" + uid, b"in-a-text-frame", 0), opcode=1)
    assert c.expect_closed(timeout=5) == []
    assert broker.connect(uid + "-after", 4).is_open(), "the gateway keeps serving others"


def test_paho_over_websocket_round_trip(make_broker, uid):
    import paho.mqtt.client as paho
    broker, port = ws_broker(make_broker)
    got = []
    client = paho.Client(client_id=uid, transport="websockets", protocol=paho.MQTTv5)
    client.ws_set_options(path="/mqtt")
    client.on_message = lambda c, u, msg: got.append(msg.payload)
    client.connect(HOST, port, keepalive=30)
    client.loop_start()
    try:
        subscribed = client.subscribe("paho/" + uid, qos=1)
        assert subscribed[0] == 0
        deadline = time.monotonic() + 10
        # Publish until the subscription (acknowledged asynchronously) delivers one.
        while not got:
            assert time.monotonic() < deadline, "nothing came back over WebSocket"
            client.publish("paho/" + uid, b"via-ws", qos=1).wait_for_publish(timeout=5)
            time.sleep(0.05)  # poll interval: paho delivers on its own thread
        assert got[0] == b"via-ws"
    finally:
        client.loop_stop()
        client.disconnect()


@pytest.mark.tidegate_only(reason="the linger after a DISCONNECT is tidegate's delivery policy")
def test_wss_disconnect_reaches_a_client_that_keeps_sending(make_broker, pki, uid):
    """WebSocket over TLS: a client that floods past Receive Maximum and sends
    on reads the DISCONNECT 0x93 and then the gateway's close_notify (the TLS
    stream ends in order), not a reset (docs/durability.md)."""
    from test_close_delivery import CHUNK, SLOW_RUN_LINGER_MS, keep_sending, parse_all, publishes
    good, _ = pki
    port = free_port()
    crt, key = good.server
    broker = make_broker(receive_maximum=2, close_linger_ms=SLOW_RUN_LINGER_MS,
                         listeners=[{"protocol": "wss", "bind": HOST, "port": port, "cert": crt, "key": key}])
    wait_for_port(port)
    # Ragged EOFs not suppressed nor ignored: the TLS stream ends quietly only after close_notify.
    context = ssl.create_default_context(cafile=good.ca)
    context.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    tls = context.wrap_socket(socket.create_connection((HOST, port), timeout=5), server_hostname=HOST,
                              suppress_ragged_eofs=False)
    ws = WebSocket(port, sock=tls)
    c = m.Client(HOST, port, version=5, sock=ws, auto_ack=False)
    broker.clients.append(c)
    assert c.connect(uid).reason_code == 0
    ws.sendall(publishes(uid, 50))
    sent = keep_sending(c, publishes(uid, CHUNK // 110, first_id=100))
    assert sent is True, "the gateway reset the connection while the client was sending: %r" % sent
    # Frames up to the end of the TLS stream. An orderly end (close_notify):
    # the WebSocket helper raises ConnectionResetError("closed"); a reset raises
    # it with an errno, an end without close_notify raises ssl.SSLEOFError.
    data = bytearray()
    tls.settimeout(5)
    while True:
        try:
            data += ws.recv(65536)
        except ConnectionResetError as e:
            assert e.args == ("closed",), "the connection ended with %r after %r" % (e, bytes(data))
            break
    packets = parse_all(data, 5)
    assert packets and packets[-1].type == m.DISCONNECT, packets
    assert packets[-1].reason_code == m.RC_RECEIVE_MAXIMUM_EXCEEDED, packets[-1]


def test_wss_round_trip(make_broker, pki, uid):
    good, _ = pki
    port = free_port()
    crt, key = good.server
    broker = make_broker(listeners=[{"protocol": "wss", "bind": HOST, "port": port, "cert": crt, "key": key}])
    wait_for_port(port)
    context = ssl.create_default_context(cafile=good.ca)
    tls = context.wrap_socket(socket.create_connection((HOST, port), timeout=5), server_hostname=HOST)
    ws = WebSocket(port, sock=tls)
    assert ws.status == 101
    c = m.Client(HOST, port, version=5, sock=ws)
    broker.clients.append(c)
    assert c.connect(uid).reason_code == 0
    c.subscribe("wss/" + uid, qos=1)
    c.publish("wss/" + uid, b"secure", qos=1)
    assert c.expect_packet(m.PUBLISH).payload == b"secure"
