"""The admin listener's side of the web console (docs/console.md), over raw HTTP
against the real gateway with real MQTT clients: the history ring and the live
feed (Server-Sent Events), the token-to-cookie login and its bounds, the
security headers, the assets' weight, sessions search and sort, one retained
message in full, and HTTPS. The page itself is driven in a real browser by
test_console_browser.py."""

import http.client
import json
import re
import socket
import ssl
import subprocess
import time

import pytest

from conftest import HOST, free_port
from checks import metric as metric_of, will

pytestmark = pytest.mark.tidegate_only(reason="tidegate admin listener")

ASSET_BUDGET = 300 * 1024  # every file the page loads, together


def call(port, method, path, headers=None, body=None, tls_context=None):
    """One request: (status, response, parsed body or text)."""
    if tls_context:
        conn = http.client.HTTPSConnection(HOST, port, timeout=5, context=tls_context)
    else:
        conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        all_headers = {"Host": "%s:%d" % (HOST, port)}
        all_headers.update(headers or {})
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        if data is not None and "Content-Type" not in all_headers:
            all_headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=all_headers)
        response = conn.getresponse()
        raw = response.read()
        kind = response.getheader("Content-Type") or ""
        parsed = json.loads(raw) if "json" in kind and raw else raw.decode(errors="replace")
        return response.status, response, parsed
    finally:
        conn.close()


def login(port, token, **kw):
    """POST /api/v1/login; (status, cookie header as sent back or None, body)."""
    status, response, body = call(port, "POST", "/api/v1/login", body={"token": token}, **kw)
    return status, response.getheader("Set-Cookie"), body


def metric(port, sample):
    """A /metrics sample; asked with the full token (the guarded gateways have one)."""
    return metric_of(port, sample, "full-secret")


def cookie_of(set_cookie):
    return set_cookie.split(";", 1)[0]


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.1)  # poll interval of a bounded wait


@pytest.fixture
def tokens(tmp_path):
    (tmp_path / "full.token").write_text("full-secret\n")
    (tmp_path / "read.token").write_text("read-secret\n")
    return {"token_file": str(tmp_path / "full.token"), "read_token_file": str(tmp_path / "read.token")}


@pytest.fixture
def guarded(make_broker, tokens):
    port = free_port()
    broker = make_broker(admin=dict(tokens, bind=HOST, port=port, max_logins=3, max_live_streams=2))
    return broker, port


def test_a_token_becomes_an_http_only_strict_cookie_and_a_wrong_one_is_refused(guarded):
    broker, port = guarded
    status, cookie, body = login(port, "not-it")
    assert status == 401 and cookie is None and body["error"] == "wrong token", body
    assert metric(port, "tidegate_admin_login_failures_total") == 1
    # Not logged in: the API asks; the page and its files do not.
    assert call(port, "GET", "/api/v1/stats")[0] == 401
    assert call(port, "GET", "/api/v1/whoami")[2] == {"logged_in": False, "login_required": True}
    assert call(port, "GET", "/")[0] == 200

    status, cookie, body = login(port, "full-secret")
    assert status == 200 and body == {"role": "admin"}, body
    attributes = [a.strip() for a in cookie.split(";")]
    assert "HttpOnly" in attributes and "SameSite=Strict" in attributes and "Path=/" in attributes, cookie
    assert "Secure" not in attributes  # plain HTTP on loopback: a Secure cookie would never come back
    assert "full-secret" not in cookie
    jar = {"Cookie": cookie_of(cookie)}
    status, _, who = call(port, "GET", "/api/v1/whoami", jar)
    assert status == 200 and who == {"logged_in": True, "role": "admin", "login_required": True}, who
    assert call(port, "GET", "/api/v1/stats", jar)[0] == 200
    assert metric(port, "tidegate_admin_logins") == 1

    status, response, _ = call(port, "POST", "/api/v1/logout", jar, body={})
    assert status == 200 and "Max-Age=0" in response.getheader("Set-Cookie")
    assert call(port, "GET", "/api/v1/stats", jar)[0] == 401


def test_a_login_sent_as_a_form_or_from_another_site_is_refused(guarded):
    broker, port = guarded
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        status, _, body = call(port, "POST", "/api/v1/login", {"Content-Type": content_type},
                               body=b'{"token":"full-secret"}')
        assert status == 403 and "cross-site" in body["error"], body
    status, _, body = call(port, "POST", "/api/v1/login", {"Origin": "http://evil.example"},
                           body={"token": "full-secret"})
    assert status == 403, body
    status, _, body = call(port, "POST", "/api/v1/login", body=b"token=full-secret")
    assert status == 400, body


def test_the_read_only_login_sees_everything_and_changes_nothing(guarded, uid):
    broker, port = guarded
    client = broker.connect(uid, 5)
    status, cookie, body = login(port, "read-secret")
    assert status == 200 and body == {"role": "read"}
    jar = {"Cookie": cookie_of(cookie)}
    assert call(port, "GET", "/api/v1/whoami", jar)[2]["role"] == "read"
    for path in ("/api/v1/stats", "/api/v1/sessions", "/api/v1/history", "/api/v1/bridges", "/metrics"):
        assert call(port, "GET", path, jar)[0] == 200, path
    status, _, body = call(port, "POST", "/api/v1/sessions/%s/kick" % uid, jar, body={})
    assert status == 403 and "read-only" in body["error"], body
    assert call(port, "DELETE", "/api/v1/sessions/" + uid, dict(jar, **{"Content-Type": "application/json"}))[0] == 403
    assert client.is_open(timeout=2)
    # Logging out is not a change to the gateway: the read-only login may.
    assert call(port, "POST", "/api/v1/logout", jar, body={})[0] == 200
    assert call(port, "GET", "/api/v1/stats", jar)[0] == 401


def test_guessing_the_token_is_throttled_and_logged_once(guarded):
    broker, port = guarded
    for _ in range(10):
        assert login(port, "guess")[0] == 401
    status, response, body = call(port, "POST", "/api/v1/login", body={"token": "full-secret"})
    assert status == 429 and int(response.getheader("Retry-After")) > 0, body
    assert metric(port, "tidegate_admin_login_failures_total") == 11
    log = broker.log_tail(200)
    assert log.count("console login refused: wrong token") == 10
    assert log.count("console logins refused for the rest of the minute") == 1


def test_logins_are_bounded_and_the_least_recently_used_ends(guarded):
    broker, port = guarded
    jars = [{"Cookie": cookie_of(login(port, "full-secret")[1])} for _ in range(3)]
    def logged_in(jar):
        return call(port, "GET", "/api/v1/whoami", jar)[2]["logged_in"]

    assert logged_in(jars[0])  # the first is now the most recent
    fourth = {"Cookie": cookie_of(login(port, "full-secret")[1])}
    assert metric(port, "tidegate_admin_logins") == 3
    assert not logged_in(jars[1])  # least recently used: ended
    assert all(logged_in(jar) for jar in (jars[0], jars[2], fourth))


def test_every_answer_carries_the_content_security_policy(guarded):
    broker, port = guarded
    jar = {"Cookie": cookie_of(login(port, "full-secret")[1])}
    for path, headers in (("/", {}), ("/api/v1/stats", jar), ("/api/v1/stats", {}), ("/nothing", jar)):
        _, response, _ = call(port, "GET", path, headers)
        assert response.getheader("Content-Security-Policy") == "default-src 'self'; frame-ancestors 'none'", path
        assert response.getheader("X-Content-Type-Options") == "nosniff", path


def page_files(port):
    """The page and every file it loads (scripts, styles, and the modules they import)."""
    status, response, html = call(port, "GET", "/")
    assert status == 200 and response.getheader("Content-Type").startswith("text/html")
    files = {"/": len(html.encode())}
    pending = re.findall(r'(?:src|href)="(/console/[^"]+)"', html)
    while pending:
        path = pending.pop()
        if path in files:
            continue
        status, response, text = call(port, "GET", path)
        assert status == 200, path
        files[path] = len(text.encode())
        if path.endswith(".js"):  # ES module imports: "./x.js"
            pending += ["/console/" + name for name in re.findall(r'from\s+"\./([^"]+)"', text)]
    return files


def test_the_page_is_compiled_in_within_its_weight_budget_and_inline_free(make_broker):
    port = free_port()
    make_broker(admin={"bind": HOST, "port": port})
    files = page_files(port)
    assert "/console/uPlot.iife.min.js" in files and "/console/app.js" in files, files
    assert sum(files.values()) <= ASSET_BUDGET, files
    status, _, html = call(port, "GET", "/")
    # The CSP allows no inline script or style: the page must not need any.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert not re.search(r"\sstyle=|\son[a-z]+=", html), "inline style or handler"
    status, response, licence = call(port, "GET", "/console/LICENSE.uPlot.txt")
    assert status == 200 and "MIT" in licence
    # Unchanged files are not sent again.
    etag = call(port, "GET", "/console/app.js")[1].getheader("ETag")
    assert call(port, "GET", "/console/app.js", {"If-None-Match": etag})[0] == 304
    assert call(port, "GET", "/console/nothing.js")[0] == 404


def history(port, **kw):
    status, _, body = call(port, "GET", "/api/v1/history", **kw)
    assert status == 200, body
    return [dict(zip(body["columns"], row)) for row in body["samples"]], body


def test_history_keeps_a_sample_a_second_in_a_bounded_ring(make_broker, uid):
    port = free_port()
    broker = make_broker(admin={"bind": HOST, "port": port, "history_seconds": 60})
    rows, body = history(port)
    assert body["capacity"] == 60 and body["interval_ms"] == 1000
    clients = [broker.connect("%s-%d" % (uid, i), 4) for i in range(3)]
    newest = wait_until(lambda: [r for r in history(port)[0] if r["connections"] == 3], 5, "3 connections sampled")
    # Each sample a second after the one before.
    rows = history(port)[0]
    gaps = [b["t_ms"] - a["t_ms"] for a, b in zip(rows, rows[1:])]
    assert gaps and all(800 <= g <= 1300 for g in gaps), gaps
    # since_ms: only newer ones.
    later = history(port, headers=None)[0]
    t = later[-1]["t_ms"]
    status, _, body = call(port, "GET", "/api/v1/history?since_ms=%d" % t)
    assert all(row[0] > t for row in body["samples"])
    assert call(port, "GET", "/api/v1/history?since_ms=soon")[0] == 400
    for c in clients:
        c.close()


def test_history_ring_holds_only_its_capacity(make_broker):
    port = free_port()
    make_broker(admin={"bind": HOST, "port": port, "history_seconds": 60})
    # 60 samples take a minute to fill; the ring's wrap-around is a unit test
    # (test_console_history.cpp). Here: never more than the capacity.
    assert len(history(port)[0]) <= 60


class LiveFeed:
    """A raw reader of GET /api/v1/live: the header, then event blocks."""

    def __init__(self, port, headers=None):
        self.sock = socket.create_connection((HOST, port), timeout=5)
        request = "GET /api/v1/live HTTP/1.1\r\nHost: %s:%d\r\n" % (HOST, port)
        for name, value in (headers or {}).items():
            request += "%s: %s\r\n" % (name, value)
        self.sock.sendall((request + "\r\n").encode())
        self.buffer = b""
        head = self._until(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])
        self.head = head.decode()

    def _until(self, marker):
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("live feed closed")
            self.buffer += chunk
        part, self.buffer = self.buffer.split(marker, 1)
        return part

    def event(self):
        block = self._until(b"\n\n").decode()
        fields = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
        return fields.get("event"), json.loads(fields["data"]) if "data" in fields else None

    def close(self):
        self.sock.close()


def test_the_live_feed_pushes_each_new_sample_with_the_rates(make_broker, uid):
    port = free_port()
    broker = make_broker(admin={"bind": HOST, "port": port})
    feed = LiveFeed(port)
    try:
        assert feed.status == 200 and "text/event-stream" in feed.head
        kind, columns = feed.event()
        assert kind == "columns" and columns[0] == "t_ms" and "messages_in_per_s" in columns
        sub = broker.connect(uid + "-sub", 4)
        sub.subscribe(uid + "/t", 0)
        pub = broker.connect(uid + "-pub", 4)
        stop = time.monotonic() + 3
        while time.monotonic() < stop:
            pub.publish(uid + "/t", b"x" * 100, qos=0)
            time.sleep(0.01)  # paced traffic over three samples, not a synchronisation
        pub.ping()
        seen = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            kind, row = feed.event()
            assert kind == "sample" and len(row) == len(columns)
            sample = dict(zip(columns, row))
            seen.append(sample)
            # The subscription count is refreshed once a second: it may trail the rates by a sample.
            if sample["messages_in_per_s"] > 10 and sample["messages_out_per_s"] > 10 and sample["subscriptions"]:
                break
        assert seen[-1]["messages_in_per_s"] > 10, seen
        assert seen[-1]["bytes_in_per_s"] > seen[-1]["messages_in_per_s"] * 100, seen
        assert seen[-1]["connections"] == 2 and seen[-1]["subscriptions"] == 1, seen
        times = [s["t_ms"] for s in seen]
        assert times == sorted(set(times)), times
    finally:
        feed.close()


def test_live_feeds_are_bounded_and_refused_beyond_with_503(guarded):
    broker, port = guarded
    jar = {"Cookie": cookie_of(login(port, "full-secret")[1])}
    assert LiveFeed(port).status == 401  # it needs a login like the API
    feeds = [LiveFeed(port, jar) for _ in range(2)]
    try:
        assert [f.status for f in feeds] == [200, 200]
        third = LiveFeed(port, jar)
        assert third.status == 503 and "Retry-After" in third.head
        third.close()
        assert metric(port, "tidegate_admin_live_streams") == 2
        assert metric(port, "tidegate_admin_live_streams_refused_total") == 1
        feeds[0].close()
        # The gateway notices the closed feed at its next write (a second later).
        wait_until(lambda: metric(port, "tidegate_admin_live_streams") == 1, 10, "the closed feed to go")
        replacement = LiveFeed(port, jar)
        assert replacement.status == 200
        feeds[0] = replacement
    finally:
        for f in feeds:
            f.close()


def sessions(port, query):
    status, _, body = call(port, "GET", "/api/v1/sessions?" + query)
    assert status == 200, body
    return body


def test_sessions_search_by_name_user_or_address_and_sort_by_backlog(make_broker, uid, tmp_path):
    port = free_port()
    broker = make_broker(admin={"bind": HOST, "port": port})
    # Two persistent sessions that fall behind by different amounts while offline.
    for name, count in (("slow", 5), ("slower", 12)):
        c = broker.connect("%s-%s" % (uid, name), 5, clean=False, props={"session_expiry_interval": 600})
        c.subscribe("%s/%s" % (uid, name), 1)
        c.disconnect()
    busy = broker.connect(uid + "-online", 4, username="operator-x")
    pub = broker.connect(uid + "-pub", 4)
    for name, count in (("slow", 5), ("slower", 12)):
        for i in range(count):
            pub.publish("%s/%s" % (uid, name), b"m%d" % i, qos=1)

    body = sessions(port, "q=%s&sort=backlog" % uid)
    order = [s["client_id"] for s in body["sessions"]]
    assert order[:2] == [uid + "-slower", uid + "-slow"], body
    backlog = {s["client_id"]: s["backlog"] for s in body["sessions"]}
    assert backlog[uid + "-slower"] == 12 and backlog[uid + "-slow"] == 5, backlog
    ascending = sessions(port, "q=%s&sort=backlog&order=asc" % uid)["sessions"]
    assert ascending[-1]["client_id"] == uid + "-slower"
    # Search: by user name, by address, by part of the id; paging counts all matches.
    assert [s["client_id"] for s in sessions(port, "q=operator-x")["sessions"]] == [uid + "-online"]
    assert uid + "-online" in [s["client_id"] for s in sessions(port, "q=127.0.0.1&state=online")["sessions"]]
    page = sessions(port, "q=%s&limit=2&offset=1" % uid)
    assert page["total"] == 4 and len(page["sessions"]) == 2
    # Rate and inflight sort; rows carry the live numbers.
    rated = sessions(port, "q=%s&sort=rate" % uid)["sessions"]
    assert rated[0]["client_id"] == uid + "-pub" and rated[0]["messages_in"] == 17, rated
    assert all("inflight" in s and "rate" in s for s in rated)
    assert call(port, "GET", "/api/v1/sessions?sort=size")[0] == 400

    status, _, detail = call(port, "GET", "/api/v1/sessions/%s-slower" % uid)
    assert detail["backlog"] == 12 and detail["queues"][0]["backlog"] == 12, detail


def test_a_session_page_shows_its_will_online_and_while_its_delay_runs(make_broker, uid):
    port = free_port()
    broker = make_broker(admin={"bind": HOST, "port": port})
    broker.connect(uid, 5, will=will(uid + "/gone", b"bye", qos=1, retain=True))
    status, _, detail = call(port, "GET", "/api/v1/sessions/" + uid)
    assert detail["will"] == {"topic": uid + "/gone", "qos": 1, "retain": True, "bytes": 3,
                              "delay_interval": 0, "publish_at": None}, detail
    # Offline with a Will Delay running: the parked session still shows it, and when it goes out.
    delayed = broker.connect(uid + "-d", 5, props={"session_expiry_interval": 600},
                             will=will(uid + "/late", b"later", qos=0, props={"will_delay_interval": 300}))
    delayed.close()  # no DISCONNECT: the will stands
    def parked_will():
        status, _, body = call(port, "GET", "/api/v1/sessions/%s-d" % uid)
        return body if status == 200 and not body["online"] and body["will"] else None
    detail = wait_until(parked_will, 5, "the parked session with its will")
    assert detail["will"]["topic"] == uid + "/late" and detail["will"]["delay_interval"] == 300
    assert detail["will"]["publish_at"] is not None, detail


def test_one_retained_message_in_full_as_text_or_base64(make_broker, uid):
    port = free_port()
    broker = make_broker(admin={"bind": HOST, "port": port})
    pub = broker.connect(uid, 4)
    document = json.dumps({"temperature": 21.5, "unit": "C", "note": "x" * 200})
    pub.publish(uid + "/json", document.encode(), qos=1, retain=True)
    pub.publish(uid + "/bin", bytes(range(256)), qos=1, retain=True)
    status, _, body = call(port, "GET", "/api/v1/retained/%s%%2Fjson" % uid)
    assert status == 200 and body["payload"] == {"encoding": "text", "data": document} and not body["truncated"]
    status, _, body = call(port, "GET", "/api/v1/retained/%s%%2Fbin" % uid)
    import base64
    assert base64.b64decode(body["payload"]["data"]) == bytes(range(256)), body
    assert body["payload"]["encoding"] == "base64" and body["bytes"] == 256
    assert call(port, "GET", "/api/v1/retained/%s%%2Fnone" % uid)[0] == 404


def test_the_admin_listener_speaks_https_with_a_secure_cookie(make_broker, tokens, tmp_path):
    cert, key = tmp_path / "admin.crt", tmp_path / "admin.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    port = free_port()
    broker = make_broker(admin=dict(tokens, bind=HOST, port=port, cert=str(cert), key=str(key)))
    # The line comes once the gateway runs, which may be just after its MQTT port answers.
    wait_until(lambda: "admin API: https://127.0.0.1:%d" % port in broker.log_tail(200), 10, "the https line in the log")
    context = ssl.create_default_context(cafile=str(cert))
    status, cookie, body = login(port, "full-secret", tls_context=context)
    assert status == 200 and "Secure" in [a.strip() for a in cookie.split(";")], cookie
    jar = {"Cookie": cookie_of(cookie)}
    status, _, stats = call(port, "GET", "/api/v1/stats", jar, tls_context=context)
    assert status == 200 and "connections" in stats
    # A page of the same host and port but served over plain http is another site.
    origin = {"Origin": "http://127.0.0.1:%d" % port}
    assert call(port, "POST", "/api/v1/reload", dict(jar, **origin), body={}, tls_context=context)[0] == 403
    origin = {"Origin": "https://127.0.0.1:%d" % port}
    assert call(port, "GET", "/api/v1/stats", dict(jar, **origin), tls_context=context)[0] == 200
    # Plain HTTP to it gets no answer.
    with pytest.raises((http.client.HTTPException, ConnectionError, socket.timeout)):
        call(port, "GET", "/healthz")


def test_admin_cert_without_key_is_refused_with_the_key(tmp_path):
    from conftest import TIDEGATE_BIN
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"admin": {"cert": str(tmp_path / "x.crt")}}))
    r = subprocess.run([TIDEGATE_BIN, "--check-config", str(config)], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "admin.key" in r.stdout + r.stderr, r


def test_sigterm_ends_the_gateway_while_a_console_keeps_its_connection_busy(make_broker, tokens):
    """A console tab polls on one keep-alive connection: it must not hold the gateway up at SIGTERM."""
    import signal
    import threading
    port = free_port()
    broker = make_broker(admin=dict(tokens, bind=HOST, port=port))
    jar = {"Cookie": cookie_of(login(port, "full-secret")[1])}
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    polled = threading.Event()
    stop = threading.Event()

    def poll():
        try:
            while not stop.is_set():
                conn.request("GET", "/api/v1/stats", headers=dict(jar, Host="%s:%d" % (HOST, port)))
                conn.getresponse().read()
                polled.set()
                stop.wait(1)  # the console's pace
        except (OSError, http.client.HTTPException):
            pass  # the gateway went away: what the test waits for

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    assert polled.wait(5)
    feed = LiveFeed(port, jar)  # and an open live feed
    proc, broker.proc = broker.proc, None  # this test stops it
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(5)
    finally:
        stop.set()
        feed.close()
        conn.close()
    assert proc.returncode == 0 and time.monotonic() - started < 5
