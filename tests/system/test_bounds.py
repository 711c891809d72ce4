"""Bounded resources: each limit has a config key and a stated policy at
the bound, and a QoS 1/2 publish is never acknowledged and then dropped."""

import socket
import time

import pytest

import mqttraw as m
from checks import expect_error_close
from conftest import HOST


@pytest.mark.tidegate_only(reason="tidegate config keys")
@pytest.mark.broker_config(max_subscriptions_per_client=2)
def test_subscriptions_per_client_quota(broker, version, uid):
    c = broker.connect(uid, version)
    ack = c.subscribe([("a/" + uid, 1), ("b/" + uid, 1), ("c/" + uid, 1)])
    assert ack.reason_codes == [1, 1, 0x97 if version == 5 else 0x80]
    # Changing an existing subscription is not a new one.
    assert c.subscribe([("a/" + uid, 0)]).reason_codes == [0]


@pytest.mark.tidegate_only(reason="tidegate config keys")
@pytest.mark.broker_config(max_topic_levels=3, max_topic_length=40)
def test_topic_limits(broker, version, uid):
    c = broker.connect(uid, version)
    deep, long_topic = "l/m/n/o", "x" * 41
    ack = c.subscribe([("l/m/#", 0), ("l/m/n/#", 0), (long_topic, 0)])
    refused = 0x8F if version == 5 else 0x80
    assert ack.reason_codes == [0, refused, refused]
    if version == 5:
        assert c.publish(deep, b"x", qos=1).reason_code == 0x90
        rec = c.publish(long_topic, b"x", qos=2)
        assert rec.reason_code == 0x90
    else:
        # 3.1.1 cannot refuse a publish: closed without an acknowledgement.
        c.send_raw(m.build_publish(deep, b"x", 1, packet_id=5, version=version))
        assert [p for p in c.expect_closed() if p.type == m.PUBACK] == []


@pytest.mark.tidegate_only(reason="tidegate config keys")
@pytest.mark.broker_config(max_retained_messages=2)
def test_retained_quota_refuses_whole_publish(broker, uid):
    watcher = broker.connect(uid + "-w", 5)
    watcher.subscribe("rq/%s/#" % uid, qos=1)
    c = broker.connect(uid, 5)
    for t in ("t1", "t2"):
        assert c.publish("rq/%s/%s" % (uid, t), b"keep", qos=1, retain=True).reason_code == 0
    refused = c.publish("rq/%s/t3" % uid, b"over", qos=1, retain=True)
    assert refused.reason_code == 0x97
    # Replacing and clearing stay possible at the bound.
    assert c.publish("rq/%s/t1" % uid, b"newer", qos=1, retain=True).reason_code == 0
    assert c.publish("rq/%s/t2" % uid, b"", qos=1, retain=True).reason_code == 0
    assert c.publish("rq/%s/t3" % uid, b"now", qos=1, retain=True).reason_code == 0
    got = [p.payload for p in watcher.publishes_until(b"now")]
    assert b"over" not in got, "a refused publish was delivered"
    fresh = broker.connect(uid + "-f", 5)
    fresh.subscribe("rq/%s/#" % uid, qos=1)
    retained = sorted(fresh.expect_packet(m.PUBLISH).payload for _ in range(2))
    assert retained == [b"newer", b"now"]


@pytest.mark.tidegate_only(reason="tidegate config keys")
@pytest.mark.broker_config(max_store_bytes=1 << 20, retention_bytes=1 << 19, max_retained_bytes=1 << 18)
def test_full_store_refuses_instead_of_acknowledging(broker, uid):
    """A store at its cap answers 0x97 (v5) instead of acknowledging; retention
    (at most half the cap, about once a second) then makes room and publishes are
    accepted again. What the offline subscriber gets is what was acknowledged, in
    order, less only the oldest ones retention removed (logged, never silently)."""
    topic = "full/" + uid
    sub = broker.connect(uid + "-s", 5, clean=False, props={"session_expiry_interval": 300})
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    pub = broker.connect(uid + "-p", 5)
    acked = []
    payload = b"x" * 60000
    for i in range(64):
        ack = pub.publish(topic, b"%03d" % i + payload, qos=1)
        if ack.reason_code == 0x97:
            break
        assert ack.reason_code == 0, ack
        acked.append(i)
    else:
        raise AssertionError("4 MB went into a 1 MB store without a refusal")
    assert acked, "refused before anything was stored"
    deadline = time.monotonic() + 10
    while pub.publish(topic, b"end", qos=1).reason_code == 0x97:
        assert time.monotonic() < deadline, "the store never made room again"
        time.sleep(0.1)  # retry interval of a bounded wait for retention's next pass
    sub = broker.connect(uid + "-s", 5, clean=False, props={"session_expiry_interval": 300})
    got = [int(p.payload[:3]) for p in sub.publishes_until(b"end", timeout=10)[:-1]]
    assert got == acked[len(acked) - len(got):], (got, acked)
    if len(got) < len(acked):
        assert "retention: removed" in broker.log_tail(400)


@pytest.mark.tidegate_only(reason="tidegate config keys and log text")
@pytest.mark.broker_config(retention_bytes=300000, queue_cache_entries=4)
def test_retention_removes_oldest_and_says_so(broker, uid):
    """Above retention_bytes the oldest stored messages go; a session that had not read
    them gets the newest ones in order, and the log names it (never silently). The
    queue cache is kept small here: what it still holds in memory is delivered."""
    topic = "ret/" + uid
    sub = broker.connect(uid + "-s", 5, clean=False, props={"session_expiry_interval": 300})
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    pub = broker.connect(uid + "-p", 5)
    for i in range(60):
        assert pub.publish(topic, b"%03d" % i + b"y" * 16000, qos=1).reason_code == 0
    # Retention runs on the store thread about once a second and logs what it removed.
    deadline = time.monotonic() + 10
    while "retention: removed" not in broker.log_tail(400):
        assert time.monotonic() < deadline, "retention never removed anything"
        time.sleep(0.05)  # poll interval of a bounded wait for a log line
    assert pub.publish(topic, b"end", qos=1).reason_code == 0
    sub = broker.connect(uid + "-s", 5, clean=False, props={"session_expiry_interval": 300})
    got = [p.payload for p in sub.publishes_until(b"end", timeout=5)][:-1]
    numbers = [int(p[:3]) for p in got]
    assert 0 < len(numbers) < 60, numbers
    assert numbers == list(range(numbers[0], 60)), "not the newest messages in order: %r" % numbers
    assert "fell behind retention" in broker.log_tail(400)


@pytest.mark.tidegate_only(reason="tidegate config key max_output_bytes")
@pytest.mark.broker_config(max_output_bytes=4096)
def test_client_that_never_reads_is_disconnected(broker, uid):
    """PINGREQ flood from a client that reads nothing: its pending output is bounded and
    it is dropped; the gateway goes on serving others."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((HOST, broker.port))
    s.sendall(m.build_connect(uid, 4, True, 60))
    burst = m.build_pingreq() * 32768
    closed = False
    deadline = time.monotonic() + 20
    s.settimeout(2)
    while time.monotonic() < deadline:
        try:
            s.sendall(burst)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            closed = True
            break
    s.close()
    assert closed, "a client that never reads was never disconnected"
    other = broker.connect(uid + "-other", 5)
    assert other.ping().type == m.PINGRESP


@pytest.mark.tidegate_only(reason="tidegate config keys and admin API")
@pytest.mark.parametrize("total,body_size,limits", [
    (3000, 2048, {"queue_cache_entries": 8, "max_output_bytes": 4096}),
    (20000, 1024, {}),  # the defaults: far more lost at once than the last 8,192 evictions
])
def test_qos0_lost_by_a_slow_subscriber_is_counted(make_broker, uid, total, body_size, limits):
    """A subscriber that stops reading while QoS 0 floods in loses what falls out
    of the queue cache: every message is either delivered or counted as dropped,
    also when far more are lost than the cache remembers evictions of (8,192)."""
    import json
    import urllib.request
    from conftest import free_port
    admin_port = free_port()
    broker = make_broker(admin={"bind": HOST, "port": admin_port}, **limits)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((HOST, broker.port))
    sub = m.Client(HOST, broker.port, version=5, sock=s)
    sub.connect(uid + "-slow")
    sub.subscribe("slow/" + uid, qos=0)
    pub = broker.connect(uid + "-p", 5)
    body = b"z" * body_size
    for i in range(0, total, 100):
        pub.send_raw(b"".join(m.build_publish("slow/" + uid, b"%05d" % n + body, 0, version=5)
                              for n in range(i, i + 100)))
    pub.publish("slow/" + uid, b"end", qos=1)  # QoS 1: never dropped, arrives last
    received = len(sub.publishes_until(b"end", timeout=20)) - 1
    with urllib.request.urlopen("http://%s:%d/api/v1/stats" % (HOST, admin_port), timeout=5) as r:
        dropped = json.loads(r.read())["drops"]["qos0_slow_subscriber"]
    assert dropped > 0, "the flood never overran the subscriber; the test proves nothing"
    assert received + dropped == total, (received, dropped)


@pytest.mark.tidegate_only(reason="tidegate config keys and admin API")
@pytest.mark.parametrize("cache_entries", [1024, 4])
def test_shared_publish_encodings_are_bounded_and_counted(make_broker, uid, cache_entries):
    """Fan-out: a PUBLISH encoded once is shared by the deliveries of a message.
    All such bytes together stay within max_shared_publish_bytes; at the bound a
    delivery encodes its own packet (counted), and every subscriber still gets
    every message. The bytes are given back when messages leave the queue cache."""
    import json
    import urllib.request
    from conftest import free_port
    admin_port = free_port()
    topic = "fo/" + uid
    sent = [b"%03d" % i + b"x" * 100 for i in range(100)]
    # Room for the encodings of about six messages (one 3.1.1 and one 5.0
    # variant each: bookkeeping, header, topic, payload).
    limit = 12 * (80 + len(topic) + len(sent[0]))
    broker = make_broker(max_shared_publish_bytes=limit, queue_cache_entries=cache_entries,
                         admin={"bind": HOST, "port": admin_port})
    subs = [broker.connect("%s-s%d" % (uid, i), version) for i, version in enumerate((4, 4, 5, 5))]
    for s in subs:
        s.subscribe(topic, qos=0)
    pub = broker.connect(uid + "-p", 5)
    if cache_entries == 1024:
        for body in sent:
            pub.publish(topic, body, qos=0)
        pub.publish(topic, b"end", qos=1)
        for s in subs:
            assert [p.payload for p in s.publishes_until(b"end", timeout=10)] == sent + [b"end"]
    else:
        # One at a time, so that none falls out of the 4-entry cache unread.
        for body in sent:
            pub.publish(topic, body, qos=0)
            for s in subs:
                assert s.expect_packet(m.PUBLISH).payload == body
    with urllib.request.urlopen("http://%s:%d/api/v1/stats" % (HOST, admin_port), timeout=5) as r:
        queues = json.loads(r.read())["queues"]
    assert 0 < queues["shared_publish_bytes"] <= limit, queues
    if cache_entries == 1024:
        # All 100 messages stay cached with what they hold: the budget fills.
        assert queues["shared_publish_over_limit"] > 0, queues
    else:
        # Only the last four stay cached: the evicted ones gave their bytes
        # back, so the budget never filled.
        assert queues["shared_publish_over_limit"] == 0, queues


@pytest.mark.tidegate_only(reason="tidegate config keys")
@pytest.mark.broker_config(max_session_backlog=5)
def test_offline_session_backlog_bound_refuses_instead_of_dropping(broker, uid):
    topic = "bk/%s/t" % uid
    sub = broker.connect(uid + "-s", 5, clean=False, props={"session_expiry_interval": 600})
    sub.subscribe(topic, qos=1)
    # Offline before anything is published (a socket closed without DISCONNECT
    # may still be taking messages while the gateway has not noticed yet).
    sub.disconnect()
    pub = broker.connect(uid + "-p", 5)
    for i in range(5):
        assert pub.publish(topic, b"%d" % i, qos=1).reason_code == 0
    # Full: refused with Quota exceeded (v5), never acknowledged and dropped.
    assert pub.publish(topic, b"over", qos=1).reason_code == 0x97
    rec = pub.publish(topic, b"over2", qos=2)
    assert rec.reason_code == 0x97
    # 3.1.1 cannot be told no: not acknowledged, the connection closes.
    old = broker.connect(uid + "-p4", 4)
    old.publish(topic, b"over3", qos=1, wait=False)
    old.expect_closed()
    # The restart reads the backlog back from the store: still full.
    broker.restart()
    pub = broker.connect(uid + "-p", 5)
    assert pub.publish(topic, b"over4", qos=1).reason_code == 0x97
    # The session takes its backlog: exactly the five, and room again.
    sub = broker.connect(uid + "-s", 5, clean=False, props={"session_expiry_interval": 600})
    got = [sub.expect_packet(m.PUBLISH).payload for _ in range(5)]
    assert got == [b"%d" % i for i in range(5)]
    assert pub.publish(topic, b"after", qos=1).reason_code == 0
    assert sub.expect_packet(m.PUBLISH).payload == b"after"


@pytest.mark.tidegate_only(reason="tidegate config keys")
@pytest.mark.broker_config(max_session_backlog=2)
def test_session_backlog_bound_lets_qos0_through(broker, uid):
    # QoS 0 is never stored, so it adds nothing to a backlog and is not refused.
    topic = "bq/%s/t" % uid
    offline = broker.connect(uid + "-off", 5, clean=False, props={"session_expiry_interval": 600})
    offline.subscribe(topic, qos=1)
    offline.close()
    online = broker.connect(uid + "-on", 5)
    online.subscribe(topic, qos=1)
    pub = broker.connect(uid + "-p", 5)
    for i in range(2):
        assert pub.publish(topic, b"%d" % i, qos=1).reason_code == 0
    assert pub.publish(topic, b"over", qos=1).reason_code == 0x97
    pub.publish(topic, b"q0", qos=0)
    pub.publish(topic, b"end", qos=0)
    got = [p.payload for p in online.publishes_until(b"end")]
    assert got == [b"0", b"1", b"q0", b"end"]
    offline = broker.connect(uid + "-off", 5, clean=False, props={"session_expiry_interval": 600})
    assert [offline.expect_packet(m.PUBLISH).payload for _ in range(2)] == [b"0", b"1"]
