"""Crash safety: SIGKILL during QoS 1 and QoS 2 publishing loses nothing acknowledged.

A publisher with a persistent session pipelines QoS 1 and QoS 2 messages while
the broker is killed with SIGKILL several times and restarted on the same data
directory. It behaves like a real client: after each reconnect it resends its
unacknowledged PUBLISH packets (DUP, same packet id) and its PUBRELs.

Two persistent subscribers take every message at QoS 2: one stays online
(reconnecting after each kill, from its own thread), one is offline the whole
time and connects only at the end. Both must receive every message the broker
acknowledged to the publisher (PUBACK, or PUBREC for QoS 2), and each QoS 2
message exactly once: the subscribers follow MQTT 4.3.3 on their side (a QoS 2
packet id seen again before its PUBREL is the same message).
"""

import threading
import time

import pytest

import mqttraw as m
from conftest import HOST

MESSAGES = 240
KILL_AFTER = (45, 110, 175)  # publishes sent before each SIGKILL
WINDOW = 12  # publisher's unacknowledged messages in flight


def persistent_connect(broker, client_id, version):
    props = {"session_expiry_interval": 3600} if version == 5 else None
    return m.connect(HOST, broker.port, client_id, version, clean=False, props=props, timeout=2.0)


class Receiver:
    """QoS 2 receiver state that survives reconnects (MQTT 4.3.3, method B)."""

    def __init__(self):
        self.awaiting_pubrel = set()
        self.received = []  # payloads in arrival order, duplicates of QoS 1 included

    def handle(self, p):
        if p.type == m.PUBLISH:
            if p.qos == 2:
                if p.packet_id in self.awaiting_pubrel:
                    return  # the same message again: already delivered
                self.awaiting_pubrel.add(p.packet_id)
            self.received.append(p.payload)
        elif p.type == m.PUBREL:
            self.awaiting_pubrel.discard(p.packet_id)


class OnlineSubscriber(threading.Thread):
    def __init__(self, broker, client_id, version, topic):
        super().__init__(daemon=True)
        self.broker, self.client_id, self.version, self.topic = broker, client_id, version, topic
        self.receiver = Receiver()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.error = None
        self.client = persistent_connect(broker, client_id, version)
        self.client.subscribe(topic, qos=2)

    def payloads(self):
        with self.lock:
            return list(self.receiver.received)

    def run(self):
        try:
            while not self.stop.is_set():
                try:
                    p = self.client.read_packet(timeout=0.2)
                except m.NoPacket:
                    continue
                except (m.ConnectionClosed, OSError):
                    self.client.close()
                    self.client = self._reconnect()
                    continue
                with self.lock:
                    self.receiver.handle(p)
        except Exception as exc:  # reported by the test
            self.error = exc
        finally:
            self.client.close()

    def _reconnect(self):
        deadline = time.monotonic() + 15
        while not self.stop.is_set():
            try:
                return persistent_connect(self.broker, self.client_id, self.version)
            except (OSError, m.ConnectionClosed, m.NoPacket, AssertionError):
                if time.monotonic() > deadline:
                    raise AssertionError("online subscriber could not reconnect for 15 s")
                self.stop.wait(0.02)  # retry interval of a bounded reconnect loop
        raise AssertionError("stopped")


class Publisher:
    def __init__(self, broker, client_id, version, topic):
        self.broker, self.client_id, self.version, self.topic = broker, client_id, version, topic
        self.unacked = {}  # packet id -> [payload, qos, stage]; stage "publish" or "pubrel"
        self.acked = {}  # payload -> qos
        self.next_id = 1
        self.client = persistent_connect(broker, client_id, version)

    def _new_packet_id(self):
        while self.next_id in self.unacked or self.next_id == 0:
            self.next_id = self.next_id % 65535 + 1
        pid = self.next_id
        self.next_id = self.next_id % 65535 + 1
        return pid

    def send(self, index):
        qos = 1 if index % 2 else 2
        payload = b"msg-%04d-q%d" % (index, qos)
        pid = self._new_packet_id()
        self.unacked[pid] = [payload, qos, "publish"]
        self.client.send_raw(m.build_publish(self.topic, payload, qos, packet_id=pid, version=self.version))

    def reconnect_and_resend(self):
        self.client.close()
        self.client = persistent_connect(self.broker, self.client_id, self.version)
        assert self.client.connack.session_present, "publisher session lost across SIGKILL"
        for pid, (payload, qos, stage) in sorted(self.unacked.items()):
            if stage == "publish":
                self.client.send_raw(m.build_publish(self.topic, payload, qos, dup=True, packet_id=pid,
                                                     version=self.version))
            else:
                self.client.send_raw(m.build_ack(m.PUBREL, pid, self.version))

    def handle_one(self, timeout):
        p = self.client.read_packet(timeout=timeout)
        entry = self.unacked.get(p.packet_id) if hasattr(p, "packet_id") else None
        if p.type == m.PUBACK and entry and entry[1] == 1:
            assert getattr(p, "reason_code", 0) < 0x80, "publish refused: %r" % p
            self.acked[entry[0]] = 1
            del self.unacked[p.packet_id]
        elif p.type == m.PUBREC and entry and entry[1] == 2:
            assert getattr(p, "reason_code", 0) < 0x80, "publish refused: %r" % p
            self.acked[entry[0]] = 2  # PUBREC: the broker owns the message now
            entry[2] = "pubrel"
            self.client.send_raw(m.build_ack(m.PUBREL, p.packet_id, self.version))
        elif p.type == m.PUBCOMP and entry and entry[2] == "pubrel":
            del self.unacked[p.packet_id]


def wait_until(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.02)  # poll interval of a bounded wait on another thread's progress


@pytest.mark.tidegate_only(reason="mosquitto persists only at exit or autosave and loses acknowledged "
                                  "messages on SIGKILL (the behaviour this test exists to rule out)")
@pytest.mark.parametrize("durability", ["os", "fsync"])
def test_sigkill_during_publishing_loses_nothing_acknowledged(make_broker, version, uid, durability):
    broker = make_broker(durability=durability)
    topic = "crash/" + uid
    # The offline subscriber's session and subscription exist before the first message.
    offline = persistent_connect(broker, uid + "-offline", version)
    offline.subscribe(topic, qos=2)
    offline.disconnect()
    online = OnlineSubscriber(broker, uid + "-online", version, topic)
    online.start()
    publisher = Publisher(broker, uid + "-pub", version, topic)

    sent = 0
    kills = list(KILL_AFTER)
    in_flight_at_kill = []
    try:
        while sent < MESSAGES or publisher.unacked:
            if kills and sent >= kills[0]:
                kills.pop(0)
                in_flight_at_kill.append(len(publisher.unacked))
                broker.stop(kill=True)
                broker.start()
                publisher.reconnect_and_resend()
            while sent < MESSAGES and len(publisher.unacked) < WINDOW and not (kills and sent >= kills[0]):
                publisher.send(sent)
                sent += 1
            try:
                publisher.handle_one(timeout=5.0)
            except m.NoPacket:
                raise AssertionError("broker stopped acknowledging; unacked %r" % publisher.unacked)

        acked = publisher.acked
        assert len(acked) == MESSAGES
        # The kills must land mid-flight, or this test would prove nothing.
        assert sum(in_flight_at_kill) > 0, in_flight_at_kill

        wait_until(lambda: set(acked) <= set(online.payloads()), 15, "the online subscriber")
        online.stop.set()
        online.join(5)
        assert online.error is None, online.error

        receiver = Receiver()
        offline = persistent_connect(broker, uid + "-offline", version)
        assert offline.connack.session_present
        deadline = time.monotonic() + 15
        while not set(acked) <= set(receiver.received):
            try:
                receiver.handle(offline.read_packet(timeout=max(0.1, deadline - time.monotonic())))
            except m.NoPacket:
                missing = sorted(set(acked) - set(receiver.received))
                raise AssertionError("offline subscriber is missing %d acknowledged messages: %r"
                                     % (len(missing), missing[:10]))
        offline.close()

        for name, received in (("online", online.payloads()), ("offline", receiver.received)):
            qos2 = [p for p in received if p.endswith(b"q2")]
            duplicates = sorted({p for p in qos2 if qos2.count(p) > 1})
            assert not duplicates, "%s subscriber got QoS 2 messages twice: %r" % (name, duplicates[:10])
    finally:
        online.stop.set()
        publisher.client.close()
