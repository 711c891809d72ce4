"""The last word reaches the client: after a DISCONNECT with a reason code or a
refusing CONNACK, the gateway shuts its write side and reads (and discards)
what the client still sends, for a bounded time, before it closes
(docs/durability.md, "Closing a connection"). Without that, bytes arriving
after the close make the kernel answer with a reset, the client's writes fail
and its unread input is discarded: it never learns the reason code.

Each test keeps sending after the gateway's answer, as a client that pipelines
does, and only then reads.
"""

import socket
import time

import pytest

import mqttraw as m

# What the client sends after the gateway's answer: CHUNKS chunks of CHUNK bytes,
# PACE seconds apart (about 0.6 s and 190 KiB, inside the gateway's linger bound).
CHUNK = 6000
CHUNKS = 32
PACE = 0.02


def keep_sending(c, chunk):
    """Sends CHUNKS chunks, paced: True when every send succeeded, else the error."""
    for _ in range(CHUNKS):
        try:
            c.sock.sendall(chunk)
        except OSError as e:  # a reset: BrokenPipeError / ConnectionResetError
            return e
        time.sleep(PACE)  # pacing of the sender, not a synchronisation
    return True


def read_to_end(c, timeout=5.0):
    """Everything the gateway sent until it closed: (packets, how it ended)."""
    data = bytearray()
    deadline = time.monotonic() + timeout
    ended = "timeout"
    while time.monotonic() < deadline:
        c.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = c.sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            ended = "reset"
            break
        except OSError as e:  # TLS: an end without close_notify
            ended = repr(e)
            break
        if not chunk:
            ended = "eof"
            break
        data += chunk
    return parse_all(data, c.version), ended


def parse_all(data, version):
    """The packets in `data`, which holds whole packets only."""
    packets = []
    pos = 0
    while pos < len(data):
        length, body_at = m.decode_varint(data, pos + 1)
        first = data[pos]
        packets.append(m.parse_packet(first >> 4, first & 0x0F, bytes(data[body_at:body_at + length]), version))
        pos = body_at + length
    return packets


def publishes(uid, count, first_id=1):
    return b"".join(m.build_publish("flood/" + uid, b"x" * 100, qos=1, packet_id=first_id + i, version=5)
                    for i in range(count))


# A linger well past the ~0.7 s of sending below: these tests are about the
# orderly close (a stall of a slow CI run must not turn it into a reset); the
# bound itself is test_linger_is_bounded_and_counted's.
SLOW_RUN_LINGER_MS = 10000


@pytest.mark.tidegate_only(reason="the linger after a DISCONNECT is tidegate's delivery policy")
@pytest.mark.broker_config(receive_maximum=2, close_linger_ms=SLOW_RUN_LINGER_MS)
def test_receive_maximum_disconnect_reaches_a_client_that_keeps_sending(broker, uid):
    """More QoS 1 publishes in flight than Receive Maximum: DISCONNECT 0x93 [MQTT-3.3.4-9].
    The client sends on and reads only afterwards: its sends succeed, and it reads
    the DISCONNECT, then an orderly end of stream, not a reset."""
    c = broker.connect(uid, 5, auto_ack=False)
    assert c.connack.props.get("receive_maximum") == 2
    c.send_raw(publishes(uid, 50))
    sent = keep_sending(c, publishes(uid, CHUNK // 110, first_id=100))
    assert sent is True, "the gateway reset the connection while the client was sending: %r" % sent
    packets, ended = read_to_end(c)
    assert ended == "eof", "the connection ended with a %s after %r" % (ended, packets)
    assert packets and packets[-1].type == m.DISCONNECT, packets
    assert packets[-1].reason_code == m.RC_RECEIVE_MAXIMUM_EXCEEDED, packets[-1]
    assert all(p.type == m.PUBACK for p in packets[:-1]), packets


@pytest.mark.tidegate_only(reason="the linger after a refusing CONNACK is tidegate's delivery policy")
@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.broker_config(close_linger_ms=SLOW_RUN_LINGER_MS)
def test_connack_refusal_reaches_a_client_that_pipelines(broker, uid, version):
    """A client that sends its publishes right behind CONNECT is refused (a
    client id under the reserved "$bridge/"): it reads the refusing CONNACK,
    then the end of stream. The publishes behind the refused CONNECT are not
    acted on [MQTT-3.1.4-6]: a subscriber gets none of them."""
    topic = "pipe/" + uid
    sub = broker.connect(uid + "-sub", version)
    sub.subscribe(topic, qos=0)
    c = broker.client(version)
    c.send_raw(m.build_connect("$bridge/" + uid, version))
    sent = keep_sending(c, b"".join(m.build_publish(topic, b"x" * 100, qos=0, version=version)
                                    for _ in range(CHUNK // 110)))
    assert sent is True, "the gateway reset the connection while the client was sending: %r" % sent
    packets, ended = read_to_end(c)
    assert ended == "eof", "the connection ended with a %s after %r" % (ended, packets)
    assert [p.type for p in packets] == [m.CONNACK], packets
    assert packets[0].reason_code in (m.CONNACK_IDENTIFIER_REJECTED, m.RC_CLIENT_ID_NOT_VALID), packets[0]
    sub.ping()
    assert [p for p in sub.backlog if p.type == m.PUBLISH] == []


def _connections(admin_port):
    import json
    import urllib.request
    from conftest import HOST
    with urllib.request.urlopen("http://%s:%d/api/v1/stats" % (HOST, admin_port), timeout=5) as r:
        return json.loads(r.read())["connections"]


@pytest.mark.tidegate_only(reason="the linger's bounds are tidegate's policy; admin API")
@pytest.mark.parametrize("client", ["silent", "flooding"])
def test_linger_is_bounded_and_counted(make_broker, uid, client):
    """A client that neither closes nor stops sending cannot hold a closing
    connection: close_linger_ms (here 1 s) after the DISCONNECT, or after
    close_linger_max_bytes (default 1 MiB) discarded, the gateway closes the
    socket, and counts it in close_linger_cut."""
    from conftest import HOST, free_port
    admin_port = free_port()
    broker = make_broker(receive_maximum=2, close_linger_ms=1000, admin={"bind": HOST, "port": admin_port})
    c = broker.connect(uid, 5, auto_ack=False)
    before = _connections(admin_port)
    assert before["close_linger_cut"] == 0, before
    c.send_raw(publishes(uid, 50))
    started = time.monotonic()
    if client == "flooding":
        # 4 MiB as fast as the gateway reads: past the 1 MiB bound well within 1 s.
        # The gateway closes while this still sends: a reset is the expected end.
        try:
            c.sock.sendall(b"\x00" * (4 << 20))
        except OSError:
            pass
    # The connection leaves the open count within the bound (plus slack for a loaded machine).
    deadline = started + 5
    while _connections(admin_port)["open"] > 0:
        assert time.monotonic() < deadline, _connections(admin_port)
        time.sleep(0.05)  # poll interval of a bounded wait
    after = _connections(admin_port)
    assert after["close_linger_cut"] == 1, after
    if client == "silent":
        # The client read nothing and closed nothing; the gateway ended it by itself.
        assert time.monotonic() - started >= 0.9, "closed before the linger's time bound"
