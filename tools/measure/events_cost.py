#!/usr/bin/python3
"""Rules' cost and speed (docs/benchmarks.md, "Rules and webhooks").

1. Events per second to a local keep-alive receiver, binary and batched: the
   rule is paused, N QoS 1 messages are stored, the rule is resumed, and the
   time until the receiver has counted N events is taken.
2. The device path with 0, 1 and 10 rules: tidegate-bench fan-in (10
   publishers, QoS 0 and QoS 1, 5 s, the setups alternating in each round) against the gateway with that many rules reading
   every message ("from": "#") and matching none (a JSON field condition), and
   with 1 rule delivering every message in batches to the receiver.

The receiver is a minimal asyncio HTTP/1.1 server in this process that answers
204 at once and counts events (one per request, or the "specversion" keys of a
batch), so it is not the limit.
    cd "$(mktemp -d)" && /path/to/tools/measure/events_cost.py [--messages N] [--rounds R]
"""

import argparse
import asyncio
import json
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time
import urllib.request

QOS_LIST = [int(q) for q in os.environ.get("EVENTS_QOS", "0,1").split(",") if q]
BIN = pathlib.Path(__file__).resolve().parents[2] / "build" / "bin"
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tests" / "system"))
import mqttraw as m  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    def __init__(self):
        self.port = free_port()
        self.events = 0
        self.requests = 0
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", self.port))
        self.loop.run_forever()

    async def _serve(self, reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                self.requests += 1
                self.events += body.count(b'"specversion"') if b"cloudevents-batch" in head else 1
                writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


def start_gateway(rules, admin_port=0):
    port = free_port()
    config = {"data_dir": "data", "listeners": [{"bind": "127.0.0.1", "port": port}], "rules": rules,
              "node_name": "bench", "log_level": "warn",
              "admin": {"bind": "127.0.0.1", "port": admin_port} if admin_port else {"enabled": False}}
    subprocess.run(["rm", "-rf", "data"], check=True)
    pathlib.Path("c.json").write_text(json.dumps(config))
    proc = subprocess.Popen([str(BIN / "tidegate"), "--config", "c.json"], stderr=open("gw.log", "a"))
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # poll until it listens


def admin_post(port, path):
    urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method="POST"), timeout=5)


def publish(port, n):
    c = m.connect("127.0.0.1", port, "bench-pub", 4)
    pending = set()
    for i in range(n):
        while len(pending) >= 256:
            pending.discard(c.expect_packet(m.PUBACK, 10).packet_id)
        pending.add(c.publish("sensors/bench/t", b'{"t": %d}' % i, qos=1, wait=False))
    while pending:
        pending.discard(c.expect_packet(m.PUBACK, 10).packet_id)
    c.close()


def events_rate(receiver, mode, n):
    admin_port = free_port()
    hook = {"url": "http://127.0.0.1:%d/in" % receiver.port, "mode": mode}
    if mode == "batched":
        hook.update(batch_size=100, batch_linger_ms=5)
    proc, port = start_gateway([{"name": "r", "from": "sensors/#", "actions": [{"webhook": hook}]}], admin_port)
    try:
        admin_post(admin_port, "/api/v1/rules/r/pause")
        publish(port, n)
        base = receiver.events
        started = time.monotonic()
        admin_post(admin_port, "/api/v1/rules/r/resume")
        while receiver.events - base < n:
            if time.monotonic() - started > 120:
                raise RuntimeError("only %d of %d events" % (receiver.events - base, n))
            time.sleep(0.01)  # poll the counter
        return n / (time.monotonic() - started)
    finally:
        proc.kill()
        proc.wait()


def fan_in(rules, qos):
    proc, port = start_gateway(rules)
    try:
        out = subprocess.run([str(BIN / "tidegate-bench"), "fan-in", "--publishers", "10", "--qos", str(qos),
                              "--duration", "5", "--port", str(port), "--broker-pid", str(proc.pid), "--json"],
                             capture_output=True, text=True, timeout=120)
        result = json.loads(out.stdout)
        return result
    finally:
        proc.kill()
        proc.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=50000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    receiver = Receiver()
    for mode in ("binary", "batched"):
        rates = [events_rate(receiver, mode, args.messages) for _ in range(args.rounds)]
        print("events/s %-8s %s" % (mode, " ".join("%.0f" % r for r in rates)), flush=True)
    reject = {"payload.never": {"exists": True}}
    setups = {
        "0 rules": [],
        "1 rule": [{"name": "r0", "from": "#", "where": reject, "actions": [{"republish": {"topic": "x"}}]}],
        "10 rules": [{"name": "r%d" % i, "from": "#", "where": reject, "actions": [{"republish": {"topic": "x"}}]}
                     for i in range(10)],
        "1 webhook": [{"name": "w", "from": "#", "actions": [{"webhook": {
            "url": "http://127.0.0.1:%d/in" % receiver.port, "mode": "batched", "batch_size": 500,
            "batch_linger_ms": 5}}]}],
    }
    for qos in QOS_LIST:
        for round_ in range(args.rounds):
            for name, rules in setups.items():
                r = fan_in(rules, qos)
                print("fan-in qos %d %-10s round %d: delivered %7.0f/s  broker cpu %3.0f%%  rss %.1f MB"
                      % (qos, name, round_ + 1, r["delivered_per_s"], r["broker_cpu_pct"], r["broker_rss_mb"]), flush=True)


if __name__ == "__main__":
    main()
