"""Streams: durable captures of a filter, QoS 0 included, read by sequence, by time
and by consumer group over the admin API and tidegatectl (docs/events.md, "Streams")."""

import json
import pathlib
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

import mqttraw as m
from checks import metric
from conftest import HOST, TIDEGATE_BIN, free_port

pytestmark = pytest.mark.tidegate_only(reason="streams are tidegate's")


def start(make_broker, streams, admin_extra=None, **config):
    admin_port = free_port()
    broker = make_broker(streams=streams, admin=dict({"bind": HOST, "port": admin_port}, **(admin_extra or {})), **config)
    broker.admin_port = admin_port
    return broker


def api(broker, path, method="GET", timeout=5):
    request = urllib.request.Request("http://%s:%d%s" % (HOST, broker.admin_port, path), method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def payloads(body):
    return [msg.get("payload") for msg in body["messages"]]


def ctl(broker, *args):
    return subprocess.run([str(pathlib.Path(TIDEGATE_BIN).with_name("tidegatectl")), "--admin",
                           "%s:%d" % (HOST, broker.admin_port)] + list(args),
                          capture_output=True, text=True, timeout=20)


def test_a_stream_keeps_qos0_and_qos1_across_a_restart_and_reads_by_sequence_and_time(make_broker, uid):
    broker = start(make_broker, [{"name": "telemetry", "filter": "sensors/#"}])
    pub = broker.connect(uid + "-pub", version=5)
    pub.publish("sensors/a", b"zero-1", qos=0)
    pub.publish("sensors/b", b"one-1", qos=1, props={"user_property": [("site", "4")]})
    pub.publish("other/x", b"not captured", qos=1)
    pub.publish("sensors/a", b"\x00\xff", qos=0)
    pub.publish("sensors/a", b"one-2", qos=1)  # acknowledged once the QoS 0 ones before it are stored too
    status, first = api(broker, "/api/v1/streams/telemetry/messages")
    assert status == 200
    assert payloads(first) == ["zero-1", "one-1", None, "one-2"]
    assert first["messages"][2]["payload_base64"] == "AP8="
    assert first["messages"][1]["user_properties"] == [["site", "4"]]
    assert [msg["qos"] for msg in first["messages"]] == [0, 1, 0, 1]
    assert broker.restart() == 0  # SIGTERM: a clean stop
    pub = broker.connect(uid + "-pub2")
    pub.publish("sensors/c", b"after", qos=1)
    status, body = api(broker, "/api/v1/streams/telemetry/messages?max=1000")
    assert payloads(body) == ["zero-1", "one-1", None, "one-2", "after"]
    seqs = [msg["seq"] for msg in body["messages"]]
    assert seqs == sorted(seqs)
    status, page = api(broker, "/api/v1/streams/telemetry/messages?from_seq=%d&max=2" % seqs[1])
    assert payloads(page) == ["one-1", None] and page["next_seq"] == seqs[2] + 1
    after_ms = body["messages"][3]["time_ms"] + 1
    status, by_time = api(broker, "/api/v1/streams/telemetry/messages?from_time=%d" % after_ms)
    assert payloads(by_time) == ["after"]
    status, listing = api(broker, "/api/v1/streams")
    assert listing["streams"][0]["name"] == "telemetry" and listing["streams"][0]["last_seq"] == seqs[-1]


def test_consumer_group_offsets_survive_a_restart(make_broker, uid):
    broker = start(make_broker, [{"name": "s", "filter": "d/#"}])
    pub = broker.connect(uid + "-pub")
    for i in range(5):
        pub.publish("d/%d" % i, b"m%d" % i, qos=1)
    out = ctl(broker, "streams", "read", "s", "--group", "billing", "--commit", "--max", "3")
    assert out.returncode == 0, out.stderr
    assert [line.split()[2] for line in out.stdout.splitlines()] == ["m0", "m1", "m2"]
    broker.restart(kill=True)
    status, body = api(broker, "/api/v1/streams/s/messages?group=billing")
    assert payloads(body) == ["m3", "m4"]
    status, other = api(broker, "/api/v1/streams/s/messages?group=audit")  # a new group reads from the start
    assert payloads(other) == ["m0", "m1", "m2", "m3", "m4"]
    status, group = api(broker, "/api/v1/streams/s/groups/billing")
    assert group["committed"] == body["messages"][0]["seq"] - 1
    listing = ctl(broker, "streams", "list")
    assert "billing@%d" % group["committed"] in listing.stdout
    assert metric(broker.admin_port, 'tidegate_stream_group_committed_sequence{stream="s",group="billing"}') == group["committed"]
    assert metric(broker.admin_port, 'tidegate_stream_last_sequence{stream="s"}') == body["messages"][-1]["seq"]


def test_a_long_poll_answers_when_a_message_arrives(make_broker, uid):
    broker = start(make_broker, [{"name": "s", "filter": "lp/#"}])
    status, empty = api(broker, "/api/v1/streams/s/messages?wait=0")
    assert empty["messages"] == []
    result = {}

    def poll():
        result["started"] = time.monotonic()
        result["answer"] = api(broker, "/api/v1/streams/s/messages?from_seq=%d&wait=20" % empty["next_seq"], timeout=30)
        result["ended"] = time.monotonic()

    t = threading.Thread(target=poll)
    t.start()
    pub = broker.connect(uid + "-pub")
    pub.publish("lp/1", b"hello", qos=0)
    t.join(30)
    status, body = result["answer"]
    assert status == 200 and payloads(body) == ["hello"]
    assert result["ended"] - result["started"] < 10  # well before the 20 s wait ran out


def test_bad_requests_and_config(make_broker, tmp_path):
    broker = start(make_broker, [{"name": "s", "filter": "x/#"}])
    assert api(broker, "/api/v1/streams/nope/messages")[0] == 404
    assert api(broker, "/api/v1/streams/s/messages?max=0")[0] == 400
    assert api(broker, "/api/v1/streams/s/messages?wait=31")[0] == 400
    assert api(broker, "/api/v1/streams/s/messages?from_seq=1&group=g")[0] == 400
    assert api(broker, "/api/v1/streams/s/groups/bad%20name/commit?seq=1", method="POST")[0] == 400
    assert api(broker, "/api/v1/streams/s/groups/g/commit", method="POST")[0] == 400
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"data_dir": str(tmp_path / "d"), "streams": [{"name": "s", "filter": "a/#/b"}]}))
    out = subprocess.run([TIDEGATE_BIN, "--config", str(config)], capture_output=True, text=True, timeout=10)
    assert out.returncode != 0 and "streams[0].filter: is not a valid topic filter" in out.stderr


def test_stream_client_ids_are_reserved(make_broker):
    broker = start(make_broker, [{"name": "s", "filter": "x/#"}])
    c = broker.client(version=5)
    c.send_raw(m.build_connect("$stream/s/g", version=5))
    assert c.expect_packet(m.CONNACK, 5).reason_code == 0x85


def test_the_stream_token_reads_streams_and_commits_and_nothing_else(make_broker, tmp_path, uid):
    (tmp_path / "admin.token").write_text("admin-secret\n")
    (tmp_path / "stream.token").write_text("stream-secret\n")
    broker = start(make_broker, [{"name": "s", "filter": "t/#"}],
                   admin_extra={"token_file": str(tmp_path / "admin.token"),
                                "stream_token_file": str(tmp_path / "stream.token")})
    pub = broker.connect(uid + "-pub")
    pub.publish("t/1", b"x", qos=1)

    def call(path, method="GET", token="stream-secret", body=None, headers=None):
        request = urllib.request.Request("http://%s:%d%s" % (HOST, broker.admin_port, path), method=method, data=body,
                                         headers=dict({"Authorization": "Bearer " + token}, **(headers or {})))
        try:
            with urllib.request.urlopen(request, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    status, body = call("/api/v1/streams/s/messages")
    assert status == 200 and payloads(body) == ["x"]
    seq = body["messages"][0]["seq"]
    assert call("/api/v1/streams/s/groups/app/commit?seq=%d" % seq, method="POST")[0] == 200
    assert call("/api/v1/streams/s/groups/app")[1]["committed"] == seq
    for path, method in (("/api/v1/sessions", "GET"), ("/api/v1/stats", "GET"), ("/metrics", "GET"),
                         ("/api/v1/reload", "POST"), ("/api/v1/streams/s", "DELETE")):
        status, answer = call(path, method=method)
        assert status == 403, path
        assert "stream token" in answer["error"]
    status, answer = call("/api/v1/login", method="POST", body=json.dumps({"token": "stream-secret"}).encode(),
                          headers={"Content-Type": "application/json"})
    assert status == 403 and "cannot log in to the console" in answer["error"]
    assert call("/api/v1/sessions", token="admin-secret")[0] == 200


def test_the_tail_sends_new_messages_as_server_sent_events_and_resumes_after_last_event_id(make_broker, uid):
    broker = start(make_broker, [{"name": "s", "filter": "tl/#"}])
    pub = broker.connect(uid + "-pub")
    pub.publish("tl/old", b"before", qos=1)

    def events_of(response, count):
        got, event = [], {}
        while len(got) < count:
            line = response.readline().decode().rstrip("\n")
            if line == "":
                if "data" in event:
                    got.append(event)
                event = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(": ")
                event[key] = value
        return got

    url = "http://%s:%d/api/v1/streams/s/tail" % (HOST, broker.admin_port)
    with urllib.request.urlopen(url, timeout=10) as tail:
        assert tail.headers["Content-Type"] == "text/event-stream"
        pub.publish("tl/1", b"one", qos=0)
        pub.publish("tl/2", b"two", qos=1)
        got = events_of(tail, 2)
    assert [json.loads(e["data"])["payload"] for e in got] == ["one", "two"]  # only what came after it opened
    assert all(e["event"] == "message" for e in got)
    # A client that reconnects with the last id it saw gets what it missed, and no more.
    pub.publish("tl/3", b"three", qos=1)
    request = urllib.request.Request(url, headers={"Last-Event-ID": got[0]["id"]})
    with urllib.request.urlopen(request, timeout=10) as again:
        resumed = events_of(again, 2)
    assert [json.loads(e["data"])["payload"] for e in resumed] == ["two", "three"]
    with urllib.request.urlopen(url + "?from_seq=0", timeout=10) as whole:
        assert [json.loads(e["data"])["payload"] for e in events_of(whole, 4)] == ["before", "one", "two", "three"]
    assert api(broker, "/api/v1/streams/nope/tail")[0] == 404


def test_a_group_named_tail_is_a_group_and_sigterm_ends_open_tails(make_broker, uid):
    broker = start(make_broker, [{"name": "s", "filter": "g/#"}])
    assert api(broker, "/api/v1/streams/s/groups/tail/commit?seq=1", method="POST")[0] == 200
    status, group = api(broker, "/api/v1/streams/s/groups/tail")
    assert status == 200 and group == {"group": "tail", "committed": 1}
    assert api(broker, "/api/v1/streams/s/groups/g/commit?seq=18446744073709551615", method="POST")[0] == 400
    tails = [urllib.request.urlopen("http://%s:%d/api/v1/streams/s/tail" % (HOST, broker.admin_port), timeout=10)
             for _ in range(2)]
    started = time.monotonic()
    assert broker.stop() == 0  # SIGTERM with two idle tails open
    assert time.monotonic() - started < 5
    for t in tails:
        t.close()
