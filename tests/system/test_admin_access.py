"""Who the admin API answers (docs/security.md, "Admin API"): requests must be
addressed to the listener (Host: DNS rebinding), must not come from another
site's page (Origin, form and text/plain changes: CSRF), and must carry a
token that allows the method; a listener reachable from other hosts needs a
token. Driven with raw HTTP (http.client) and tidegatectl against the real
gateway, with a real MQTT client whose fate shows whether a kick happened."""

import http.client
import json
import os
import pathlib
import subprocess

import pytest

from conftest import HOST, TARGET, Broker, free_port

pytestmark = pytest.mark.tidegate_only(reason="tidegate admin API")

REPO = pathlib.Path(__file__).resolve().parents[2]
CTL = os.environ.get("TIDEGATECTL", str(REPO / "build" / "bin" / "tidegatectl"))


def request(port, method, path, headers=None, body=None):
    """One request with exactly the given headers (Host included): (status, headers, parsed body)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        text = response.read().decode()
        parsed = json.loads(text) if "json" in (response.getheader("Content-Type") or "") else text
        return response.status, response, parsed
    finally:
        conn.close()


@pytest.fixture
def open_admin(make_broker):
    """A gateway with the admin API on loopback and no token (the default)."""
    port = free_port()
    broker = make_broker(admin={"bind": HOST, "port": port})
    return broker, port


def still_connected(client):
    """The MQTT client was not kicked: it still answers a PINGREQ."""
    return client.is_open(timeout=2)


def test_kick_with_a_foreign_host_is_refused_and_the_client_stays(open_admin, uid):
    broker, port = open_admin
    client = broker.connect(uid, 5)
    # What a page of evil.example sends once evil.example resolves to 127.0.0.1.
    for host in ("evil.example", "evil.example:%d" % port, "127.0.0.1.evil.example", "[::1]:%d" % port,
                 "10.0.0.1:%d" % port, "127.0.0.1:%d:1" % port, ""):
        status, _, body = request(port, "POST", "/api/v1/sessions/%s/kick" % uid, {"Host": host})
        assert status == 421, (host, status, body)
        assert "admin.allowed_hosts" in body["error"], body
    assert still_connected(client)
    # Addressed to the listener, the same request kicks: the refusals above were the Host's doing.
    status, _, body = request(port, "POST", "/api/v1/sessions/%s/kick" % uid, {"Host": "127.0.0.1:%d" % port})
    assert (status, body) == (200, {"kicked": True})
    client.expect_closed()


def test_host_forms_of_the_listener_are_accepted(open_admin):
    _, port = open_admin
    for host in ("127.0.0.1", "127.0.0.1:%d" % port, "localhost", "LocalHost:%d" % port, "localhost."):
        status, _, body = request(port, "GET", "/api/v1/stats", {"Host": host})
        assert status == 200, (host, body)


def test_a_request_without_host_or_with_two_is_refused(open_admin):
    _, port = open_admin
    status, _, body = request(port, "GET", "/api/v1/stats", {})
    assert status == 400 and "Host" in body["error"]
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    conn.putrequest("GET", "/api/v1/stats", skip_host=True)
    conn.putheader("Host", "127.0.0.1")
    conn.putheader("Host", "evil.example")
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 400 and "Host" in json.loads(response.read())["error"]
    conn.close()


def test_names_in_allowed_hosts_are_accepted(make_broker):
    port = free_port()
    make_broker(admin={"bind": HOST, "port": port, "allowed_hosts": ["gw1.plant.local", "192.0.2.7"]})
    for host in ("gw1.plant.local", "GW1.Plant.Local:%d" % port, "192.0.2.7:8080"):
        status, _, body = request(port, "GET", "/api/v1/stats", {"Host": host})
        assert status == 200, (host, body)
    assert request(port, "GET", "/api/v1/stats", {"Host": "gw2.plant.local"})[0] == 421


def test_kick_with_a_foreign_origin_is_refused_and_the_client_stays(open_admin, uid):
    broker, port = open_admin
    client = broker.connect(uid, 5)
    host = "127.0.0.1:%d" % port
    # A page of evil.example posting to http://127.0.0.1:PORT directly (CSRF),
    # or a page served by another web server of this host (another port).
    for origin in ("http://evil.example", "https://evil.example:%d" % port, "null", "http://127.0.0.1.evil.example",
                   "file://", "http://localhost:%d/path" % port, "http://127.0.0.1", "http://127.0.0.1:%d" % free_port(),
                   "http://localhost:8080"):
        status, _, body = request(port, "POST", "/api/v1/sessions/%s/kick" % uid, {"Host": host, "Origin": origin})
        assert status == 403, (origin, status, body)
        assert "cross-site" in body["error"], body
    # The brief's own reproduction: foreign Host, foreign Origin, text/plain body.
    status, _, body = request(port, "POST", "/api/v1/sessions/%s/kick" % uid,
                              {"Host": "evil.example", "Origin": "http://evil.example", "Content-Type": "text/plain"},
                              body=b"x")
    assert status in (403, 421), body
    assert still_connected(client)
    # The listener's own origin (a page it served, were there one) may.
    status, _, body = request(port, "GET", "/api/v1/stats", {"Host": host, "Origin": "http://localhost:%d" % port})
    assert status == 200, body
    status, _, body = request(port, "POST", "/api/v1/sessions/%s/kick" % uid,
                              {"Host": host, "Origin": "http://%s" % host})
    assert (status, body) == (200, {"kicked": True})
    client.expect_closed()


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain; charset=UTF-8",
                                          "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
def test_a_change_sent_as_a_form_or_text_is_refused(open_admin, uid, content_type):
    # What a browser too old to send Origin can still send without a preflight.
    broker, port = open_admin
    client = broker.connect(uid, 5)
    status, _, body = request(port, "POST", "/api/v1/sessions/%s/kick" % uid,
                              {"Host": "127.0.0.1:%d" % port, "Content-Type": content_type}, body=b"a=1")
    assert status == 403 and "cross-site" in body["error"], body
    assert still_connected(client)
    # A read with such a header is no change: answered.
    status, _, _ = request(port, "GET", "/api/v1/sessions/" + uid,
                           {"Host": "127.0.0.1:%d" % port, "Content-Type": content_type})
    assert status == 200


def test_the_read_token_reads_and_changes_nothing(make_broker, tmp_path, uid):
    (tmp_path / "full.token").write_text("full-secret\n")
    (tmp_path / "read.token").write_text("read-secret\n")
    port = free_port()
    broker = make_broker(admin={"bind": HOST, "port": port, "token_file": str(tmp_path / "full.token"),
                                "read_token_file": str(tmp_path / "read.token")})
    client = broker.connect(uid, 5)

    def call(method, path, token):
        headers = {"Host": "127.0.0.1:%d" % port}
        if token:
            headers["Authorization"] = "Bearer " + token
        return request(port, method, path, headers)

    for path in ("/metrics", "/api/v1/stats", "/api/v1/sessions", "/api/v1/sessions/" + uid):
        assert call("GET", path, "read-secret")[0] == 200, path
    for method, path in (("POST", "/api/v1/sessions/%s/kick" % uid), ("DELETE", "/api/v1/sessions/" + uid),
                         ("POST", "/api/v1/reload"), ("DELETE", "/api/v1/retained/a")):
        status, _, body = call(method, path, "read-secret")
        assert status == 403 and "read-only" in body["error"], (method, path, body)
    assert still_connected(client)
    for token in (None, "wrong", "read-secret-and-more", "full-secre"):
        status, response, _ = call("GET", "/api/v1/stats", token)
        assert status == 401 and response.getheader("WWW-Authenticate") == "Bearer", token
    status, _, body = call("POST", "/api/v1/sessions/%s/kick" % uid, "full-secret")
    assert (status, body) == (200, {"kicked": True})
    client.expect_closed()


def start_expecting_refusal(tmp_path, admin):
    b = Broker(TARGET, {"admin": admin}, tmp_path / "refused")
    with pytest.raises(RuntimeError):
        b.start()
    b.proc.wait(5)
    return b.proc.returncode, b.log_tail()


@pytest.mark.parametrize("bind", ["0.0.0.0", "::", "192.0.2.1"])
def test_a_remote_bind_without_a_token_is_refused_at_start(tmp_path, bind):
    status, log = start_expecting_refusal(tmp_path, {"bind": bind, "port": free_port()})
    assert status == 2
    assert "tidegate: bad config: admin.bind: %s is reachable from other hosts and admin.token_file is not set" % bind \
        in log, log
    assert "admin.allow_insecure_remote" in log


def test_a_read_token_without_the_full_token_is_refused_at_start(tmp_path):
    (tmp_path / "read.token").write_text("r\n")
    status, log = start_expecting_refusal(tmp_path, {"bind": HOST, "port": free_port(),
                                                     "read_token_file": str(tmp_path / "read.token")})
    assert status == 2 and "admin.read_token_file: needs admin.token_file" in log, log


def test_a_read_token_equal_to_the_full_token_is_refused_at_start(tmp_path):
    # Else the "read-only" token would allow everything.
    (tmp_path / "full.token").write_text("same\n")
    (tmp_path / "read.token").write_text("same")
    status, log = start_expecting_refusal(tmp_path, {"bind": HOST, "port": free_port(),
                                                     "token_file": str(tmp_path / "full.token"),
                                                     "read_token_file": str(tmp_path / "read.token")})
    assert status == 2 and "admin.read_token_file: holds the same token as admin.token_file" in log, log


def test_tidegatectl_reaches_the_admin_api_by_localhost(open_admin, uid):
    broker, port = open_admin
    broker.connect(uid, 5)
    for address in ("127.0.0.1:%d" % port, "localhost:%d" % port):
        done = subprocess.run([CTL, "--admin", address, "--json", "sessions", "show", uid], capture_output=True,
                              text=True, timeout=10, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["client_id"] == uid
