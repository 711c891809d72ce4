"""retention_seconds, end to end (docs/durability.md, "Retention: how the disk
stays bounded"): stored messages older than it are removed by the store thread
(about once a second), so the store shrinks; a persistent session that was
offline meanwhile resumes with the oldest message left -- it gets none of the
removed ones and every newer one, in order -- and the gateway counts and logs
that it fell behind. Messages still in the in-memory queue cache would be
delivered from there: the cache is kept at one entry here, so that only the
newest message is in memory."""

import json
import time
import urllib.request

import pytest

from conftest import HOST, free_port

pytestmark = pytest.mark.tidegate_only(reason="tidegate config keys and admin API")

RETENTION = 2  # seconds; newer messages must reach the subscriber well within it


def stats(port):
    with urllib.request.urlopen("http://%s:%d/api/v1/stats" % (HOST, port), timeout=5) as r:
        return json.loads(r.read())


def test_messages_older_than_retention_seconds_are_gone(make_broker, uid):
    admin_port = free_port()
    broker = make_broker(retention_seconds=RETENTION, queue_cache_entries=1,
                         admin={"bind": HOST, "port": admin_port})
    topic = "ret/" + uid
    session = {"clean": False, "props": {"session_expiry_interval": 600}}
    sub = broker.connect(uid + "-s", 5, **session)
    assert sub.subscribe(topic, qos=1).reason_codes == [1]
    sub.disconnect()

    pub = broker.connect(uid + "-p", 5)
    old = [b"old-%d" % i for i in range(5)]
    for payload in old:
        assert pub.publish(topic, payload, qos=1).reason_code == 0
    assert stats(admin_port)["store"]["messages"] == len(old)

    # Removed once older than retention_seconds: within RETENTION + about a second.
    deadline = time.monotonic() + RETENTION + 3
    while True:
        s = stats(admin_port)
        if s["drops"]["retention_removed"] >= len(old) and s["store"]["messages"] == 0:
            break
        assert time.monotonic() < deadline, "old messages not removed by retention: %r" % s
        time.sleep(0.1)  # poll interval of a bounded wait for the store thread
    assert "(older than retention_seconds)" in broker.log_tail(200)

    new = [b"new-%d" % i for i in range(3)]
    for payload in new:
        assert pub.publish(topic, payload, qos=1).reason_code == 0
    sub = broker.connect(uid + "-s", 5, **session)
    assert sub.connack.session_present
    got = [p.payload for p in sub.publishes_until(new[-1], timeout=5)]
    assert got == new, "expected only the messages newer than retention, in order"
    assert stats(admin_port)["drops"]["sessions_behind_retention"] >= 1
    assert "fell behind retention on queue" in broker.log_tail(200)
