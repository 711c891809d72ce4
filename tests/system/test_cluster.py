"""Cluster mode (docs/cluster.md): several real tidegate processes sharing a
real `nats-server -js` on loopback. Devices are raw MQTT clients; every process is
started here and killed by PID at teardown."""

import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import pytest

import mqttraw as m
from conftest import HOST, free_port, wait_port
from tcp_forwarder import Forwarder
from test_admin_api import prometheus_samples

pytestmark = pytest.mark.tidegate_only(reason="tidegate cluster mode (JSON config, NATS JetStream)")

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


class NatsServer:
    """One `nats-server -js` process (optionally a member of a NATS cluster)."""

    def __init__(self, workdir, name="n0", cluster_port=None, routes=()):
        self.monitor_port = free_port()
        if not os.path.exists(NATS_SERVER):
            pytest.fail("nats-server not found (Debian package nats-server; tools/bootstrap.sh test installs it)")
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.port = free_port()
        self.cluster_port = cluster_port
        self.routes = list(routes)
        self.proc = None
        self.start()

    @property
    def url(self):
        return "nats://%s:%d" % (HOST, self.port)

    def start(self):
        conf = ["listen: %s:%d" % (HOST, self.port), "server_name: %s" % self.name,
                "http: %s:%d" % (HOST, self.monitor_port),
                "jetstream { store_dir: %s }" % json.dumps(str(self.workdir / "js"))]
        if self.cluster_port:
            conf.append("cluster { name: tg; listen: %s:%d; routes: [%s] }"
                        % (HOST, self.cluster_port, ", ".join("nats-route://%s:%d" % (HOST, p) for p in self.routes)))
        path = self.workdir / "nats.conf"
        path.write_text("\n".join(conf) + "\n")
        log = open(self.workdir / "nats.log", "ab")
        self.proc = subprocess.Popen([NATS_SERVER, "-c", str(path)], stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()
        wait_port(HOST, self.port, self.proc, 10)

    def jetstream_ready(self):
        """True once this server's JetStream answers (in a cluster: a meta leader is elected)."""
        try:
            jsz = json.loads(urllib.request.urlopen("http://%s:%d/jsz" % (HOST, self.monitor_port), timeout=2).read())
        except OSError:
            return False
        if self.cluster_port is None:
            return "config" in jsz
        return bool(jsz.get("meta_cluster", {}).get("leader"))

    def stream_leader(self, stream="TIDEGATE"):
        """The server_name leading `stream`, as this server sees it (None: unknown)."""
        url = "http://%s:%d/jsz?streams=true" % (HOST, self.monitor_port)
        jsz = json.loads(urllib.request.urlopen(url, timeout=2).read())
        for account in jsz.get("account_details", []):
            for st in account.get("stream_detail", []):
                if st.get("name") == stream:
                    return st.get("cluster", {}).get("leader")
        return None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None


@pytest.fixture
def nats(tmp_path):
    servers = []

    def start(**kw):
        s = NatsServer(tmp_path / ("nats%d" % len(servers)), **kw)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.kill()


@pytest.fixture
def gateway(make_broker):
    """gateway(node, nats_urls, **config): a tidegate in cluster mode with its admin API."""

    def start(node, urls, **config):
        cluster = {"node": node, "nats": list(urls), "request_timeout_ms": 2000}
        cluster.update(config.pop("cluster", {}))
        g = make_broker(cluster=cluster, admin={"port": free_port()}, **config)
        g.admin_port = g.config["admin"]["port"]
        wait_running(g)
        return g

    return start


def ctl(gw, *args):
    """tidegatectl against a gateway's admin API; its standard output."""
    from test_tidegatectl import CTL
    r = subprocess.run([CTL, "--admin", "%s:%d" % (HOST, gw.admin_port), *args], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return r.stdout


def wait_running(gw, timeout=30):
    """The MQTT port accepts from the start; the admin API answers only once the
    gateway runs, after it subscribed to the other gateways' notify (a message
    published elsewhere before that is not this gateway's)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return cluster_api(gw)
        except OSError:
            assert time.monotonic() < deadline, "the gateway's admin API never answered"
            time.sleep(0.05)  # polling the admin API with a deadline


def cluster_api(gw, key=None):
    url = "http://%s:%d/api/v1/cluster" % (HOST, gw.admin_port)
    if key:
        url += "?key=" + urllib.parse.quote(key, safe="")
    return json.loads(urllib.request.urlopen(url, timeout=5).read())


def wait_lookup_stable(gateways, timeout=15):
    """Until every gateway's lookup answers: all members on one epoch, every owner complete."""
    deadline = time.monotonic() + timeout
    while True:
        docs = [cluster_api(g) for g in gateways]
        epochs = {d["lookup"]["epoch"] for d in docs}
        if all(d["lookup"]["stable"] for d in docs) and len(epochs) == 1 and \
                all(len(d["lookup"]["members"]) == len(gateways) for d in docs):
            return docs
        assert time.monotonic() < deadline, "the lookup did not settle: %r" % [d["lookup"] for d in docs]
        time.sleep(0.05)  # polling the admin API with a deadline


def metrics(gw):
    text = urllib.request.urlopen("http://%s:%d/metrics" % (HOST, gw.admin_port), timeout=5).read().decode()
    return prometheus_samples(text)


@pytest.fixture
def two_gateways(nats, gateway):
    server = nats()
    return gateway("a", [server.url]), gateway("b", [server.url]), server


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_message_published_on_one_gateway_reaches_a_subscriber_on_another(two_gateways, uid, qos):
    a, b, _ = two_gateways
    topic = "cl/" + uid
    sub = b.connect(uid + "-s", 5)
    assert sub.subscribe(topic, qos=2).reason_codes == [2]
    pub = a.connect(uid + "-p", 5)
    ack = pub.publish(topic, b"across", qos=qos)
    if qos == 1:
        # Acknowledged after JetStream stored it; never "no matching subscribers"
        # (the subscriber is on the other gateway).
        assert ack.reason_code == m.RC_SUCCESS, ack
    p = sub.expect_packet(m.PUBLISH, timeout=5)
    assert (p.topic, p.payload, p.qos) == (topic, b"across", qos)


def test_wildcard_filters_across_gateways(two_gateways, uid):
    a, b, _ = two_gateways
    base = "w/" + uid
    sub_hash = b.connect(uid + "-h", 5)
    sub_hash.subscribe(base + "/#", qos=1)
    sub_plus = b.connect(uid + "-p", 5)
    sub_plus.subscribe(base + "/+/temp", qos=1)
    pub = a.connect(uid + "-pub", 5)
    # `base/#` also matches `base` itself (MQTT-4.7.1-2); `+` exactly one level.
    for topic, payload in [(base, b"parent"), (base + "/r1/temp", b"t1"), (base + "/r1/x/temp", b"deep"),
                           (base + "/r2/temp", b"t2"), ("other/" + uid, b"no"), (base + "/end", b"end")]:
        pub.publish(topic, payload, qos=1)
    got_hash = [(p.topic, p.payload) for p in sub_hash.publishes_until(b"end", timeout=5)]
    assert got_hash == [(base, b"parent"), (base + "/r1/temp", b"t1"), (base + "/r1/x/temp", b"deep"),
                        (base + "/r2/temp", b"t2"), (base + "/end", b"end")]
    pub.publish(base + "/r3/temp", b"last", qos=1)
    got_plus = [(p.topic, p.payload) for p in sub_plus.publishes_until(b"last", timeout=5)]
    assert got_plus == [(base + "/r1/temp", b"t1"), (base + "/r2/temp", b"t2"), (base + "/r3/temp", b"last")]


def test_topics_with_characters_nats_treats_specially_arrive_unchanged(two_gateways, uid):
    a, b, _ = two_gateways
    sub = b.connect(uid + "-s", 5)
    sub.subscribe("sp/" + uid + "/#", qos=1)
    pub = a.connect(uid + "-p", 5)
    topics = ["sp/%s/a.b" % uid, "sp/%s/*" % uid, "sp/%s/>" % uid, "sp/%s/with space" % uid,
              "sp/%s/50%%25" % uid, "sp/%s//empty" % uid, "sp/%s/ünï" % uid]
    for i, t in enumerate(topics):
        pub.publish(t, b"%d" % i, qos=1)
    got = sub.publishes_until(b"%d" % (len(topics) - 1), timeout=5)
    assert [p.topic for p in got] == topics
    assert [p.payload for p in got] == [b"%d" % i for i in range(len(topics))]


def test_order_of_one_publisher_is_kept_across_gateways(two_gateways, uid):
    a, b, _ = two_gateways
    topic = "ord/" + uid
    sub = b.connect(uid + "-s", 5)
    sub.subscribe(topic, qos=1)
    pub = a.connect(uid + "-p", 5)
    # QoS 0 and 1 mixed, sent without waiting (40 QoS 1 in flight: under Receive Maximum).
    for i in range(120):
        pub.publish(topic, b"%d" % i, qos=1 if i % 3 == 0 else 0, wait=False)
    got = sub.publishes_until(b"119", timeout=10)
    assert [p.payload for p in got] == [b"%d" % i for i in range(120)]


def test_retained_message_from_another_gateway_is_sent_to_a_later_subscriber(two_gateways, uid):
    a, b, _ = two_gateways
    topic = "ret/" + uid
    pub = a.connect(uid + "-p", 5)
    assert pub.publish(topic, b"kept", qos=1, retain=True).reason_code in (m.RC_SUCCESS, 0x10)
    # b had no subscriber when it was published; b keeps it all the same.
    deadline = time.monotonic() + 5
    while metrics(b).get("tidegate_cluster_fetched_total", 0) < 1:
        assert time.monotonic() < deadline, "b never read the retained message"
        time.sleep(0.02)  # polling a counter with a deadline, not a synchronisation by time
    sub = b.connect(uid + "-s", 5)
    sub.subscribe(topic, qos=1)
    p = sub.expect_packet(m.PUBLISH, timeout=5)
    assert (p.topic, p.payload, p.retain) == (topic, b"kept", True)


def test_events_for_topics_nobody_here_subscribes_are_not_read(two_gateways, uid):
    a, b, _ = two_gateways
    watcher = b.connect(uid + "-w", 5)
    watcher.subscribe("watched/" + uid, qos=1)
    pub = a.connect(uid + "-p", 5)
    for i in range(5):
        pub.publish("unwatched/%s/%d" % (uid, i), b"x", qos=1)
    pub.publish("watched/" + uid, b"seen", qos=1)
    assert watcher.expect_packet(m.PUBLISH, timeout=5).payload == b"seen"
    mb = metrics(b)
    assert mb["tidegate_cluster_events_received_total"] >= 6
    assert mb["tidegate_cluster_skipped_total"] >= 5
    assert mb["tidegate_cluster_fetched_total"] == 1


def test_publish_is_refused_not_acknowledged_while_jetstream_is_unreachable(two_gateways, uid):
    a, b, server = two_gateways
    pub5 = a.connect(uid + "-5", 5)
    pub3 = a.connect(uid + "-3", 4)
    assert pub5.publish("up/" + uid, b"ok", qos=1).reason_code in (m.RC_SUCCESS, 0x10)
    server.kill()
    started = time.monotonic()
    ack = pub5.publish("down/" + uid, b"lost", qos=1, timeout=10)
    assert ack.reason_code == 0x80, "a message JetStream did not store must not be acknowledged: %r" % ack
    assert time.monotonic() - started < 8  # within request_timeout_ms (2 s) and some slack
    # 3.1.1 has no negative PUBACK: the connection is closed without one.
    pub3.send_raw(m.build_publish("down/" + uid, b"lost", 1, False, False, 9, 4, None))
    pub3.expect_closed(timeout=10)
    assert metrics(a)["tidegate_cluster_append_errors_total"] >= 2


def test_gateway_recovers_when_jetstream_comes_back(two_gateways, uid):
    a, b, server = two_gateways
    server.kill()
    server.start()  # same port, same store directory
    sub = b.connect(uid + "-s", 5)
    sub.subscribe("back/" + uid, qos=1)
    pub = a.connect(uid + "-p", 5)
    deadline = time.monotonic() + 15
    while True:
        ack = pub.publish("back/" + uid, b"again", qos=1, timeout=10)
        if ack.reason_code == m.RC_SUCCESS:
            break
        assert time.monotonic() < deadline, "the gateway did not reconnect to NATS"
    # Whichever gateway reconnected first, b's subscriber gets it: by the notify,
    # or by the catch-up b runs after its reconnect.
    assert sub.expect_packet(m.PUBLISH, timeout=5).payload == b"again"
    deadline = time.monotonic() + 5
    while metrics(b)["tidegate_cluster_catch_ups_total"] < 1:
        assert time.monotonic() < deadline, "b did not read the stream after reconnecting"
        time.sleep(0.02)  # polling a counter with a deadline


def test_config_without_nats_servers_is_refused(tmp_path):
    from conftest import TIDEGATE_BIN
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"data_dir": str(tmp_path / "d"), "cluster": {"node": "a", "nats": []}}))
    r = subprocess.run([TIDEGATE_BIN, "--config", str(cfg)], capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    assert "cluster.nats" in r.stderr + r.stdout


def test_unreachable_nats_at_start_is_a_clear_error(tmp_path):
    from conftest import TIDEGATE_BIN
    cfg = tmp_path / "c.json"
    port = free_port()
    cfg.write_text(json.dumps({"data_dir": str(tmp_path / "d"),
                               "listeners": [{"bind": HOST, "port": free_port()}],
                               "cluster": {"node": "a", "nats": ["nats://%s:%d" % (HOST, port)],
                                           "request_timeout_ms": 500}}))
    r = subprocess.run([TIDEGATE_BIN, "--config", str(cfg)], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    out = r.stderr + r.stdout
    assert "nats://%s:%d" % (HOST, port) in out, out


def collect_until_quiet(clients, want, timeout=10):
    """PUBLISH payloads per client until `want` arrived in total (or the deadline)."""
    got = {c: [] for c in clients}
    deadline = time.monotonic() + timeout
    while sum(len(v) for v in got.values()) < want and time.monotonic() < deadline:
        for c in clients:
            try:
                p = c.read_packet(0.05)
            except m.NoPacket:
                continue
            if p.type == m.PUBLISH:
                got[c].append(p.payload)
    return got


def test_shared_subscription_gives_each_message_to_one_member_across_gateways(two_gateways, uid):
    a, b, _ = two_gateways
    group = "$share/g%s/sh/%s" % (os.getpid(), uid)
    member_a = a.connect(uid + "-ma", 5)
    member_a.subscribe(group, qos=1)
    member_b = b.connect(uid + "-mb", 5)
    member_b.subscribe(group, qos=1)
    pub = a.connect(uid + "-p", 5)
    sent = [b"%d" % i for i in range(40)]
    for payload in sent:
        pub.publish("sh/" + uid, payload, qos=1)
    got = collect_until_quiet([member_a, member_b], len(sent))
    everything = got[member_a] + got[member_b]
    assert sorted(everything) == sorted(sent), "each message exactly once to the group"
    assert got[member_a] and got[member_b], "JetStream spreads the group's messages over both gateways"
    # Nothing more comes (no second copy from the other gateway).
    assert collect_until_quiet([member_a, member_b], 1, timeout=0.5) == {member_a: [], member_b: []}


def test_shared_subscription_member_on_another_gateway_gets_everything(two_gateways, uid):
    a, b, _ = two_gateways
    group = "$share/only/one/%s/+" % uid
    member = b.connect(uid + "-m", 5)
    member.subscribe(group, qos=1)
    ordinary = a.connect(uid + "-o", 5)
    ordinary.subscribe("one/%s/+" % uid, qos=1)
    pub = a.connect(uid + "-p", 5)
    for i in range(10):
        pub.publish("one/%s/%d" % (uid, i), b"%d" % i, qos=1)
    got = member.publishes_until(b"9", timeout=5)
    assert sorted(p.payload for p in got) == sorted(b"%d" % i for i in range(10))
    # The ordinary subscriber beside the group still gets its own copy of each.
    assert [p.payload for p in ordinary.publishes_until(b"9", timeout=5)] == [b"%d" % i for i in range(10)]


def test_shared_group_left_on_one_gateway_continues_on_the_other(two_gateways, uid):
    a, b, _ = two_gateways
    group = "$share/left/lv/" + uid
    member_a = a.connect(uid + "-ma", 5)
    member_a.subscribe(group, qos=1)
    member_b = b.connect(uid + "-mb", 5)
    member_b.subscribe(group, qos=1)
    member_a.unsubscribe(group)
    pub = a.connect(uid + "-p", 5)
    for i in range(10):
        pub.publish("lv/" + uid, b"%d" % i, qos=1)
    got = member_b.publishes_until(b"9", timeout=5)
    assert sorted(p.payload for p in got) == sorted(b"%d" % i for i in range(10))


def gateway_behind_a_forwarder(nats, gateway, topic, uid, **config):
    """a on NATS directly, b through a TCP forwarder (to cut it off); a
    subscriber on b to `topic` and a publisher on a, with one message through.
    Returns (a, b, forwarder, subscriber, publisher)."""
    server = nats()
    a = gateway("a", [server.url])
    relay = Forwarder(server.port)
    b = gateway("b", ["nats://%s:%d" % (HOST, relay.port)], **config)
    sub = b.connect(uid + "-s", 5)
    sub.subscribe(topic, qos=1)
    pub = a.connect(uid + "-p", 5)
    pub.publish(topic, b"before", qos=1)
    assert sub.expect_packet(m.PUBLISH, timeout=5).payload == b"before"
    return a, b, relay, sub, pub


def test_messages_missed_while_a_gateway_was_cut_from_nats_are_caught_up(nats, gateway, uid):
    """b loses its NATS connection while a keeps publishing (and acknowledging):
    b never receives those notify messages, and reads them from the stream instead."""
    a, b, relay, sub, pub = gateway_behind_a_forwarder(nats, gateway, "gap/" + uid, uid)
    relay.cut()
    for i in range(5):
        assert pub.publish("gap/" + uid, b"during%d" % i, qos=1).reason_code == m.RC_SUCCESS
    relay.restore()
    got = sub.publishes_until(b"during4", timeout=15)
    assert [p.payload for p in got] == [b"during%d" % i for i in range(5)]
    assert metrics(b)["tidegate_cluster_caught_up_total"] >= 5
    relay.cut()


@pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
def test_client_id_connecting_on_another_gateway_closes_the_older_connection(two_gateways, uid, version):
    a, b, _ = two_gateways
    first = a.connect(uid, version)
    second = b.connect(uid, version)
    if version == 5:
        # [MQTT-3.1.4-3] across gateways: the older connection is told why.
        p = first.expect_packet(m.DISCONNECT, timeout=5)
        assert p.reason_code == 0x8E, p
    first.expect_closed(timeout=5)
    assert second.is_open()
    assert metrics(a)["tidegate_cluster_takeovers_total"] == 1
    assert metrics(b)["tidegate_cluster_takeovers_total"] == 0
    # The client now lives on b: messages for it arrive there.
    second.subscribe("to/" + uid, qos=1)
    pub = a.connect(uid + "-p", 5)
    pub.publish("to/" + uid, b"here", qos=1)
    assert second.expect_packet(m.PUBLISH, timeout=5).payload == b"here"


def test_session_parked_on_one_gateway_ends_when_its_client_connects_on_another(two_gateways, uid):
    a, b, _ = two_gateways
    c = a.connect(uid, 5, clean=False, props={"session_expiry_interval": 3600})
    c.subscribe("parked/" + uid, qos=1)
    c.disconnect()
    sessions = json.loads(urllib.request.urlopen("http://%s:%d/api/v1/sessions" % (HOST, a.admin_port),
                                                 timeout=5).read())
    assert any(s["client_id"] == uid for s in sessions["sessions"]), sessions
    b.connect(uid, 5)
    deadline = time.monotonic() + 5
    while metrics(a)["tidegate_cluster_takeovers_total"] < 1:
        assert time.monotonic() < deadline, "a kept the parked session"
        time.sleep(0.02)  # polling a counter with a deadline
    sessions = json.loads(urllib.request.urlopen("http://%s:%d/api/v1/sessions" % (HOST, a.admin_port),
                                                 timeout=5).read())
    assert not any(s["client_id"] == uid for s in sessions["sessions"]), sessions


@pytest.fixture
def settled_gateways(nats, gateway):
    """Two gateways whose lookup answers (a session moves only when it can name the holder)."""
    server = nats()
    gws = [gateway("a", [server.url]), gateway("b", [server.url])]
    wait_lookup_stable(gws)
    return gws + [server]


def connect_and_claim(gw, client_id, version, **kw):
    """Connect, then wait until the lookup has answered this gateway's claim of the id."""
    before = cluster_api(gw)["lookup"]["answered"]
    c = gw.connect(client_id, version, **kw)
    deadline = time.monotonic() + 5
    while cluster_api(gw)["lookup"]["answered"] == before:
        assert time.monotonic() < deadline, "the lookup did not answer the claim"
        time.sleep(0.02)  # polling a counter with a deadline
    return c


def session_ids(gw):
    doc = json.loads(urllib.request.urlopen("http://%s:%d/api/v1/sessions" % (HOST, gw.admin_port), timeout=5).read())
    return {s["client_id"] for s in doc["sessions"]}


def wait_moved_out(gw, count=1):
    deadline = time.monotonic() + 5
    while cluster_api(gw)["sessions_moved"]["out"] < count:
        assert time.monotonic() < deadline, "the old gateway did not hand the session over"
        time.sleep(0.02)  # polling a counter with a deadline


@pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
def test_persistent_session_continues_on_another_gateway_with_what_was_queued(settled_gateways, uid, version):
    a, b, _ = settled_gateways
    props = {"session_expiry_interval": 3600} if version == 5 else None
    topic = "move/%s/" % uid
    c = connect_and_claim(a, uid, version, clean=False, props=props)
    c.subscribe([(topic + "#", 1)])
    c.disconnect()
    # Published while the client is away: queued for its session on a.
    pub = a.connect(uid + "-p", 5)
    for i in range(20):
        pub.publish(topic + str(i), b"q%d" % i, qos=1)
    moved = b.connect(uid, version, clean=False, props=props)
    assert moved.connack.session_present
    got = moved.publishes_until(b"q19", timeout=10)
    assert [p.payload for p in got] == [b"q%d" % i for i in range(20)]
    # The subscription came along: new messages reach the client on b, once.
    pub.publish(topic + "after", b"after", qos=1)
    pub.publish(topic + "end", b"end", qos=1)
    assert [p.payload for p in moved.publishes_until(b"end", timeout=5)] == [b"after", b"end"]
    wait_moved_out(a)
    assert uid not in session_ids(a)
    assert cluster_api(b)["sessions_moved"]["in"] == 1
    assert metrics(b)["tidegate_cluster_sessions_moved_in_total"] == 1
    assert metrics(a)["tidegate_cluster_sessions_moved_out_total"] == 1
    text = ctl(b, "cluster")
    moved_lines = text[text.index("sessions_moved:"):].split("\n")[1:3]
    assert [l.split() for l in moved_lines] == [["in:", "1"], ["out:", "0"]], text


def test_unacknowledged_messages_are_resent_by_the_new_gateway_with_their_packet_ids(settled_gateways, uid):
    a, b, _ = settled_gateways
    props = {"session_expiry_interval": 3600}
    first = connect_and_claim(a, uid, 5, clean=False, props=props, auto_ack=False)
    first.subscribe("unacked/" + uid, qos=1)
    pub = a.connect(uid + "-p", 5)
    for i in range(3):
        pub.publish("unacked/" + uid, b"u%d" % i, qos=1)
    sent = [first.expect_packet(m.PUBLISH, timeout=5) for _ in range(3)]  # never acknowledged
    moved = b.connect(uid, 5, clean=False, props=props)
    assert first.expect_packet(m.DISCONNECT, timeout=5).reason_code == 0x8E
    assert moved.connack.session_present
    again = [moved.expect_packet(m.PUBLISH, timeout=5) for _ in range(3)]
    # MQTT-4.4.0-1: the same packet ids, marked DUP.
    assert [(p.payload, p.packet_id, p.dup) for p in again] == [(p.payload, p.packet_id, True) for p in sent]
    pub.publish("unacked/" + uid, b"next", qos=1)
    assert [p.payload for p in moved.publishes_until(b"next", timeout=5)] == [b"next"]
    assert cluster_api(b)["sessions_moved"]["in"] == 1


def test_messages_published_while_the_session_moves_are_neither_lost_nor_repeated(settled_gateways, uid):
    a, b, _ = settled_gateways
    props = {"session_expiry_interval": 3600}
    topic = "busy/" + uid
    first = connect_and_claim(a, uid, 5, clean=False, props=props)
    first.subscribe(topic, qos=1)
    pub = a.connect(uid + "-p", 5)
    received = []
    count = 400
    for i in range(count // 2):
        pub.publish(topic, b"%d" % i, qos=1)
    # The client moves while the publisher (on a) goes on with the rest.
    publisher = threading.Thread(target=lambda: [pub.publish(topic, b"%d" % i, qos=1) for i in range(count // 2, count)])
    publisher.start()
    try:
        moved = b.connect(uid, 5, clean=False, props=props)
    finally:
        publisher.join(timeout=30)
    assert not publisher.is_alive()
    # What the first connection read before it was taken over, acknowledged or not.
    while True:
        try:
            p = first.read_packet(5)
        except (m.NoPacket, m.ConnectionClosed, OSError):
            break
        if p.type == m.PUBLISH:
            received.append(p)
        elif p.type == m.DISCONNECT:
            break
    received += moved.publishes_until(b"%d" % (count - 1), timeout=20)
    payloads = [int(p.payload) for p in received]
    assert set(payloads) == set(range(count)), "lost: %r" % sorted(set(range(count)) - set(payloads))
    # A repeat is only a resend of what the first connection had not acknowledged.
    seen = set()
    for p in received:
        n = int(p.payload)
        assert n not in seen or p.dup, "message %d delivered twice" % n
        seen.add(n)
    assert cluster_api(b)["sessions_moved"]["in"] == 1


def test_messages_handed_over_survive_a_crash_of_the_new_gateway(settled_gateways, uid):
    a, b, _ = settled_gateways
    topic = "keep/" + uid
    c = connect_and_claim(a, uid, 5, clean=False, props={"session_expiry_interval": 3600})
    c.subscribe(topic, qos=1)
    c.disconnect()
    pub = a.connect(uid + "-p", 5)
    for i in range(10):
        pub.publish(topic, b"k%d" % i, qos=1)
    # One message in flight at a time: the other nine stay handed over, unsent.
    moved = b.connect(uid, 5, clean=False, props={"session_expiry_interval": 3600, "receive_maximum": 1},
                      auto_ack=False)
    assert moved.connack.session_present
    assert moved.expect_packet(m.PUBLISH, timeout=5).payload == b"k0"
    wait_moved_out(a)  # a has let go: b's store is the only copy
    b.restart(kill=True)
    wait_running(b)
    back = b.connect(uid, 5, clean=False, props={"session_expiry_interval": 3600})
    assert back.connack.session_present
    got = back.publishes_until(b"k9", timeout=10)
    assert [p.payload for p in got] == [b"k%d" % i for i in range(10)]
    assert got[0].dup  # k0 had gone out before the crash


def test_session_on_a_killed_gateway_does_not_hold_up_its_client(settled_gateways, uid):
    a, b, _ = settled_gateways
    c = connect_and_claim(a, uid, 5, clean=False, props={"session_expiry_interval": 3600})
    c.subscribe("lost/" + uid, qos=1)
    a.stop(kill=True)
    # Nobody can hand the session over: a new one, well within connect_timeout.
    started = time.monotonic()
    fresh = b.connect(uid, 5, clean=False, props={"session_expiry_interval": 3600}, timeout=10)
    assert not fresh.connack.session_present
    assert time.monotonic() - started < 8
    fresh.subscribe("lost/" + uid, qos=1)
    pub = b.connect(uid + "-p", 5)
    pub.publish("lost/" + uid, b"served", qos=1)
    assert fresh.expect_packet(m.PUBLISH, timeout=5).payload == b"served"


def test_a_move_that_cannot_finish_is_refused_and_the_next_attempt_moves_the_session(settled_gateways, uid):
    a, b, _ = settled_gateways
    props = {"session_expiry_interval": 3600}
    # A client id whose lookup key b holds: b can still ask who holds it while a is stopped.
    client_id = next(uid + "-%d" % i for i in range(500)
                     if cluster_api(b, "c:%s-%d" % (uid, i))["lookup"]["owner_of"]["c:%s-%d" % (uid, i)] == "b")
    c = connect_and_claim(a, client_id, 5, clean=False, props=props)
    c.subscribe("retry/" + uid, qos=1)
    c.disconnect()
    a.connect(uid + "-p", 5).publish("retry/" + uid, b"kept", qos=1)
    os.kill(a.pid, signal.SIGSTOP)  # alive (subscribed) but not answering: the move cannot finish
    try:
        refused = b.client(5, timeout=10).connect(client_id, clean=False, props=props, expect_success=False)
    finally:
        os.kill(a.pid, signal.SIGCONT)
    assert refused.reason_code == 0x88  # server unavailable: try again
    assert cluster_api(b)["sessions_moved"]["failed"] == 1
    wait_lookup_stable([a, b])
    moved = b.connect(client_id, 5, clean=False, props=props)
    assert moved.connack.session_present
    assert moved.expect_packet(m.PUBLISH, timeout=5).payload == b"kept"


def test_session_restored_by_a_restarted_gateway_still_follows_its_client(settled_gateways, uid):
    a, b, _ = settled_gateways
    props = {"session_expiry_interval": 3600}
    c = connect_and_claim(a, uid, 5, clean=False, props=props)
    c.subscribe("restored/" + uid, qos=1)
    c.disconnect()
    a.connect(uid + "-p", 5).publish("restored/" + uid, b"before the restart", qos=1)
    a.restart()
    # a names itself the holder of what it restored once the lookup has its state.
    wait_lookup_stable([a, b])
    moved = b.connect(uid, 5, clean=False, props=props)
    assert moved.connack.session_present
    assert moved.expect_packet(m.PUBLISH, timeout=5).payload == b"before the restart"


def test_clean_start_on_another_gateway_ends_the_session_there(settled_gateways, uid):
    a, b, _ = settled_gateways
    c = connect_and_claim(a, uid, 5, clean=False, props={"session_expiry_interval": 3600})
    c.subscribe("clean/" + uid, qos=1)
    c.disconnect()
    fresh = b.connect(uid, 5, clean=True)
    assert not fresh.connack.session_present
    deadline = time.monotonic() + 5
    while uid in session_ids(a):
        assert time.monotonic() < deadline, "a kept the session"
        time.sleep(0.02)  # polling the admin API with a deadline
    assert cluster_api(b)["sessions_moved"]["in"] == 0


def wait_jetstream(servers, timeout=30):
    deadline = time.monotonic() + timeout
    while not all(s.jetstream_ready() for s in servers):
        assert time.monotonic() < deadline, "the NATS cluster did not elect a JetStream leader"
        time.sleep(0.1)  # polling the servers' monitoring endpoint with a deadline


@pytest.fixture
def nats_cluster(nats):
    cluster_ports = [free_port() for _ in range(3)]
    servers = [nats(name="n%d" % i, cluster_port=cluster_ports[i], routes=cluster_ports) for i in range(3)]
    wait_jetstream(servers)
    return servers


def test_nats_node_killed_in_a_three_node_cluster_loses_no_acknowledged_message(nats_cluster, gateway, uid):
    urls = [s.url for s in nats_cluster]
    replicated = {"replicas": 3, "request_timeout_ms": 3000}
    a = gateway("a", urls, cluster=replicated)
    b = gateway("b", urls[::-1], cluster=replicated)
    topic = "r3/" + uid
    sub = b.connect(uid + "-s", 5)
    sub.subscribe(topic, qos=1)
    pub = a.connect(uid + "-p", 5)
    acknowledged, refused = [], []
    leader = nats_cluster[0].stream_leader()
    assert leader in ("n0", "n1", "n2"), leader
    for i in range(60):
        if i == 20:
            # The stream's leader: JetStream must elect another while we publish.
            next(s for s in nats_cluster if s.name == leader).kill()
        payload = b"%d" % i
        ack = pub.publish(topic, payload, qos=1, timeout=15)
        (acknowledged if ack.reason_code == m.RC_SUCCESS else refused).append(payload)
    assert len(acknowledged) >= 40, "the gateways did not go on with the two NATS servers left: %r" % refused
    got = set()
    deadline = time.monotonic() + 30
    while not set(acknowledged) <= got:
        assert time.monotonic() < deadline, "acknowledged but never delivered: %r" % sorted(set(acknowledged) - got)
        try:
            p = sub.read_packet(0.5)
        except m.NoPacket:
            continue
        if p.type == m.PUBLISH:
            got.add(p.payload)


def test_gateway_killed_while_the_others_keep_serving(nats, gateway, uid):
    server = nats()
    a, b, c = (gateway(n, [server.url]) for n in "abc")
    sub = c.connect(uid + "-s", 5)
    sub.subscribe("alive/" + uid, qos=1)
    on_b = b.connect(uid + "-b", 5)
    on_b.subscribe("alive/" + uid, qos=1)
    pub = a.connect(uid + "-p", 5)
    pub.publish("alive/" + uid, b"one", qos=1)
    assert sub.expect_packet(m.PUBLISH, timeout=5).payload == b"one"
    assert on_b.expect_packet(m.PUBLISH, timeout=5).payload == b"one"
    b.stop(kill=True)
    on_b.expect_closed(timeout=5)
    for i in range(10):
        assert pub.publish("alive/" + uid, b"after%d" % i, qos=1).reason_code == m.RC_SUCCESS
    got = sub.publishes_until(b"after9", timeout=10)
    assert [p.payload for p in got] == [b"after%d" % i for i in range(10)]
    # b's client moves to c and is served there.
    moved = c.connect(uid + "-b", 5)
    moved.subscribe("alive/" + uid, qos=1)
    pub.publish("alive/" + uid, b"moved", qos=1)
    assert moved.expect_packet(m.PUBLISH, timeout=5).payload == b"moved"


def test_tidegatectl_cluster_shows_the_node_its_link_and_counters(two_gateways, uid, make_broker):
    a, b, _ = two_gateways
    wait_lookup_stable([a, b])
    sub = b.connect(uid + "-s", 5)
    sub.subscribe("ctl/" + uid, qos=1)
    a.connect(uid + "-p", 5).publish("ctl/" + uid, b"x", qos=1)
    sub.expect_packet(m.PUBLISH, timeout=5)

    doc = json.loads(ctl(b, "cluster", "--json"))
    assert doc["enabled"] and doc["node"] == "b" and doc["store"]["connected"]
    assert doc["notify"]["mode"] == "lookup" and doc["notify"]["fetched"] == 1
    assert sorted(m.split("@")[0] for m in doc["lookup"]["members"]) == ["a", "b"]
    text = ctl(a, "cluster")
    assert "node:" in text and " a\n" in text and "appended:" in text
    single = make_broker(admin={"port": free_port()})
    from test_tidegatectl import CTL
    r = subprocess.run([CTL, "--admin", "%s:%d" % (HOST, single.config["admin"]["port"]), "cluster"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "not in a cluster" in r.stdout



# ---------------------------------------------------------------- the lookup

@pytest.fixture
def three_gateways(nats, gateway):
    server = nats()
    gws = [gateway(n, [server.url]) for n in "abc"]
    wait_lookup_stable(gws)
    return gws + [server]


def test_lookup_sends_notify_only_to_gateways_with_a_matching_subscription(three_gateways, uid):
    a, b, c, _ = three_gateways
    exact = b.connect(uid + "-e", 5)
    exact.subscribe("lk/%s/exact" % uid, qos=1)
    wild = c.connect(uid + "-w", 5)
    wild.subscribe("lk/%s/+/x" % uid, qos=1)
    pub = a.connect(uid + "-p", 5)
    before = {g: cluster_api(g)["notify"] for g in (a, b, c)}
    pub.publish("lk/%s/exact" % uid, b"to-b", qos=1)
    assert exact.expect_packet(m.PUBLISH, timeout=5).payload == b"to-b"
    pub.publish("lk/%s/1/x" % uid, b"to-c", qos=1)
    assert wild.expect_packet(m.PUBLISH, timeout=5).payload == b"to-c"
    pub.publish("lk/%s/nobody" % uid, b"none", qos=1)
    pub.publish("lk/%s/exact" % uid, b"last", qos=1)
    assert exact.expect_packet(m.PUBLISH, timeout=5).payload == b"last"
    after = {g: cluster_api(g)["notify"] for g in (a, b, c)}
    # b heard of its two messages only, c of its one: nobody heard of "nobody".
    assert after[b]["events_received"] - before[b]["events_received"] == 2
    assert after[c]["events_received"] - before[c]["events_received"] == 1
    assert after[a]["broadcast"] == before[a]["broadcast"], "the lookup answered every time"
    assert after[a]["targeted"] - before[a]["targeted"] == 3


def test_takeover_goes_to_the_gateway_the_lookup_names(three_gateways, uid):
    a, b, c, _ = three_gateways
    first = a.connect(uid, 5)
    deadline = time.monotonic() + 5
    # a's claim reaches the owner of the client's key (asynchronously).
    while cluster_api(a)["takeovers"]["sent_targeted"] + cluster_api(a)["lookup"]["answered"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.02)  # polling a counter with a deadline
    second = b.connect(uid, 5)
    assert first.expect_packet(m.DISCONNECT, timeout=5).reason_code == 0x8E
    first.expect_closed(timeout=5)
    assert second.is_open()
    assert cluster_api(b)["takeovers"]["sent_targeted"] == 1
    assert cluster_api(b)["takeovers"]["sent_broadcast"] == 0


def find_topic_owned_by(gw, node, prefix):
    for i in range(2000):
        topic = "%s/%d" % (prefix, i)
        if cluster_api(gw, "t:" + topic)["lookup"]["owner_of"]["t:" + topic] == node:
            return topic
    raise AssertionError("no topic under %s is owned by %s" % (prefix, node))


def test_shard_owner_killed_delivery_continues_by_broadcast_then_lookup_again(three_gateways, uid):
    a, b, c, _ = three_gateways
    # A topic whose lookup key b holds; subscriber on c, publisher on a.
    topic = find_topic_owned_by(a, "b", "own/" + uid)
    sub = c.connect(uid + "-s", 5)
    sub.subscribe(topic, qos=1)
    pub = a.connect(uid + "-p", 5)
    pub.publish(topic, b"before", qos=1)
    assert sub.expect_packet(m.PUBLISH, timeout=5).payload == b"before"
    b.stop(kill=True)
    # Right away a cannot ask b: it broadcasts, and c still gets every message.
    for i in range(5):
        pub.publish(topic, b"during%d" % i, qos=1)
    got = sub.publishes_until(b"during4", timeout=10)
    assert [p.payload for p in got] == [b"during%d" % i for i in range(5)]
    fallbacks = cluster_api(a)["lookup"]["fallbacks"]
    assert fallbacks["unreachable"] + fallbacks["unstable"] >= 1
    # b is dropped from the members; the slots move, c announces again, and
    # the lookup answers once more.
    wait_lookup_stable([a, c])
    targeted = cluster_api(a)["notify"]["targeted"]
    pub.publish(topic, b"after", qos=1)
    assert sub.expect_packet(m.PUBLISH, timeout=5).payload == b"after"
    assert cluster_api(a)["notify"]["targeted"] == targeted + 1


def test_restarted_shard_owner_is_rebuilt_from_the_others(three_gateways, uid):
    a, b, c, _ = three_gateways
    topic = find_topic_owned_by(a, "b", "rb/" + uid)
    sub = c.connect(uid + "-s", 5)
    sub.subscribe(topic, qos=1)
    b.restart(kill=True)  # same node id, empty shard, new incarnation
    wait_running(b)
    wait_lookup_stable([a, b, c])
    assert cluster_api(a, "t:" + topic)["lookup"]["owner_of"]["t:" + topic] == "b"
    targeted = cluster_api(a)["notify"]["targeted"]
    pub = a.connect(uid + "-p", 5)
    pub.publish(topic, b"rebuilt", qos=1)
    assert sub.expect_packet(m.PUBLISH, timeout=5).payload == b"rebuilt"
    # Answered from b's rebuilt shard (c announced its subscription again), not broadcast.
    assert cluster_api(a)["notify"]["targeted"] == targeted + 1


def test_gateway_added_to_a_running_cluster_receives_its_messages(three_gateways, gateway, uid):
    a, b, c, server = three_gateways
    d = gateway("d", [server.url])
    sub = d.connect(uid + "-s", 5)
    sub.subscribe("new/" + uid + "/#", qos=1)
    wait_lookup_stable([a, b, c, d])
    pub = a.connect(uid + "-p", 5)
    pub.publish("new/%s/x" % uid, b"welcome", qos=1)
    assert sub.expect_packet(m.PUBLISH, timeout=5).payload == b"welcome"


def test_without_the_lookup_every_notify_is_broadcast(nats, gateway, uid):
    server = nats()
    a = gateway("a", [server.url], cluster={"lookup": False})
    b = gateway("b", [server.url], cluster={"lookup": False})
    sub = b.connect(uid + "-s", 5)
    sub.subscribe("bc/" + uid, qos=1)
    pub = a.connect(uid + "-p", 5)
    pub.publish("bc/" + uid, b"all", qos=1)
    assert sub.expect_packet(m.PUBLISH, timeout=5).payload == b"all"
    doc = cluster_api(a)
    assert doc["notify"]["mode"] == "broadcast" and "lookup" not in doc
    assert doc["notify"]["broadcast"] >= 1 and doc["notify"]["targeted"] == 0


def test_lookup_config_errors_name_the_key(tmp_path):
    from conftest import TIDEGATE_BIN
    for cluster, key in [({"lookup_bind": "not-an-ip"}, "cluster.lookup_bind"),
                         ({"lookup_bind": "0.0.0.0"}, "cluster.lookup_advertise"),
                         ({"lookup_port": 70000}, "cluster.lookup_port")]:
        cfg = tmp_path / "c.json"
        cfg.write_text(json.dumps({"data_dir": str(tmp_path / "d"),
                                   "cluster": dict({"node": "a", "nats": ["nats://127.0.0.1:1"]}, **cluster)}))
        r = subprocess.run([TIDEGATE_BIN, "--config", str(cfg)], capture_output=True, text=True, timeout=10)
        assert r.returncode != 0 and key in r.stderr + r.stdout, (cluster, r.stderr)
