#!/usr/bin/env python3
"""Measures the gateway's resident memory while publishers flood a topic whose
subscribers have stopped reading (a slow consumer must not make memory grow
without bound: docs/benchmarks.md, "Memory with subscribers that stop reading").
Prints one line per second and a summary.

usage: tools/measure/stalled_subscriber.py [--seconds 20] [--qos 0|1] [--payload 64] [--stalled 10]
Needs build/bin/tidegate; runs it on 127.0.0.1 with a temporary data directory."""

import argparse
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tests" / "system"))
import mqttraw as m  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]


def rss_mb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--qos", type=int, default=0)
    ap.add_argument("--payload", type=int, default=64)
    ap.add_argument("--stalled", type=int, default=10, help="subscribers that never read")
    ap.add_argument("--binary", default=str(ROOT / "build" / "bin" / "tidegate"))
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="tidegate-stalled-")
    port = free_port()
    config = {"data_dir": work + "/data", "listeners": [{"protocol": "mqtt", "bind": "127.0.0.1", "port": port}],
              "admin": {"bind": "127.0.0.1", "port": free_port()}}
    pathlib.Path(work, "c.json").write_text(json.dumps(config))
    proc = subprocess.Popen([args.binary, "--config", work + "/c.json"], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("gateway did not start")
                time.sleep(0.02)
        stalled = []
        for i in range(args.stalled):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", port))
            c = m.Client("127.0.0.1", port, version=5, sock=s, auto_ack=False)
            c.connect("stalled-%d" % i)
            c.subscribe("flood/#", qos=1)
            stalled.append(c)  # never read again
        stop = threading.Event()
        sent = [0]

        def flood():
            pub = m.connect("127.0.0.1", port, "flooder", 5)
            body = os.urandom(args.payload)
            while not stop.is_set():
                if args.qos == 0:
                    pub.send_raw(m.build_publish("flood/t", body, 0, version=5) * 100)
                    sent[0] += 100
                else:
                    pub.publish("flood/t", body, qos=1)
                    sent[0] += 1

        t = threading.Thread(target=flood, daemon=True)
        t.start()
        peak = 0.0
        print("second  rss_mb  published")
        for second in range(1, args.seconds + 1):
            time.sleep(1)  # sampling interval of the measurement itself
            r = rss_mb(proc.pid)
            peak = max(peak, r)
            print("%6d  %6.1f  %9d" % (second, r, sent[0]))
        stop.set()
        t.join(5)
        print("summary: qos %d, payload %d B, %d stalled subscribers, %d messages published in %d s, peak RSS %.1f MB"
              % (args.qos, args.payload, args.stalled, sent[0], args.seconds, peak))
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    main()
