"""What the cluster system tests share: a real `nats-server -js` on loopback,
tidegate gateways joined to it, and helpers that read their admin API. Every
process is started here and killed by PID at teardown (docs/cluster.md)."""

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

import mqttraw as m
from conftest import HOST, free_port, wait_port
from tcp_forwarder import Forwarder
from test_admin_api import prometheus_samples



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


@pytest.fixture
def three_gateways(nats, gateway):
    server = nats()
    gws = [gateway(n, [server.url]) for n in "abc"]
    wait_lookup_stable(gws)
    return gws + [server]


def find_topic_owned_by(gw, node, prefix):
    for i in range(2000):
        topic = "%s/%d" % (prefix, i)
        if cluster_api(gw, "t:" + topic)["lookup"]["owner_of"]["t:" + topic] == node:
            return topic
    raise AssertionError("no topic under %s is owned by %s" % (prefix, node))
