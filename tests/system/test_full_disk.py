"""A full disk loses nothing acknowledged (docs/durability.md, "A full disk").

The data_dir is on a small tmpfs; a filler file takes the rest of it. QoS 1
publishes must then be refused (MQTT 5: PUBACK 0x97 or 0x80; 3.1.1: the
connection is closed without an acknowledgement), never acknowledged and
dropped; the gateway must keep running and accept again once the filler is
deleted; an offline persistent subscriber must, after a restart, receive every
message that was acknowledged."""

import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import pytest

import mqttraw as m
from conftest import HOST, TARGET
from gateway_process import GatewayProcess

pytestmark = pytest.mark.skipif(TARGET != "tidegate", reason="tidegate's own store files")

TMPFS_BYTES = 8 << 20
PAYLOAD = 8 << 10
LEAVE_FREE = 256 << 10
DEADLINE = 30.0


@pytest.fixture
def small_disk(tmp_path):
    """A TMPFS_BYTES tmpfs mounted for the test (root only), unmounted after."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d" % TMPFS_BYTES, "tmpfs", str(disk)],
                       capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % r.stderr.strip())
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=10)


def fill(path, leave):
    """Write a file until the file system has less than `leave` bytes free."""
    chunk = b"\xff" * (16 << 10)
    with open(path, "wb", buffering=0) as f:
        while True:
            st = os.statvfs(path)
            if st.f_bavail * st.f_frsize < leave:
                return
            try:
                f.write(chunk)
            except OSError:
                return


def healthz(admin_port):
    """GET /healthz: (status, JSON body)."""
    try:
        with urllib.request.urlopen("http://%s:%d/healthz" % (HOST, admin_port), timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def connect_publisher(gw, uid, version):
    return m.connect(HOST, gw.port, uid + "-pub", version, timeout=5.0)


def publish_once(pub, topic, payload, version):
    """One QoS 1 publish: True if acknowledged with success, False if refused.

    A full disk is a full store: MQTT 5 is told 0x97 Quota exceeded
    (docs/durability.md), 3.1.1 gets no acknowledgement and a closed connection."""
    try:
        ack = pub.publish(topic, payload, qos=1, timeout=5.0)
    except (m.ConnectionClosed, OSError):
        assert version == 4, "MQTT 5 publisher disconnected instead of told"
        return False
    if version == 5 and ack.reason_code != 0:
        assert ack.reason_code == 0x97, "PUBACK reason 0x%02x on a full disk, not 0x97" % ack.reason_code
        return False
    return True


@pytest.mark.parametrize("durability", ["os", "fsync"])
@pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
def test_full_disk_refuses_and_loses_nothing_acknowledged(small_disk, tmp_path, uid, version, durability):
    topic = "full/" + uid
    gw = GatewayProcess(tmp_path / "gw", small_disk / "data", durability=durability)
    try:
        assert gw.start() == "listening", gw.log()
        props = {"session_expiry_interval": 3600} if version == 5 else None
        sub = m.connect(HOST, gw.port, uid + "-sub", version, clean=False, props=props, timeout=5.0)
        sub.subscribe(topic, qos=1)
        sub.disconnect()

        filler = small_disk / "filler"
        fill(filler, leave=LEAVE_FREE)  # some publishes fit, then the disk is full
        pub = connect_publisher(gw, uid, version)
        acknowledged, refused = [], 0
        deadline = time.monotonic() + DEADLINE
        i = 0
        while refused < 3:  # acknowledged until the disk is full, then refused
            assert time.monotonic() < deadline, "no publish refused on a full disk (%d acknowledged)" % len(acknowledged)
            payload = b"%06d-" % i + b"p" * PAYLOAD
            i += 1
            if publish_once(pub, topic, payload, version):
                acknowledged.append(payload)
                continue
            refused += 1
            assert gw.returncode is None, "the gateway died on a full disk:\n" + gw.log()[-3000:]
            if version == 4:
                pub = connect_publisher(gw, uid, version)

        # Probes see it: the store refused its latest commit.
        assert healthz(gw.admin_port) == (503, {"status": "failing", "failing": ["store"]})

        # A new persistent session on the full disk: refused, or (when its record
        # still fits) accepted and then kept. CONNACK must not promise a session
        # that is not stored.
        late = m.Client(HOST, gw.port, version=version, timeout=5.0)
        try:
            ack = late.connect(uid + "-late", clean=False, props=props, expect_success=False)
            late_accepted = ack.reason_code == 0
            late_subscribed = late_accepted and late.subscribe(topic + "/late", qos=1).reason_codes[0] < 0x80
        except (m.ConnectionClosed, m.NoPacket, OSError, AssertionError):
            late_accepted = late_subscribed = False
        late.close()
        assert gw.returncode is None, "the gateway died on a full disk:\n" + gw.log()[-3000:]

        # Space again: the gateway accepts again, without a restart.
        filler.unlink()
        accepted_again = False
        while not accepted_again:
            assert time.monotonic() < deadline + DEADLINE, "publishes still refused after the disk was freed"
            payload = b"%06d-" % i + b"a" * PAYLOAD
            i += 1
            try:
                accepted_again = publish_once(pub, topic, payload, version)
            except (m.ConnectionClosed, OSError):
                accepted_again = False
            if accepted_again:
                acknowledged.append(payload)
            elif version == 4:
                pub = connect_publisher(gw, uid, version)
        pub.disconnect()
        assert gw.returncode is None, gw.log()[-3000:]
        assert healthz(gw.admin_port) == (200, {"status": "ok"})

        # Every acknowledged message reaches the offline subscriber, after a restart too.
        assert gw.stop() == 0, gw.log()[-3000:]
        assert gw.start() == "listening", gw.log()[-3000:]
        sub = m.connect(HOST, gw.port, uid + "-sub", version, clean=False, props=props, timeout=5.0)
        assert sub.connack.session_present
        got = set()
        deadline = time.monotonic() + 30
        while not set(acknowledged) <= got and time.monotonic() < deadline:
            try:
                p = sub.read_packet(timeout=max(0.01, deadline - time.monotonic()))
            except m.NoPacket:
                break
            if p.type == m.PUBLISH:
                got.add(p.payload)
        missing = [p[:6] for p in acknowledged if p not in got]
        assert not missing, "%d acknowledged messages lost: %r" % (len(missing), missing[:10])
        sub.close()
        if late_accepted:
            late = m.connect(HOST, gw.port, uid + "-late", version, clean=False, props=props, timeout=5.0)
            assert late.connack.session_present, "a session accepted on the full disk was not stored"
            if late_subscribed:  # and the subscription its SUBACK granted
                pub = connect_publisher(gw, uid, version)
                pub.publish(topic + "/late", b"to-late", qos=1)
                assert late.expect_packet(m.PUBLISH).payload == b"to-late"
                pub.disconnect()
            late.close()
        assert gw.stop() == 0
    finally:
        gw.kill()
