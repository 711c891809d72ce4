"""Auth hooks (docs/plugins.md, docs/security.md): the example .so plugin built against the C ABI
alone (plugins/examples/example_plugin.c), and the HTTP auth/ACL hook against a
real HTTP service started here (Python's http.server on 127.0.0.1)."""

import json
import pathlib
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import mqttraw as m
from conftest import HOST, REPO, TIDEGATE_BIN

pytestmark = pytest.mark.tidegate_only(reason="tidegate plugins and auth hooks")

PLUGIN = pathlib.Path(TIDEGATE_BIN).resolve().parents[1] / "lib" / "tidegate_example_plugin.so"


def plugin_config(events, **options):
    opts = {"users": "alice:pw1,bob:pw2", "deny_prefix": "secret/", "events_file": str(events)}
    opts.update(options)
    return {"plugins": [{"path": str(PLUGIN), "options": opts}]}


def read_events(path, want, timeout=5):
    deadline = time.monotonic() + timeout
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if all(w in lines for w in want):
            return lines
        assert time.monotonic() < deadline, "events %r not all in %r" % (want, lines)
        time.sleep(0.02)  # poll interval of a bounded wait on the plugin's file


# ---------------------------------------------------------------- the .so plugin

@pytest.mark.parametrize("delay_ms", ["0", "150"], ids=["answered-at-once", "answered-from-a-thread"])
def test_plugin_authenticates_synchronously_and_asynchronously(make_broker, tmp_path, version, delay_ms, uid):
    broker = make_broker(allow_anonymous=False, **plugin_config(tmp_path / "events", delay_ms=delay_ms))
    good = broker.client(version=version)
    assert good.connect(uid + "-a", username="alice", password=b"pw1").reason_code == 0
    bad = broker.client(version=version)
    ack = bad.connect(uid + "-b", username="alice", password=b"wrong", expect_success=False)
    assert ack.reason_code == (0x86 if version == 5 else 4)  # bad user name or password
    # Not the plugin's user: the plugin ignores it; no password file, no anonymous: refused.
    other = broker.client(version=version)
    ack = other.connect(uid + "-c", username="carol", password=b"x", expect_success=False)
    assert ack.reason_code == (0x87 if version == 5 else 5)


def test_plugin_packets_after_connect_wait_for_the_answer(make_broker, tmp_path, uid):
    # A client that pipelines SUBSCRIBE and PUBLISH behind CONNECT: they are read
    # only once the plugin's (slow) answer has come back.
    broker = make_broker(allow_anonymous=False, **plugin_config(tmp_path / "events", delay_ms="300"))
    c = broker.client(version=5)
    c.send_raw(m.build_connect(uid, 5, username="bob", password=b"pw2")
               + m.build_subscribe(1, [("pipe/" + uid, m.subscription_options(qos=1))], 5)
               + m.build_publish("pipe/" + uid, b"hi", qos=1, packet_id=2, version=5))
    assert c.expect_packet(m.CONNACK).reason_code == 0
    assert c.expect_packet(m.SUBACK).reason_codes == [1]
    got = {p.type: p for p in (c.read_packet(2), c.read_packet(2))}
    assert got[m.PUBLISH].payload == b"hi" and got[m.PUBACK].reason_code == 0


def test_plugin_acl_denies_for_both_versions(make_broker, tmp_path, uid):
    broker = make_broker(**plugin_config(tmp_path / "events"))
    v5 = broker.connect(uid + "-5", 5)
    assert v5.publish("secret/" + uid, b"x", qos=1).reason_code == 0x87
    assert v5.subscribe("secret/#", qos=1).reason_codes == [0x87]
    assert v5.publish("open/" + uid, b"x", qos=1).reason_code == 0x10  # allowed; nobody subscribes
    v4 = broker.connect(uid + "-4", 4)
    assert v4.subscribe("secret/#", qos=1).reason_codes == [0x80]
    assert v4.subscribe("open/#", qos=1).reason_codes == [1]


def test_plugin_receives_connect_publish_and_disconnect_events(make_broker, tmp_path, uid):
    events = tmp_path / "events"
    broker = make_broker(allow_anonymous=False, **plugin_config(events))
    c = broker.client(version=5)
    c.connect(uid, username="alice", password=b"pw1")
    c.publish("ev/" + uid, b"12345", qos=1)
    c.disconnect()
    lines = read_events(events, ["connected %s alice" % uid, "published %s ev/%s 5" % (uid, uid),
                                 "disconnected %s" % uid])
    assert lines.index("connected %s alice" % uid) < lines.index("disconnected %s" % uid)


def test_a_library_that_is_not_a_plugin_is_refused_with_its_key(tmp_path):
    cfg = tmp_path / "bad.json"
    cfg.write_text(json.dumps({"data_dir": str(tmp_path / "d"),
                               "plugins": [{"path": "/lib/x86_64-linux-gnu/libz.so.1"}]}))
    r = subprocess.run([TIDEGATE_BIN, "--config", str(cfg)], capture_output=True, timeout=10)
    assert r.returncode == 2 and b"plugins[0].path" in r.stderr and b"not a tidegate plugin" in r.stderr
    cfg.write_text(json.dumps({"data_dir": str(tmp_path / "d"), "plugins": [{"path": str(tmp_path / "nope.so")}]}))
    r = subprocess.run([TIDEGATE_BIN, "--config", str(cfg)], capture_output=True, timeout=10)
    assert r.returncode == 2 and b"plugins[0].path: cannot load" in r.stderr


# ---------------------------------------------------------------- the HTTP hook

class AuthService:
    """An HTTP auth service: answers from `decide(request_json)`; counts requests."""

    def __init__(self, decide):
        self.requests = []
        self.decide = decide
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                service.requests.append((self.path, body))
                status, answer = service.decide(body)
                if status is None:  # never answer (the gateway times out)
                    time.sleep(3)
                    return
                data = json.dumps(answer).encode() if not isinstance(answer, bytes) else answer
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path="/mqtt/auth"):
        return "http://%s:%d%s" % (HOST, self.port, path)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def services():
    started = []
    yield started
    for s in started:
        s.stop()


def by_password(body):
    if body["username"] == "dev" and body["password"] == "good":
        return 200, {"result": "allow", "acl": [{"permission": "allow", "action": "all", "topic": "dev/%s/#" % body["client_id"]},
                                                {"permission": "deny", "action": "all", "topic": "#"}]}
    if body["username"] == "dev":
        return 200, {"result": "deny"}
    return 200, {"result": "ignore"}


def test_http_hook_allows_denies_and_ignores(make_broker, services, version, uid):
    svc = AuthService(by_password)
    services.append(svc)
    broker = make_broker(allow_anonymous=False, auth_http={"url": svc.url(), "cache_seconds": 0})
    ok = broker.client(version=version)
    assert ok.connect(uid, username="dev", password=b"good").reason_code == 0
    path, body = svc.requests[-1]
    assert path == "/mqtt/auth" and body["client_id"] == uid and body["protocol_version"] == version
    assert body["address"].startswith("127.0.0.1:")
    bad = broker.client(version=version)
    assert bad.connect(uid + "-x", username="dev", password=b"bad",
                       expect_success=False).reason_code == (0x86 if version == 5 else 4)
    # Ignored: the files decide (anonymous refused here).
    anon = broker.client(version=version)
    assert anon.connect(uid + "-y", expect_success=False).reason_code == (0x87 if version == 5 else 5)


def test_http_hook_acl_rules_apply_for_both_versions(make_broker, services, uid):
    svc = AuthService(by_password)
    services.append(svc)
    broker = make_broker(auth_http={"url": svc.url()})
    v5 = broker.client(version=5)
    v5.connect(uid, username="dev", password=b"good")
    assert v5.publish("dev/%s/temp" % uid, b"x", qos=1).reason_code == 0x10  # allowed; nobody subscribes
    assert v5.publish("other/temp", b"x", qos=1).reason_code == 0x87
    assert v5.subscribe("dev/%s/#" % uid, qos=1).reason_codes == [1]
    assert v5.subscribe("#", qos=1).reason_codes == [0x87]
    v4 = broker.client(version=4)
    v4.connect(uid + "4", username="dev", password=b"good")
    assert v4.subscribe("other/#", qos=1).reason_codes == [0x80]


def test_http_hook_answers_are_cached(make_broker, services, uid):
    svc = AuthService(by_password)
    services.append(svc)
    broker = make_broker(auth_http={"url": svc.url(), "cache_seconds": 60})
    for _ in range(3):
        c = broker.client(version=5)
        c.connect(uid, username="dev", password=b"good")
        c.disconnect()
    assert len(svc.requests) == 1
    other = broker.client(version=5)
    other.connect(uid, username="dev", password=b"other", expect_success=False)
    assert len(svc.requests) == 2  # another password is another question


@pytest.mark.parametrize("on_error,expected", [("deny", 0x86), ("allow", 0)], ids=["fail-closed", "fail-open"])
@pytest.mark.parametrize("failure", ["timeout", "http-500", "garbage", "no-service"])
def test_http_hook_failure_policy(make_broker, services, tmp_path, on_error, expected, failure, uid):
    answers = {"timeout": (None, None), "http-500": (500, {"result": "allow"}), "garbage": (200, b"not json")}
    if failure == "no-service":
        from conftest import free_port
        url = "http://%s:%d/auth" % (HOST, free_port())
    else:
        svc = AuthService(lambda body: answers[failure])
        services.append(svc)
        url = svc.url()
    broker = make_broker(auth_http={"url": url, "timeout_ms": 300, "on_error": on_error})
    started = time.monotonic()
    c = broker.client(version=5, timeout=5)
    ack = c.connect(uid, username="dev", password=b"good", expect_success=False)
    assert ack.reason_code == expected
    assert time.monotonic() - started < 3, "the hook's timeout did not bound the CONNECT"


def test_http_hook_does_not_block_other_clients(make_broker, services, uid):
    # While one CONNECT waits on a slow hook, a client already connected on the
    # same worker keeps publishing and receiving.
    slow = threading.Event()

    def decide(body):
        if body["username"] == "slow":
            slow.wait(5)
        return 200, {"result": "allow"}

    svc = AuthService(decide)
    services.append(svc)
    broker = make_broker(workers=1, auth_http={"url": svc.url(), "cache_seconds": 0})
    fast = broker.client(version=5)
    fast.connect(uid + "-fast", username="fast", password=b"x")
    fast.subscribe("nb/" + uid, qos=1)
    waiting = broker.client(version=5, timeout=6)
    waiting.send_raw(m.build_connect(uid + "-slow", 5, username="slow", password=b"x"))
    for i in range(20):
        assert fast.publish("nb/" + uid, b"%d" % i, qos=1).reason_code == 0
        assert fast.expect_packet(m.PUBLISH).payload == b"%d" % i
    slow.set()
    assert waiting.expect_packet(m.CONNACK).reason_code == 0


def test_bad_auth_http_config_is_refused_with_its_key(tmp_path):
    cfg = tmp_path / "bad.json"
    cfg.write_text(json.dumps({"auth_http": {"url": "https://auth.example.com/x"}}))
    r = subprocess.run([TIDEGATE_BIN, "--config", str(cfg)], capture_output=True, timeout=10)
    assert r.returncode == 2 and b"auth_http.url: must start with http://" in r.stderr
    cfg.write_text(json.dumps({"auth_http": {"url": "http://127.0.0.1:8080/a", "on_error": "maybe"}}))
    r = subprocess.run([TIDEGATE_BIN, "--config", str(cfg)], capture_output=True, timeout=10)
    assert r.returncode == 2 and b"auth_http.on_error" in r.stderr
