"""Interoperability with real client implementations: mosquitto_pub / mosquitto_sub
(libmosquitto) and paho-mqtt, for MQTT 3.1.1 and 5.0."""

import os
import select
import shutil
import subprocess
import threading
import time

import pytest

import mqttraw as m

CLI_TIMEOUT = 5.0
VERSIONS = [pytest.param("311", id="v311"), pytest.param("5", id="v5")]

pytestmark = pytest.mark.skipif(shutil.which("mosquitto_sub") is None, reason="mosquitto-clients not installed")


class CliSub:
    """mosquitto_sub with debug output, so that SUBACK is observable (the readiness signal)."""

    def __init__(self, procs, broker, topic, version, qos=2, extra=()):
        cmd = ["stdbuf", "-oL", "mosquitto_sub", "-h", broker.host, "-p", str(broker.port),
               "-V", version, "-q", str(qos), "-t", topic, "-d",
               "-F", "MSG|%t|%q|%r|%p", "-W", "15"] + list(extra)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        procs.append(self.proc)
        self.buf = b""
        self.lines = []

    def _read_line(self, deadline):
        while b"\n" not in self.buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("mosquitto_sub: no output in time; so far %r" % self.lines)
            ready, _, _ = select.select([self.proc.stdout], [], [], remaining)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    raise AssertionError("mosquitto_sub exited (%s); output %r" % (self.proc.poll(), self.lines))
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        line = line.decode("utf-8", "replace")
        self.lines.append(line)
        return line

    def wait_subscribed(self, timeout=CLI_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            line = self._read_line(deadline)
            if line.startswith("Subscribed"):
                return line

    def messages_until(self, payload, timeout=CLI_TIMEOUT):
        """(topic, qos, retain, payload) tuples up to and including `payload`."""
        deadline = time.monotonic() + timeout
        got = []
        while True:
            line = self._read_line(deadline)
            if line.startswith("MSG|"):
                _, topic, qos, retain, body = line.split("|", 4)
                got.append((topic, int(qos), int(retain), body))
                if body == payload:
                    return got


def cli_pub(broker, version, topic, message, qos=0, extra=()):
    cmd = ["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-V", version,
           "-t", topic, "-q", str(qos)] + (["-n"] if message is None else ["-m", message]) + list(extra)
    res = subprocess.run(cmd, capture_output=True, timeout=CLI_TIMEOUT)
    assert res.returncode == 0, res.stderr.decode()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_cli_pub_to_cli_sub(broker, procs, uid, version, qos):
    topic = "cli/%s/%d" % (uid, qos)
    sub = CliSub(procs, broker, topic, version, qos=2)
    assert sub.wait_subscribed().endswith(": 2")
    cli_pub(broker, version, topic, "hello-q%d" % qos, qos=qos)
    assert sub.messages_until("hello-q%d" % qos) == [(topic, qos, 0, "hello-q%d" % qos)]


@pytest.mark.parametrize("version", VERSIONS)
def test_cli_retained_set_and_clear(broker, procs, uid, version):
    topic = "cliret/" + uid
    cli_pub(broker, version, topic, "kept", qos=1, extra=["-r"])
    sub = CliSub(procs, broker, topic, version, qos=1)
    assert sub.messages_until("kept") == [(topic, 1, 1, "kept")]
    cli_pub(broker, version, topic, None, qos=1, extra=["-r"])  # -n -r: clear
    late = CliSub(procs, broker, topic, version, qos=1)
    late.wait_subscribed()
    cli_pub(broker, version, topic, "sentinel", qos=1)
    assert late.messages_until("sentinel") == [(topic, 1, 0, "sentinel")]


@pytest.mark.parametrize("version", VERSIONS)
def test_raw_publisher_to_cli_subscriber(broker, procs, uid, version):
    topic = "clirs/" + uid
    sub = CliSub(procs, broker, "clirs/+", version, qos=1)
    sub.wait_subscribed()
    pub = broker.connect(uid + "-p", 5 if version == "5" else 4)
    pub.publish(topic, b"from-raw", qos=2)
    assert sub.messages_until("from-raw") == [(topic, 1, 0, "from-raw")]


def test_cli_v5_properties_reach_raw_subscriber(broker, uid):
    topic = "cliprops/" + uid
    sub = broker.connect(uid + "-s", 5)
    sub.subscribe(topic, qos=1)
    cli_pub(broker, "5", topic, "props", qos=1, extra=[
        "-D", "publish", "user-property", "first", "1",
        "-D", "publish", "user-property", "second", "2",
        "-D", "publish", "content-type", "text/plain",
        "-D", "publish", "response-topic", "cli/reply",
        "-D", "publish", "correlation-data", "c0ffee",
    ])
    p = sub.expect_packet(m.PUBLISH)
    assert p.payload == b"props"
    assert p.props.get("user_property") == [("first", "1"), ("second", "2")]
    assert p.props.get("content_type") == "text/plain"
    assert p.props.get("response_topic") == "cli/reply"
    assert p.props.get("correlation_data") == b"c0ffee"


@pytest.mark.parametrize("version", VERSIONS)
def test_cli_persistent_session_gets_offline_messages(broker, procs, uid, version):
    topic = "clisess/" + uid
    cid = uid[-20:] + "c"
    session = ["-c", "-i", cid] + (["-x", "300"] if version == "5" else [])
    sub = CliSub(procs, broker, topic, version, qos=1, extra=session + ["-C", "1"])
    sub.wait_subscribed()
    cli_pub(broker, version, topic, "online", qos=1)
    assert sub.messages_until("online")[-1][3] == "online"
    assert sub.proc.wait(CLI_TIMEOUT) == 0  # -C 1: disconnected normally, session kept
    cli_pub(broker, version, topic, "while-away", qos=1)
    back = CliSub(procs, broker, topic, version, qos=1, extra=session + ["-C", "1"])
    assert back.messages_until("while-away") == [(topic, 1, 0, "while-away")]


# ---------------------------------------------------------------- paho-mqtt

@pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
def test_paho_round_trip_qos2(broker, uid, version):
    mqtt = pytest.importorskip("paho.mqtt.client")
    proto = mqtt.MQTTv5 if version == 5 else mqtt.MQTTv311
    got, subscribed, connected = [], threading.Event(), threading.Event()
    done = threading.Event()

    def on_connect(client, userdata, flags, rc, properties=None):
        connected.set()

    def on_subscribe(client, userdata, mid, granted, properties=None):
        subscribed.set()

    def on_message(client, userdata, msg):
        got.append((msg.topic, msg.qos, msg.payload))
        if msg.payload == b"end":
            done.set()

    topic = "paho/" + uid
    clients = []
    try:
        sub = mqtt.Client(client_id=uid + "-s", protocol=proto)
        clients.append(sub)
        sub.on_connect, sub.on_subscribe, sub.on_message = on_connect, on_subscribe, on_message
        sub.connect(broker.host, broker.port, keepalive=30)
        sub.loop_start()
        assert connected.wait(CLI_TIMEOUT)
        sub.subscribe(topic, qos=2)
        assert subscribed.wait(CLI_TIMEOUT)
        pub = mqtt.Client(client_id=uid + "-p", protocol=proto)
        clients.append(pub)
        pub.connect(broker.host, broker.port, keepalive=30)
        pub.loop_start()
        for i, q in enumerate((0, 1, 2)):
            info = pub.publish(topic, b"paho-%d" % i, qos=q)
            info.wait_for_publish(CLI_TIMEOUT)
            assert info.is_published()
        pub.publish(topic, b"end", qos=2).wait_for_publish(CLI_TIMEOUT)
        assert done.wait(CLI_TIMEOUT), got
        assert got == [(topic, 0, b"paho-0"), (topic, 1, b"paho-1"), (topic, 2, b"paho-2"), (topic, 2, b"end")]
    finally:
        for c in clients:
            c.disconnect()
            c.loop_stop()
