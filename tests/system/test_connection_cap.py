"""max_connections is a hard cap on open connections, also under a burst of
accepts: a connection over the cap is closed at once and counted
(connections.refused_limit in /api/v1/stats,
tidegate_connections_refused_limit_total in /metrics); see docs/design.md."""

import json
import select
import socket
import threading
import time
import urllib.request

import pytest

from conftest import HOST, free_port

pytestmark = pytest.mark.tidegate_only(reason="tidegate config keys and admin API")

CAP = 50
BURST = 400


def stats(admin_port):
    with urllib.request.urlopen("http://%s:%d/api/v1/stats" % (HOST, admin_port), timeout=5) as r:
        return json.loads(r.read())["connections"]


def open_burst(port, count, threads=8):
    """Opens `count` silent TCP connections from `threads` threads at once."""
    opened, failed = [], []
    lock = threading.Lock()
    start = threading.Event()

    def run(n):
        start.wait()
        for _ in range(n):
            try:
                s = socket.create_connection((HOST, port), timeout=5)
            except OSError as e:
                with lock:
                    failed.append(e)
                continue
            with lock:
                opened.append(s)

    workers = [threading.Thread(target=run, args=(count // threads,)) for _ in range(threads)]
    for w in workers:
        w.start()
    start.set()
    for w in workers:
        w.join(30)
    return opened, failed


def closed_by_peer(sockets):
    """The sockets the gateway has closed (end of stream or reset), without waiting."""
    done = set()
    readable, _, _ = select.select(sockets, [], [], 0)
    for s in readable:
        try:
            if s.recv(1, socket.MSG_PEEK) == b"":
                done.add(s)
        except ConnectionResetError:
            done.add(s)
    return done


def test_max_connections_holds_under_a_burst_of_accepts(make_broker):
    admin_port = free_port()
    # A long connect_timeout: only the cap may close these silent sockets during the test.
    broker = make_broker(max_connections=CAP, connect_timeout=60, admin={"bind": HOST, "port": admin_port})
    opened, failed = open_burst(broker.port, BURST)
    try:
        assert not failed, "the kernel refused connects: %r" % failed[:3]
        # Every connect has reached the gateway's accept (the readiness probe is one more).
        deadline = time.monotonic() + 20
        while stats(admin_port)["accepted"] < BURST + 1:
            assert time.monotonic() < deadline, stats(admin_port)
            time.sleep(0.05)  # poll interval of a bounded wait
        # The refused ones see their close; what stays open is what the gateway keeps.
        deadline = time.monotonic() + 10
        alive = list(opened)
        highest_open = 0
        while True:
            highest_open = max(highest_open, stats(admin_port)["open"])
            gone = closed_by_peer(alive)
            alive = [s for s in alive if s not in gone]
            if len(alive) <= CAP or time.monotonic() > deadline:
                break
            time.sleep(0.05)  # poll interval of a bounded wait
        s = stats(admin_port)
        assert len(alive) <= CAP, "%d of %d sockets stay open with max_connections %d (%r)" % (
            len(alive), BURST, CAP, s)
        assert highest_open <= CAP, (highest_open, s)
        # The cap was used, not everything refused: the first ones were kept
        # (the readiness probe may still hold a slot when the burst begins).
        assert len(alive) >= CAP - 5, (len(alive), s)
        assert s["refused_limit"] >= BURST - CAP, s
    finally:
        for s in opened:
            s.close()
