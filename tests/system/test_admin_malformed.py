"""Malformed requests to the admin API (docs/operations.md, "The API behind it"):
every one gets a 4xx with a JSON error body that is valid UTF-8, never a 500
or an exception's text, and changes nothing; the gateway answers the next
request as before. Raw HTTP over sockets and http.client."""

import http.client
import json
import socket

import pytest

from conftest import HOST, free_port

pytestmark = pytest.mark.tidegate_only(reason="tidegate admin API")

TOKEN = "s3cret"


@pytest.fixture
def admin(make_broker, tmp_path):
    token = tmp_path / "admin.token"
    token.write_text(TOKEN + "\n")
    port = free_port()
    broker = make_broker(admin={"bind": HOST, "port": port, "token_file": str(token)})
    return broker, port


def call(port, method, path, headers=None, body=None):
    """(status, response, JSON body); the body must be JSON with an "error" string on a 4xx."""
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        all_headers = {"Authorization": "Bearer " + TOKEN}
        all_headers.update(headers or {})
        conn.request(method, path, body=body, headers=all_headers)
        response = conn.getresponse()
        raw = response.read()
        assert response.getheader("Content-Type") == "application/json", (response.status, raw)
        return response.status, response, json.loads(raw.decode("utf-8"))  # strict UTF-8
    finally:
        conn.close()


def raw_bytes(port, data):
    """Sends bytes as they are; returns every byte the gateway sends until it closes."""
    with socket.create_connection((HOST, port), timeout=5) as s:
        s.sendall(data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def raw_exchange(port, data):
    """Sends bytes as they are; returns (status, JSON body) of the one answer, the connection then closes."""
    answer = raw_bytes(port, data)
    assert answer, "the gateway closed without an answer"
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"content-type: application/json" in head.lower(), head
    return status, json.loads(body.decode("utf-8"))


def assert_error(status, body, expected_status, words=()):
    assert status == expected_status, (status, body)
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], body
    for word in words:
        assert word in body["error"], body


BAD_PATHS = [
    ("GET", "/api/v1/sessions/%ff%fe", 400, ["UTF-8"]),           # not UTF-8: no client id has it
    ("GET", "/api/v1/sessions/%C0%AF", 400, ["UTF-8"]),           # overlong '/'
    ("GET", "/api/v1/sessions/a%00b", 400, ["UTF-8"]),            # U+0000
    ("GET", "/api/v1/sessions/%zz", 400, ["hex"]),
    ("GET", "/api/v1/sessions/abc%4", 400, ["hex"]),
    ("POST", "/api/v1/sessions/%ff/kick", 400, ["UTF-8"]),
    ("DELETE", "/api/v1/sessions/%", 400, ["hex"]),
    ("DELETE", "/api/v1/retained/a/%ff", 400, ["UTF-8"]),
    ("DELETE", "/api/v1/retained/a%2", 400, ["hex"]),
    ("GET", "/api/v1/sessions?prefix=%ff", 400, ["UTF-8"]),
    ("GET", "/api/v1/subscriptions?filter_prefix=%g0", 400, ["hex"]),
    ("GET", "/api/v1/cluster?key=%fe", 400, ["UTF-8"]),
    ("GET", "/api/v1/sessions?limit=-1", 400, ["limit"]),
    ("GET", "/api/v1/sessions?state=asleep", 400, ["state"]),
    ("GET", "/api/v1/sessions/nobody-here", 404, ["no session"]),
    ("GET", "/api/v1/sessions/caf%C3%A9-nobody", 404, ["caf\u00e9-nobody"]),
    ("POST", "/api/v1/sessions/nobody-here/kick", 404, ["no session"]),
    ("DELETE", "/api/v1/sessions/nobody-here", 404, ["no session"]),
    ("DELETE", "/api/v1/retained/no/such/topic", 404, ["no retained message"]),
    ("GET", "/api/v1/sessions/", 404, []),
    ("GET", "/api/v1/sessions/x/explode", 404, ["no such action"]),
    ("GET", "/api/v1/nothing", 404, ["no such endpoint"]),
    ("GET", "/console/nothing.js", 404, ["no such console file"]),
    ("POST", "/metrics", 405, ["GET"]),
    ("DELETE", "/api/v1/stats", 405, ["GET"]),
    ("POST", "/api/v1/sessions", 405, ["GET"]),
    ("GET", "/api/v1/reload", 405, ["POST"]),
    ("GET", "/api/v1/sessions/x/kick", 405, ["POST"]),
    ("PUT", "/api/v1/sessions/x", 405, ["GET or DELETE"]),
    ("PUT", "/api/v1/retained/a", 405, ["GET or DELETE"]),
]


@pytest.mark.parametrize("method,path,expected,words", BAD_PATHS, ids=["%s %s" % (m, p) for m, p, _, _ in BAD_PATHS])
def test_a_bad_path_query_or_method_gets_a_json_4xx(admin, method, path, expected, words):
    _, port = admin
    status, response, body = call(port, method, path)
    assert_error(status, body, expected, words)
    if expected == 405:
        assert response.getheader("Allow"), "a 405 says which methods the path takes"
    assert call(port, "GET", "/api/v1/stats")[0] == 200


def test_a_kick_with_a_json_body_is_refused_and_the_client_stays(admin, uid):
    broker, port = admin
    client = broker.connect(uid, 5)
    for body in (b"{not json", b'{"client_id": "x"}', b"\xff\xfe"):
        status, _, answer = call(port, "POST", "/api/v1/sessions/%s/kick" % uid,
                                 headers={"Content-Type": "application/json"}, body=body)
        assert_error(status, answer, 400, ["body"])
    assert client.is_open(timeout=2)


@pytest.mark.parametrize("data,expected", [
    (b"GET /api/v1/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nno colon here\r\n\r\n", 400),
    (b"G(T /api/v1/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400),
    (b"GET /api/v1/sessions/\xff\x01 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400),
    (b"POST /api/v1/reload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: zz\r\n\r\n", 400),
    (b"GET /api/v1/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
    (b"POST /api/v1/reload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 70000\r\n\r\n", 413),
    # A chunk size line that never ends: refused once it fills the 16 KiB the listener holds, not kept growing.
    (b"POST /api/v1/reload HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n1;"
     + b"a" * 40000, 431),
], ids=["no-colon", "method", "target-bytes", "content-length", "big-header", "big-body", "endless-chunk-line"])
def test_http_that_does_not_parse_gets_a_json_4xx(admin, data, expected):
    _, port = admin
    status, body = raw_exchange(port, data)
    assert_error(status, body, expected)
    assert call(port, "GET", "/api/v1/stats")[0] == 200


def test_pipelined_requests_get_their_answers_in_order_and_head_gets_no_body(admin):
    """Two requests in one send (the second's bytes arrive with the first's), then a HEAD."""
    _, port = admin
    auth = "Authorization: Bearer %s\r\nHost: 127.0.0.1:%d\r\n" % (TOKEN, port)
    data = ("GET /api/v1/stats HTTP/1.1\r\n" + auth + "\r\n" +
            "GET /api/v1/nothing HTTP/1.1\r\n" + auth + "\r\n" +
            "HEAD /api/v1/reload HTTP/1.1\r\n" + auth + "Connection: close\r\n\r\n").encode()
    stream = raw_bytes(port, data)
    statuses = []
    while stream:
        head, _, rest = stream.partition(b"\r\n\r\n")
        statuses.append(int(head.split(b" ", 2)[1]))
        length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")))
        if statuses[-1] == 405:  # the HEAD: its length is announced, its body not sent
            assert length > 0 and rest == b"", rest
            break
        stream = rest[length:]
    assert statuses == [200, 404, 405], statuses
