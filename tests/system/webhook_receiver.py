"""A real HTTP(S) webhook receiver for the events tests: Python's http.server on
127.0.0.1 in a thread of the test process, keep-alive, recording every request.

Its answer is chosen per request by `respond(index, request)` -> (status, headers, delay_s);
stop() closes the listener and every open connection (a receiver that is down),
start() opens the same port again.
"""

import json
import socket
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import HOST, free_port


class Request:
    def __init__(self, headers, body):
        self.at = time.monotonic()
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body

    def events(self):
        """The CloudEvents this request carried, each as a dict with at least id and data."""
        ctype = self.headers.get("content-type", "")
        if ctype.startswith("application/cloudevents-batch+json"):
            return json.loads(self.body)
        if ctype.startswith("application/cloudevents+json"):
            return [json.loads(self.body)]
        # Header values are percent-encoded where needed (the CloudEvents HTTP binding).
        event = {k[3:]: urllib.parse.unquote(v) for k, v in self.headers.items() if k.startswith("ce-")}
        event["datacontenttype"] = ctype
        event["body"] = self.body
        return [event]


class Receiver:
    def __init__(self, tls=None):
        self.port = free_port()
        self.tls = tls  # (cert, key) for HTTPS
        self.requests = []
        self.ids = set()  # distinct event ids so far (kept as requests come: waits stay cheap)
        self.cond = threading.Condition()
        self.respond = lambda index, request: (200, {}, 0)
        self.close_after_answer = False  # close each connection after its answer, without saying so
        self.server = None
        self.thread = None
        self.connections = set()

    @property
    def url(self):
        return "%s://%s:%d/hook" % ("https" if self.tls else "http", HOST, self.port)

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                with receiver.cond:
                    receiver.connections.add(self.connection)

            def finish(self):
                with receiver.cond:
                    receiver.connections.discard(self.connection)
                try:
                    super().finish()
                except OSError:
                    pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                request = Request(self.headers, body)
                with receiver.cond:
                    index = len(receiver.requests)
                    receiver.requests.append(request)
                    receiver.ids.update(e["id"] for e in request.events())
                    receiver.cond.notify_all()
                status, headers, delay = receiver.respond(index, request)
                if delay:
                    time.sleep(delay)  # a slow receiver, on purpose
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass
                if receiver.close_after_answer:
                    self.close_connection = True

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server((HOST, self.port), Handler)
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if not self.server:
            return
        self.server.shutdown()
        self.server.server_close()
        with self.cond:
            for c in list(self.connections):
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.thread.join(5)
        self.server = None

    def events(self):
        with self.cond:
            return [e for r in self.requests for e in r.events()]

    def wait_until(self, predicate, timeout, what):
        """Waits (bounded) until predicate(receiver) holds, woken by each request."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("webhook receiver: %s not within %.0fs (%d requests)"
                                         % (what, timeout, len(self.requests)))
                self.cond.wait(min(left, 0.5))

    def wait_events(self, count, timeout=20):
        self.wait_until(lambda r: len(r.ids) >= count, timeout, "%d distinct events" % count)
        return self.events()
