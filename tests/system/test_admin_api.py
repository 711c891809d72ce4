"""The admin HTTP/JSON API and /metrics, driven over plain HTTP with real clients
connected (docs/operations.md; who may ask: test_admin_access.py; malformed requests:
test_admin_malformed.py; tidegatectl: test_tidegatectl.py)."""

import json
import time
import urllib.error
import urllib.request

import pytest

import mqttraw as m
from conftest import HOST, free_port

pytestmark = pytest.mark.tidegate_only(reason="tidegate admin API")


@pytest.fixture
def admin(make_broker, tmp_path):
    token = tmp_path / "admin.token"
    token.write_text("s3cret\n")
    port = free_port()
    broker = make_broker(admin={"bind": HOST, "port": port, "token_file": str(token)})

    def call(method, path, token="s3cret"):
        request = urllib.request.Request("http://%s:%d%s" % (HOST, port, path), method=method)
        if token:
            request.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                body = response.read().decode()
                return response.status, (json.loads(body) if "json" in response.headers["Content-Type"] else body)
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read().decode())

    return broker, call


def test_token_is_required(admin):
    _, call = admin
    status, body = call("GET", "/api/v1/stats", token=None)
    assert status == 401 and "token" in body["error"]
    assert call("GET", "/api/v1/stats", token="wrong")[0] == 401
    assert call("GET", "/api/v1/stats")[0] == 200


def test_sessions_and_kick_with_real_clients(admin, uid):
    broker, call = admin
    online = broker.connect(uid + "-on", 5)
    online.subscribe("k/" + uid, qos=1, props={"subscription_identifier": 7})
    offline = broker.connect(uid + "-off", 5, clean=False, props={"session_expiry_interval": 600})
    offline.disconnect()
    status, body = call("GET", "/api/v1/sessions?prefix=" + uid)
    assert status == 200 and body["total"] == 2
    states = {s["client_id"]: s["online"] for s in body["sessions"]}
    assert states == {uid + "-on": True, uid + "-off": False}
    status, show = call("GET", "/api/v1/sessions/" + uid + "-on")
    assert show["subscriptions"][0]["filter"] == "k/" + uid
    assert show["subscriptions"][0]["subscription_id"] == 7
    assert call("GET", "/api/v1/sessions/nobody")[0] == 404
    assert call("POST", "/api/v1/sessions/%s-on/kick" % uid) == (200, {"kicked": True})
    got = online.expect_closed()
    assert any(p.type == m.DISCONNECT and p.reason_code == 0x98 for p in got)
    assert call("DELETE", "/api/v1/sessions/%s-off" % uid) == (200, {"deleted": True})
    again = broker.connect(uid + "-off", 5, clean=False, props={"session_expiry_interval": 600})
    assert not again.connack.session_present


def test_metrics_and_stats_count_what_happened(admin, uid):
    broker, call = admin
    c = broker.connect(uid, 5)
    c.subscribe("mt/" + uid, qos=1)
    c.publish("mt/" + uid, b"x", qos=1)
    c.expect_packet(m.PUBLISH)
    status, text = call("GET", "/metrics")
    assert status == 200
    values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert int(values["tidegate_messages_received_total"]) >= 1
    assert int(values["tidegate_messages_sent_total"]) >= 1
    assert int(values["tidegate_connections_open"]) >= 1
    assert 'tidegate_dropped_total{reason="expired"}' in values
    stats = call("GET", "/api/v1/stats")[1]
    assert stats["messages"]["persisted"] >= 1 and stats["sessions"]["online"] >= 1


def prometheus_samples(text):
    """'name{labels}' -> float, for every sample line of a Prometheus text answer."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            samples[key] = float(value)
    return samples


def by_qos(samples, name):
    return [samples['%s{qos="%d"}' % (name, qos)] for qos in range(3)]


def test_messages_received_and_sent_by_qos(admin, uid):
    broker, call = admin
    before = prometheus_samples(call("GET", "/metrics")[1])
    sub2 = broker.connect(uid + "-s2", 5)
    sub2.subscribe("bq/" + uid + "/#", qos=2)
    sub0 = broker.connect(uid + "-s0", 4)
    sub0.subscribe("bq/" + uid + "/#", qos=0)  # every message goes out to it at QoS 0
    pub = broker.connect(uid + "-p", 5)
    for i in range(3):
        pub.publish("bq/%s/zero" % uid, b"z%d" % i, qos=0)
    for i in range(2):
        pub.publish("bq/%s/one" % uid, b"o%d" % i, qos=1)
    pub.publish("bq/%s/two" % uid, b"last", qos=2)
    got2 = sub2.publishes_until(b"last")
    got0 = sub0.publishes_until(b"last")
    assert [p.qos for p in got2] == [0, 0, 0, 1, 1, 2]
    assert [p.qos for p in got0] == [0] * 6

    after = prometheus_samples(call("GET", "/metrics")[1])
    delta = lambda name: [a - b for a, b in zip(by_qos(after, name), by_qos(before, name))]
    assert delta("tidegate_messages_received_by_qos_total") == [3, 2, 1]
    assert delta("tidegate_messages_sent_by_qos_total") == [3 + 6, 2, 1]
    # The labelled counters add up to the totals.
    assert sum(by_qos(after, "tidegate_messages_received_by_qos_total")) == \
        after["tidegate_messages_received_total"]
    assert sum(by_qos(after, "tidegate_messages_sent_by_qos_total")) == after["tidegate_messages_sent_total"]


def test_store_commit_latency_histogram(admin, uid):
    broker, call = admin
    name = "tidegate_store_commit_duration_seconds"
    text = call("GET", "/metrics")[1]
    assert "# TYPE %s histogram" % name in text
    before = prometheus_samples(text)
    c = broker.connect(uid, 5)
    c.subscribe("h/" + uid, qos=1)
    for i in range(5):
        c.publish("h/" + uid, b"%d" % i, qos=1)  # each waits for its commit (PUBACK)

    # A commit is counted when it ends; poll until the histogram has caught up
    # with the commit counter (both move on the ingest thread).
    deadline = time.monotonic() + 5
    while True:
        after = prometheus_samples(call("GET", "/metrics")[1])
        if after[name + "_count"] == after["tidegate_store_commits_total"]:
            break
        assert time.monotonic() < deadline, (after[name + "_count"], after["tidegate_store_commits_total"])
        time.sleep(0.02)  # poll interval of a bounded wait

    bounds = ["0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
              "0.25", "0.5", "1", "+Inf"]
    buckets = [after['%s_bucket{le="%s"}' % (name, le)] for le in bounds]
    assert sorted(k for k in after if k.startswith(name + "_bucket")) == \
        sorted('%s_bucket{le="%s"}' % (name, le) for le in bounds)
    assert buckets == sorted(buckets), "buckets must be cumulative"
    assert buckets[-1] == after[name + "_count"]
    assert after[name + "_count"] - before[name + "_count"] >= 1
    assert after[name + "_sum"] > before[name + "_sum"]
    # The sum is in seconds and agrees with the buckets: each commit lies between
    # its bucket's lower and upper bound.
    if buckets[-1] == buckets[-2]:  # none slower than 1 s
        limits = [0.0] + [float(b) for b in bounds[:-1]]
        per_bucket = [hi - lo for lo, hi in zip([0] + buckets[:-2], buckets[:-1])]
        lowest = sum(n * limits[i] for i, n in enumerate(per_bucket))
        highest = sum(n * limits[i + 1] for i, n in enumerate(per_bucket))
        assert lowest <= after[name + "_sum"] <= highest * 1.000001, (lowest, after[name + "_sum"], highest)


def test_subscriptions_of_online_and_offline_sessions(admin, uid):
    broker, call = admin
    a = broker.connect(uid + "-a", 5)
    a.subscribe([("sa/" + uid + "/+", m.subscription_options(qos=1, no_local=True, retain_handling=2))],
                props={"subscription_identifier": 9})
    a.subscribe("sa/" + uid + "/#", qos=2)
    b = broker.connect(uid + "-b", 4, clean=False)
    b.subscribe("sb/" + uid, qos=1)
    b.disconnect()
    broker.connect(uid + "x-other", 4).subscribe("sa/" + uid + "/#", qos=0)  # another client id prefix

    status, body = call("GET", "/api/v1/subscriptions?prefix=" + uid + "-")
    assert status == 200
    assert body["total"] == 3
    assert body["subscriptions"] == [
        {"client_id": uid + "-a", "online": True, "filter": "sa/" + uid + "/#", "qos": 2, "no_local": False,
         "retain_as_published": False, "retain_handling": 0, "subscription_id": None},
        {"client_id": uid + "-a", "online": True, "filter": "sa/" + uid + "/+", "qos": 1, "no_local": True,
         "retain_as_published": False, "retain_handling": 2, "subscription_id": 9},
        {"client_id": uid + "-b", "online": False, "filter": "sb/" + uid, "qos": 1, "no_local": False,
         "retain_as_published": False, "retain_handling": 0, "subscription_id": None}]

    # filter_prefix narrows by filter, across sessions; prefix by client id.
    status, body = call("GET", "/api/v1/subscriptions?prefix=%s&filter_prefix=sa/%s/%%23" % (uid, uid))
    assert [(s["client_id"], s["filter"]) for s in body["subscriptions"]] == \
        [(uid + "-a", "sa/%s/#" % uid), (uid + "x-other", "sa/%s/#" % uid)]
    # Paging counts subscriptions, not sessions.
    status, body = call("GET", "/api/v1/subscriptions?prefix=%s-&limit=1&offset=1" % uid)
    assert body["total"] == 3 and [s["filter"] for s in body["subscriptions"]] == ["sa/" + uid + "/+"]
    assert call("GET", "/api/v1/subscriptions?prefix=%s-nobody" % uid)[1] == {"total": 0, "subscriptions": []}
    assert call("GET", "/api/v1/subscriptions?limit=x")[0] == 400
    assert call("POST", "/api/v1/subscriptions")[0] == 405

    # An unsubscribe shows at once.
    a.unsubscribe("sa/" + uid + "/#")
    status, body = call("GET", "/api/v1/subscriptions?prefix=" + uid + "-a")
    assert [s["filter"] for s in body["subscriptions"]] == ["sa/" + uid + "/+"]


def topics_of(call, prefix):
    status, body = call("GET", "/api/v1/topics?prefix=" + urllib.request.quote(prefix, safe=""))
    assert status == 200, body
    assert body["total"] == len(body["topics"])
    return {t["filter"]: t for t in body["topics"]}


def test_topics_count_subscribers_and_follow_the_newest_message(admin, uid):
    broker, call = admin
    exact, wild, shared = "tq/%s/a" % uid, "tq/%s/#" % uid, "$share/g/tq/%s/#" % uid
    s1 = broker.connect(uid + "-1", 5)
    s1.subscribe([exact, wild], qos=1)
    s2 = broker.connect(uid + "-2", 4, clean=False)
    s2.subscribe(exact, qos=1)
    s2.disconnect()  # offline, still a subscriber
    g1 = broker.connect(uid + "-g1", 5)
    g1.subscribe(shared, qos=1)
    g2 = broker.connect(uid + "-g2", 5)
    g2.subscribe(shared, qos=1)

    topics = topics_of(call, "tq/" + uid)
    assert list(topics) == [wild, exact]  # sorted by filter: "#" before "a"
    none_yet = {"last_sequence": None, "messages": 0, "backlog": 0}
    assert topics[exact] == {"filter": exact, "shared": False, "subscribers": 2, **none_yet}
    assert topics[wild] == {"filter": wild, "shared": False, "subscribers": 1, **none_yet}
    assert topics_of(call, "$share/g/tq/" + uid) == {
        shared: {"filter": shared, "shared": True, "subscribers": 2, **none_yet}}

    pub = broker.connect(uid + "-p", 5)
    pub.publish(exact, b"1", qos=1)  # PUBACK: committed
    topics = topics_of(call, "tq/" + uid)
    first = topics[exact]["last_sequence"]
    assert isinstance(first, int) and first > 0 and topics[wild]["last_sequence"] == first
    # One message in each; the offline persistent subscriber of `exact` has not taken it.
    assert (topics[exact]["messages"], topics[exact]["backlog"]) == (1, 1)
    assert (topics[wild]["messages"], topics[wild]["backlog"]) == (1, 0)
    assert topics_of(call, "$share/g/tq/" + uid)[shared]["last_sequence"] == first

    pub.publish("tq/%s/b" % uid, b"2", qos=0)  # QoS 0 counts too: wait until a subscriber has it
    assert [p.payload for p in s1.publishes_until(b"2")][-1] == b"2"
    topics = topics_of(call, "tq/" + uid)
    assert topics[exact]["last_sequence"] == first
    assert topics[wild]["last_sequence"] > first

    # The last subscriber gone: the queue goes.
    s1.unsubscribe(wild)
    assert sorted(topics_of(call, "tq/" + uid)) == [exact]
    # Sorted by filter, paged like the other lists.
    status, body = call("GET", "/api/v1/topics?prefix=%s&limit=1&offset=1" % urllib.request.quote("$share/g/tq/" + uid))
    assert (body["total"], body["topics"]) == (1, [])
    assert body["retention"] == {"bytes": 1 << 30, "seconds": 7 * 24 * 3600, "max_session_backlog": 100000}
    assert call("GET", "/api/v1/topics?offset=-1")[0] == 400


def test_topics_keep_their_newest_stored_message_across_a_restart(admin, uid):
    broker, call = admin
    topic = "tr/" + uid
    s = broker.connect(uid + "-s", 5, clean=False, props={"session_expiry_interval": 600})
    s.subscribe(topic, qos=1)
    s.disconnect()
    pub = broker.connect(uid + "-p", 5)
    pub.publish(topic, b"kept", qos=1)
    before = topics_of(call, topic)[topic]
    assert before["subscribers"] == 1 and before["last_sequence"]
    pub.close()
    assert broker.restart() == 0
    after = topics_of(call, topic)[topic]
    # The newest stored message and the offline session's backlog come back from
    # the store; the message count starts again (it counts since the queue went live).
    assert before["messages"] == 1 and after["messages"] == 0
    del before["messages"], after["messages"]
    assert after == before and after["backlog"] == 1


def test_session_show_counts_messages_and_bytes_both_ways(admin, uid):
    broker, call = admin
    topic = "traffic/" + uid
    sub = broker.connect(uid + "-sub", 5, clean=False, props={"session_expiry_interval": 600})
    sub.subscribe(topic, qos=1)
    pub = broker.connect(uid + "-pub", 4)
    for i in range(3):
        pub.publish(topic, b"x" * 100, qos=1)
    got = [sub.expect_packet(m.PUBLISH) for _ in range(3)]
    assert len(got) == 3
    sub.disconnect()  # parked: the counts stay with the session
    _, p = call("GET", "/api/v1/sessions/%s-pub" % uid)
    assert (p["messages_in"], p["messages_out"]) == (3, 0)
    assert p["bytes_in"] >= 3 * (100 + len(topic))  # CONNECT and PUBACKs sent before the session are not counted
    assert p["bytes_out"] >= 3 * 4  # three PUBACKs
    _, s = call("GET", "/api/v1/sessions/%s-sub" % uid)
    assert (s["messages_in"], s["messages_out"]) == (0, 3)
    assert s["bytes_out"] >= 3 * (100 + len(topic))
    assert s["bytes_in"] > 0  # SUBSCRIBE, PUBACKs, DISCONNECT


def test_metrics_show_the_backlog_of_persistent_sessions(admin, uid):
    broker, call = admin
    topic = "lag/" + uid

    def wait_backlog(expected):
        deadline = time.monotonic() + 5  # the gauges are refreshed once a second
        while True:
            samples = prometheus_samples(call("GET", "/metrics")[1])
            if samples["tidegate_session_backlog_messages_max"] == expected:
                return samples
            assert time.monotonic() < deadline, samples["tidegate_session_backlog_messages_max"]
            time.sleep(0.1)  # poll interval of a bounded wait

    sub = broker.connect(uid + "-s", 5, clean=False, props={"session_expiry_interval": 600})
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    pub = broker.connect(uid + "-p", 5)
    for i in range(4):
        pub.publish(topic, b"%d" % i, qos=1)
    assert wait_backlog(4)["tidegate_session_backlog_messages"] == 4
    sub = broker.connect(uid + "-s", 5, clean=False, props={"session_expiry_interval": 600})
    assert [sub.expect_packet(m.PUBLISH).payload for _ in range(4)] == [b"0", b"1", b"2", b"3"]
    wait_backlog(0)
