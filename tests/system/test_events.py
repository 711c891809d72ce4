"""Rules: matched messages delivered to a real HTTP(S) receiver as CloudEvents, or
republished (docs/events.md).

Each test starts the real gateway with `rules` in its config, publishes with real
MQTT clients and watches a real webhook receiver (webhook_receiver.py) that the
test makes answer 2xx, 4xx, 5xx, 429 with Retry-After, slowly, or not at all.
"""

import base64
import json
import os
import pathlib
import subprocess
import time
import urllib.error
import urllib.request

import pytest

import mqttraw as m
from checks import metric, post_reload
from conftest import HOST, TIDEGATE_BIN, free_port
from webhook_receiver import Receiver

pytestmark = pytest.mark.tidegate_only(reason="rules are tidegate's")

NODE = "gw1"


def start(make_broker, rules, **config):
    admin_port = free_port()
    broker = make_broker(rules=rules, node_name=NODE, admin={"bind": HOST, "port": admin_port}, **config)
    broker.admin_port = admin_port
    return broker


def admin(broker, path, method="GET"):
    request = urllib.request.Request("http://%s:%d%s" % (HOST, broker.admin_port, path), method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def action_when(broker, rule, settled, timeout=10):
    """The rule's first action once settled(action) holds, or as it is at the deadline.

    The receiver records a request before it answers, and the gateway counts a
    delivery once the answer is in: counts are read after they settle."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = admin(broker, "/api/v1/rules/" + rule)
        assert status == 200, body
        action = body["actions"][0]
        if settled(action) or time.monotonic() > deadline:
            return action
        time.sleep(0.05)  # poll interval of a bounded wait on the admin API


def webhook_rule(receiver, name="r", source="sensors/#", where=None, **webhook):
    hook = {"url": receiver.url, "retry_min_ms": 50, "retry_max_ms": 200}
    hook.update(webhook)
    rule = {"name": name, "from": source, "actions": [{"webhook": hook}]}
    if where is not None:
        rule["where"] = where
    return rule


def publish_many(client, topic, payloads, window=64, timeout=30):
    """QoS 1 publishes pipelined within a window; returns once every one is acknowledged."""
    pending = set()
    deadline = time.monotonic() + timeout
    for payload in payloads:
        while len(pending) >= window:
            pending.discard(client.expect_packet(m.PUBACK, max(0.1, deadline - time.monotonic())).packet_id)
        pending.add(client.publish(topic, payload, qos=1, wait=False))
    while pending:
        pending.discard(client.expect_packet(m.PUBACK, max(0.1, deadline - time.monotonic())).packet_id)


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


def test_binary_event_carries_the_message_and_its_cloudevents_attributes(make_broker, receiver, uid):
    broker = start(make_broker, [webhook_rule(receiver, where={"payload.t": {"gt": 30}})])
    pub = broker.connect(uid + "-pub", version=5)
    pub.publish("sensors/kitchen/temp", b'{"t": 35}', qos=1,
                props={"user_property": [("site", "plant-4")]})
    pub.publish("sensors/hall/temp", b'{"t": 20}', qos=1)  # below the threshold: no event
    pub.publish("sensors/hall/temp", b'{"t": 31.5}', qos=1)
    events = receiver.wait_events(2)
    assert [e["subject"] for e in events] == ["sensors/kitchen/temp", "sensors/hall/temp"]
    first = events[0]
    assert first["specversion"] == "1.0"
    assert first["id"].startswith(NODE + "-") and first["id"][len(NODE) + 1:].isdigit()
    assert first["source"] == "tidegate://" + NODE
    assert first["type"] == "io.tidegate.mqtt.message"
    assert first["datacontenttype"] == "application/json"
    assert first["body"] == b'{"t": 35}'
    assert first["mqttclientid"] == uid + "-pub"
    assert first["mqttqos"] == "1"
    assert json.loads(first["mqttuserproperties"]) == [["site", "plant-4"]]
    assert first["time"].endswith("Z")
    assert int(events[1]["id"].split("-")[1]) > int(first["id"].split("-")[1])
    action = action_when(broker, "r", lambda a: a["delivered"] == 2)
    assert action["matched"] == 2 and action["delivered"] == 2
    assert metric(broker.admin_port, 'tidegate_rule_delivered_total{rule="r",action="0",kind="webhook"}') == 2


def test_structured_mode_inlines_json_and_base64s_the_rest(make_broker, receiver, uid):
    broker = start(make_broker, [webhook_rule(receiver, mode="structured", source="#", type="com.example.reading")])
    pub = broker.connect(uid + "-pub", version=5)
    pub.publish("a/json", b'{"v": [1, 2]}', qos=1)
    pub.publish("a/bin", b"\x00\xffraw", qos=1)
    pub.publish("a/text", b"hello", qos=1, props={"content_type": "text/plain"})
    events = receiver.wait_events(3)
    assert all(r.headers["content-type"] == "application/cloudevents+json" for r in receiver.requests)
    by_subject = {e["subject"]: e for e in events}
    assert by_subject["a/json"]["data"] == {"v": [1, 2]}
    assert by_subject["a/json"]["datacontenttype"] == "application/json"
    assert by_subject["a/json"]["type"] == "com.example.reading"
    assert base64.b64decode(by_subject["a/bin"]["data_base64"]) == b"\x00\xffraw"
    assert by_subject["a/bin"]["datacontenttype"] == "application/octet-stream"
    assert base64.b64decode(by_subject["a/text"]["data_base64"]) == b"hello"
    assert by_subject["a/text"]["datacontenttype"] == "text/plain"


def test_batched_mode_sends_arrays_of_events_in_order(make_broker, receiver, uid):
    broker = start(make_broker, [webhook_rule(receiver, mode="batched", batch_size=10, batch_linger_ms=200)])
    pub = broker.connect(uid + "-pub")
    publish_many(pub, "sensors/x", [str(i).encode() for i in range(25)])
    events = receiver.wait_events(25)
    assert all(r.headers["content-type"] == "application/cloudevents-batch+json" for r in receiver.requests)
    assert all(len(r.events()) <= 10 for r in receiver.requests)
    assert len(receiver.requests) >= 3
    assert [e["data"] for e in events] == list(range(25))


def test_conditions_match_and_reject_as_documented(make_broker, receiver, uid):
    where = {
        "topic[1]": {"one_of": ["kitchen", "hall"]},
        "user.site": {"prefix": "plant-"},
        "payload.reading.t": {"gte": 30, "lt": 100},
        "payload.ok": True,
        "content_type": {"exists": False},
    }
    broker = start(make_broker, [webhook_rule(receiver, where=where)])
    pub = broker.connect(uid + "-pub", version=5)
    site = {"user_property": [("site", "plant-4")]}
    cases = [
        ("sensors/kitchen/t", b'{"reading": {"t": 30}, "ok": true}', site, True),
        ("sensors/hall/t", b'{"reading": {"t": 99.5}, "ok": true}', site, True),
        ("sensors/garage/t", b'{"reading": {"t": 40}, "ok": true}', site, False),   # level not one of
        ("sensors/kitchen/t", b'{"reading": {"t": 100}, "ok": true}', site, False),  # not < 100
        ("sensors/kitchen/t", b'{"reading": {"t": 40}, "ok": false}', site, False),  # ok is false
        ("sensors/kitchen/t", b'{"reading": {"t": 40}, "ok": true}', None, False),   # no user property
        ("sensors/kitchen/t", b'{"reading": {"t": 40}, "ok": true}',
         {"user_property": [("site", "office")]}, False),                            # wrong prefix
        ("sensors/kitchen/t", b'{"reading": {"t": "hot"}, "ok": true}', site, False),  # not a number
        ("sensors/kitchen/t", b'not json {', site, False),                           # not JSON: never matches
        ("sensors/kitchen/t", b'{"reading": {"t": 40}, "ok": true}',
         dict(site, content_type="application/json"), False),                        # content type exists
        ("sensors/kitchen/t", b'{"reading": {"t": 45}, "ok": true, "n": 1}', site, True),
    ]
    for topic, payload, props, _ in cases:
        pub.publish(topic, payload, qos=1, props=props)
    expected = [payload for _, payload, _, match in cases if match]
    events = receiver.wait_events(len(expected))
    # The last case matched, so every earlier one was decided: nothing else comes.
    assert [e["body"] for e in events] == expected
    status, rule = admin(broker, "/api/v1/rules/r")
    assert rule["actions"][0]["matched"] == len(expected)
    assert broker.alive()


def test_500_is_retried_and_429_waits_for_retry_after(make_broker, receiver, uid):
    answers = {0: (500, {}, 0), 1: (500, {}, 0), 2: (429, {"Retry-After": "1"}, 0)}
    receiver.respond = lambda i, r: answers.get(i, (200, {}, 0))
    broker = start(make_broker, [webhook_rule(receiver, retry_min_ms=10, retry_max_ms=5000)])
    pub = broker.connect(uid + "-pub")
    pub.publish("sensors/a", b"1", qos=1)
    receiver.wait_until(lambda r: len(r.requests) >= 4, 10, "four attempts")
    ids = {r.headers["ce-id"] for r in receiver.requests}
    assert len(ids) == 1  # the same event each time: the receiver can drop duplicates
    times = [r.at for r in receiver.requests]
    assert times[3] - times[2] >= 0.9  # Retry-After: 1, though the backoff alone is 10-20 ms
    action = action_when(broker, "r", lambda a: a["delivered"] == 1)
    assert action["delivered"] == 1 and action["failed"] == 3 and action["retries"] == 3
    assert action["last_error"] == "HTTP 429"


def test_4xx_goes_to_the_dead_letter_topic_at_once(make_broker, receiver, uid):
    receiver.respond = lambda i, r: (400 if r.body == b"bad" else 200, {}, 0)
    broker = start(make_broker, [webhook_rule(receiver, dead_letter_topic="dead/r")])
    sub = broker.connect(uid + "-sub")
    sub.subscribe("dead/#", qos=1)
    pub = broker.connect(uid + "-pub")
    for payload in (b"one", b"bad", b"two"):
        pub.publish("sensors/a", payload, qos=1)
    letter = sub.expect_packet(m.PUBLISH, 10)
    assert letter.topic == "dead/r"
    event = json.loads(letter.payload)
    assert base64.b64decode(event["data_base64"]) == b"bad"
    receiver.wait_events(3)
    assert sum(1 for r in receiver.requests if r.body == b"bad") == 1  # never tried again
    assert [r.body for r in receiver.requests] == [b"one", b"bad", b"two"]  # and the next ones went on
    action = action_when(broker, "r", lambda a: a["delivered"] == 2)
    assert action["dead_lettered"] == 1 and action["delivered"] == 2


def test_a_receiver_that_never_answers_is_bounded_by_the_timeout(make_broker, receiver, uid):
    receiver.respond = lambda i, r: (200, {}, 3)  # answers after 3 s: too late each time
    broker = start(make_broker, [webhook_rule(receiver, timeout_ms=300, max_attempts=2, dead_letter_topic="dead/r")])
    sub = broker.connect(uid + "-sub", version=5)
    sub.subscribe("dead/#", qos=1)
    pub = broker.connect(uid + "-pub")
    started = time.monotonic()
    pub.publish("sensors/a", b"late", qos=1)
    assert time.monotonic() - started < 1  # the device path does not wait for the webhook
    letter = sub.expect_packet(m.PUBLISH, 10)
    event = json.loads(letter.payload)
    assert base64.b64decode(event["data_base64"]) == b"late"
    assert dict(letter.props.get("user_property", [])).get("tidegate-error") == "no answer within timeout_ms"
    assert len(receiver.requests) == 2


def test_republish_fills_templates_and_never_triggers_itself(make_broker, uid):
    rules = [{"name": "alert", "from": "plant/#", "where": {"payload.t": {"gt": 30}},
              "actions": [{"republish": {"topic": "plant/alerts/{level[1]}", "qos": 1,
                                         "payload": "{\"from\": \"{clientid}\", \"reading\": {payload}}"}}]}]
    broker = start(make_broker, rules)
    sub = broker.connect(uid + "-sub")
    sub.subscribe("plant/#", qos=1)
    pub = broker.connect(uid + "-pub")
    pub.publish("plant/boiler/t", b'{"t": 80}', qos=1)
    pub.publish("plant/fan/t", b'{"t": 10}', qos=1)
    got = [sub.expect_packet(m.PUBLISH, 5) for _ in range(3)]
    topics = sorted(p.topic for p in got)
    assert topics == ["plant/alerts/boiler", "plant/boiler/t", "plant/fan/t"]
    alert = next(p for p in got if p.topic == "plant/alerts/boiler")
    assert json.loads(alert.payload) == {"from": uid + "-pub", "reading": {"t": 80}}
    # The alert matches the rule's own filter and condition: it is not taken again.
    pub.publish("plant/end/t", b'{"t": 1}', qos=1)
    last = sub.expect_packet(m.PUBLISH, 5)
    assert last.topic == "plant/end/t"
    action = action_when(broker, "alert", lambda a: a["delivered"] == 1)
    assert action["matched"] == 1 and action["delivered"] == 1


def test_10000_messages_survive_a_receiver_outage_and_two_sigkills(make_broker, receiver, uid):
    receiver.stop()  # down from the start
    broker = start(make_broker, [webhook_rule(receiver, retry_min_ms=20, retry_max_ms=300, max_attempts=1000000)])
    pub = broker.connect(uid + "-pub")
    publish_many(pub, "sensors/bulk", [str(i).encode() for i in range(5000)])
    broker.restart(kill=True)
    pub = broker.connect(uid + "-pub2")
    publish_many(pub, "sensors/bulk", [str(i).encode() for i in range(5000, 10000)])
    receiver.start()
    receiver.wait_events(3000, timeout=60)
    broker.restart(kill=True)
    events = receiver.wait_events(10000, timeout=120)
    by_id = {}
    for e in events:
        assert by_id.setdefault(e["id"], e["body"]) == e["body"]  # a repeated id is the same event
    assert sorted(int(b) for b in by_id.values()) == list(range(10000))
    # In order: each event first arrives after every earlier one (max_in_flight 1).
    first_seen = []
    seen = set()
    for e in events:
        if e["id"] not in seen:
            seen.add(e["id"])
            first_seen.append(int(e["body"]))
    assert first_seen == sorted(first_seen)


def test_pause_holds_events_in_the_store_and_resume_delivers_them(make_broker, receiver, uid):
    broker = start(make_broker, [webhook_rule(receiver)])
    ctl = [str(pathlib.Path(TIDEGATE_BIN).with_name("tidegatectl")),
           "--admin", "%s:%d" % (HOST, broker.admin_port)]
    out = subprocess.run(ctl + ["rules", "pause", "r"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    pub = broker.connect(uid + "-pub")
    publish_many(pub, "sensors/p", [b"a", b"b", b"c"])
    deadline = time.monotonic() + 5
    while admin(broker, "/api/v1/rules/r")[1]["actions"][0]["backlog"] < 3:
        assert time.monotonic() < deadline, "backlog never reached 3"
        time.sleep(0.1)  # poll interval of a bounded wait on the admin API (refreshed each second)
    assert receiver.requests == []
    listing = subprocess.run(ctl + ["rules", "list"], capture_output=True, text=True, timeout=10)
    assert "paused" in listing.stdout and " 3 " in listing.stdout.replace("3 ", " 3 ")
    assert subprocess.run(ctl + ["rules", "resume", "r"], capture_output=True, timeout=10).returncode == 0
    assert [e["body"] for e in receiver.wait_events(3)] == [b"a", b"b", b"c"]
    missing = subprocess.run(ctl + ["rules", "show", "nope"], capture_output=True, text=True, timeout=10)
    assert missing.returncode == 1 and "no rule named 'nope'" in missing.stderr


@pytest.mark.parametrize("rule, problem", [
    ({"name": "x", "from": "a/#", "actions": [{"webhook": {"url": "ftp://h/x"}}]},
     "rules[0].actions[0].webhook.url: must start with http:// or https://"),
    ({"name": "x", "from": "a/#", "where": {"payload.t": {"above": 3}}, "actions": [{"republish": {"topic": "b"}}]},
     "rules[0].where.payload.t.above: unknown test"),
    ({"name": "x", "from": "a/#", "actions": [{"republish": {"topic": "b/{nope}"}}]},
     "rules[0].actions[0].republish.topic: unknown placeholder {nope}"),
    ({"name": "x", "from": "a/#", "actions": [{"webhook": {"url": "http://h/", "headers": {"ce-id": "1"}}}]},
     "rules[0].actions[0].webhook.headers.ce-id: is set by the gateway"),
    ({"name": "x", "from": "a/#", "actions": []}, "rules[0].actions: must be a non-empty array"),
])
def test_a_rule_that_cannot_work_is_refused_with_its_key(tmp_path, rule, problem):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"data_dir": str(tmp_path / "d"), "rules": [rule]}))
    out = subprocess.run([TIDEGATE_BIN, "--config", str(config)], capture_output=True, text=True, timeout=10)
    assert out.returncode != 0
    assert problem in out.stderr + out.stdout


def test_reload_adds_changes_and_refuses_bad_rules(make_broker, receiver, uid):
    broker = start(make_broker, [webhook_rule(receiver, name="a")])
    pub = broker.connect(uid + "-pub")
    pub.publish("sensors/1", b"1", qos=1)
    receiver.wait_events(1)
    path = broker.workdir / "tidegate.json"
    config = json.loads(path.read_text())
    config["rules"][0]["where"] = {"payload": {"equals": "nope"}, "bad": 1}
    path.write_text(json.dumps(config))
    status, body = post_reload(broker.admin_port)
    assert status == 400 and "rules[0].where.bad: unknown field" in body["error"]
    pub.publish("sensors/2", b"2", qos=1)  # the running rule stays
    receiver.wait_events(2)
    config["rules"][0]["where"] = {"payload": {"one_of": ["3", "5"]}}
    path.write_text(json.dumps(config))
    status, body = post_reload(broker.admin_port)
    assert status == 200 and "rules" in body["applied"]
    for payload in (b"3", b"4", b"5"):
        pub.publish("sensors/x", payload, qos=1)
    assert [e["body"] for e in receiver.wait_events(4)] == [b"1", b"2", b"3", b"5"]


def test_https_webhook_verifies_the_receiver_against_its_ca(make_broker, tmp_path, uid):
    from test_transports import Pki
    pki = Pki(tmp_path / "pki")
    server = pki.issue("server", "localhost", server=True)
    receiver = Receiver(tls=server).start()
    try:
        rules = [webhook_rule(receiver, name="trusted", tls={"ca": pki.ca}),
                 webhook_rule(receiver, name="untrusted", max_attempts=1)]  # the system's CAs only
        broker = start(make_broker, rules)
        pub = broker.connect(uid + "-pub")
        pub.publish("sensors/tls", b"secret", qos=1)
        events = receiver.wait_events(1)
        assert events[0]["body"] == b"secret"
        deadline = time.monotonic() + 10
        while True:
            action = admin(broker, "/api/v1/rules/untrusted")[1]["actions"][0]
            if action["dropped"] == 1:
                break
            assert time.monotonic() < deadline, action
            time.sleep(0.1)  # poll interval of a bounded wait on the admin API
        assert "TLS handshake failed" in action["last_error"], action
        assert receiver.ids == {events[0]["id"]}  # the trusted rule's event only (a retry keeps its id)
    finally:
        receiver.stop()


def test_rule_client_ids_are_reserved(make_broker, receiver):
    broker = start(make_broker, [webhook_rule(receiver)])
    c = broker.client(version=5)
    c.send_raw(m.build_connect("$rule/r/0", version=5))
    ack = c.expect_packet(m.CONNACK, 5)
    assert ack.reason_code == 0x85


def test_replay_delivers_again_from_a_sequence_and_from_a_time(make_broker, receiver, uid):
    broker = start(make_broker, [webhook_rule(receiver)])
    ctl = [str(pathlib.Path(TIDEGATE_BIN).with_name("tidegatectl")), "--admin", "%s:%d" % (HOST, broker.admin_port)]
    pub = broker.connect(uid + "-pub")
    publish_many(pub, "sensors/r", [b"1", b"2", b"3"])
    first = receiver.wait_events(3)
    assert [e["body"] for e in first] == [b"1", b"2", b"3"]
    second_seq = first[1]["id"].split("-")[1]
    out = subprocess.run(ctl + ["rules", "replay", "r", "--from", second_seq], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "'r' delivers again from sequence %s" % second_seq
    receiver.wait_until(lambda r: len(r.requests) >= 5, 10, "two replayed events")
    assert [r.body for r in receiver.requests] == [b"1", b"2", b"3", b"2", b"3"]
    assert [r.headers["ce-id"] for r in receiver.requests[3:]] == [first[1]["id"], first[2]["id"]]  # same ids
    # From a time: an hour ago takes everything still stored.
    out = subprocess.run(ctl + ["rules", "replay", "r", "--from", "-1h"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    receiver.wait_until(lambda r: len(r.requests) >= 8, 10, "three more replayed events")
    assert [r.body for r in receiver.requests[5:]] == [b"1", b"2", b"3"]
    bad = subprocess.run(ctl + ["rules", "replay", "r", "--from", "yesterday"], capture_output=True, text=True, timeout=10)
    assert bad.returncode == 2 and "--from wants" in bad.stderr


def test_a_kept_alive_connection_the_receiver_closed_is_not_a_failed_attempt(make_broker, receiver, uid):
    receiver.close_after_answer = True  # as an idle keep-alive timeout would
    broker = start(make_broker, [webhook_rule(receiver, max_attempts=1)])
    pub = broker.connect(uid + "-pub")
    for i in range(5):
        pub.publish("sensors/k", str(i).encode(), qos=1)
        receiver.wait_events(i + 1)
    action = action_when(broker, "r", lambda a: a["delivered"] == 5)
    assert action["delivered"] == 5 and action["failed"] == 0 and action["dropped"] == 0


def test_payloads_that_cannot_become_an_event_are_dead_lettered_not_fatal(make_broker, receiver, uid):
    rules = [webhook_rule(receiver, name="bin", where={"payload.x": {"exists": False}}, dead_letter_topic="dead/bin"),
             webhook_rule(receiver, name="st", mode="structured", source="deep/#")]
    broker = start(make_broker, rules, max_packet_size=1 << 20)
    sub = broker.connect(uid + "-sub", version=5)
    sub.subscribe("dead/#", qos=1)
    pub = broker.connect(uid + "-pub", version=5)
    # 10 KB of user properties cannot travel in binary mode's headers.
    pub.publish("sensors/big", b"1", qos=1, props={"user_property": [("k", "v" * 10000)]})
    letter = sub.expect_packet(m.PUBLISH, 10)
    assert "header would be" in dict(letter.props["user_property"])["tidegate-error"]
    # 200,000 nested arrays: not JSON for rules (no crash), so the data is base64.
    deep = b"[" * 200000 + b"]" * 200000
    pub.publish("deep/x", deep, qos=1)
    events = receiver.wait_events(1)
    assert base64.b64decode(events[0]["data_base64"]) == deep
    pub.publish("sensors/ok", b"2", qos=1)
    assert [e.get("body") for e in receiver.wait_events(2)][1:] == [b"2"]
    assert broker.alive()


def test_idle_webhooks_with_several_connections_do_not_spin(make_broker, receiver, uid):
    broker = start(make_broker, [webhook_rule(receiver, max_in_flight=4)])
    pub = broker.connect(uid + "-pub")
    publish_many(pub, "sensors/s", [b"%d" % i for i in range(20)])
    receiver.wait_events(20)

    def cpu_seconds():
        fields = open("/proc/%d/stat" % broker.pid).read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    before, started = cpu_seconds(), time.monotonic()
    time.sleep(1.0)  # the measured idle second itself, not a synchronisation
    used = cpu_seconds() - before
    assert used < 0.5 * (time.monotonic() - started), "an idle gateway used %.2f s of CPU in 1 s" % used


def test_a_replay_survives_a_sigkill_before_anything_was_delivered_again(make_broker, receiver, uid):
    broker = start(make_broker, [webhook_rule(receiver)])
    pub = broker.connect(uid + "-pub")
    publish_many(pub, "sensors/k", [b"1", b"2", b"3"])
    first = receiver.wait_events(3)
    assert admin(broker, "/api/v1/rules/r/pause", method="POST")[0] == 200
    from_seq = first[0]["id"].split("-")[1]
    assert admin(broker, "/api/v1/rules/r/replay?from_seq=" + from_seq, method="POST")[0] == 200
    assert admin(broker, "/api/v1/rules/r")[1]["paused"] is True  # a replay keeps the pause
    broker.restart(kill=True)  # nothing of the replay was delivered yet
    # The rule restarts unpaused (a pause is not kept across restarts) from the replay's point.
    receiver.wait_until(lambda r: len(r.requests) >= 6, 10, "the replayed events after the restart")
    assert [r.body for r in receiver.requests] == [b"1", b"2", b"3", b"1", b"2", b"3"]
