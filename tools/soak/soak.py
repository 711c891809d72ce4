#!/usr/bin/env python3
"""Soak: run a real tidegate for a chosen time under churn and check that
nothing acknowledged is lost and that memory and file descriptors stay flat.

What runs at once (all on 127.0.0.1, every loop bounded by --seconds):
  - persistent devices (3.1.1 and 5, QoS 1 and 2 subscriptions) that connect,
    read for a while and leave by DISCONNECT, by a TCP reset, or by being taken
    over by a new connection with their own client id;
  - an operator kicking random devices through the admin API;
  - publishers sending QoS 1/2 messages to the devices (each acknowledged one is
    recorded) and QoS 0 noise;
  - a retained topic updated with QoS 1, checked by fresh subscribers;
  - a QoS 0 subscriber with a small receive buffer that stalls and resumes.
At the end every device drains its session; each acknowledged message must have
reached its device (duplicates are allowed: DUP resends). The gateway's
anonymous memory (RssAnon) and open file descriptors are sampled throughout.

Exit code 0 when nothing acknowledged was lost, the gateway never died, its
descriptors came back to their idle count and its memory stayed flat; 1
otherwise. docs/durability.md ("Soak") has a 30-minute run's figures.

    tools/soak/soak.py --seconds 60 [--tidegate build/bin/tidegate] [--workdir DIR]
"""

import argparse
import ctypes
import json
import os
import pathlib
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "system"))
import mqttraw as m  # noqa: E402  (the raw MQTT client the system tests use)

HOST = "127.0.0.1"


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def die_with_parent():
    """The gateway gets SIGKILL if the soak itself is killed (no orphan)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Gateway:
    """The tidegate process under soak: started here, killed by PID at the end."""

    def __init__(self, binary, workdir):
        self.workdir = pathlib.Path(workdir)
        self.port, self.admin_port = free_port(), free_port()
        config = {
            "data_dir": str(self.workdir / "data"),
            "listeners": [{"protocol": "mqtt", "bind": HOST, "port": self.port}],
            "admin": {"bind": HOST, "port": self.admin_port},
            "queue_cache_entries": 256,
            "max_output_bytes": 65536,
            "log_level": "info",
        }
        (self.workdir / "tidegate.json").write_text(json.dumps(config, indent=2))
        self.log = open(self.workdir / "tidegate.log", "ab")
        self.proc = subprocess.Popen([os.path.abspath(binary), "--config", str(self.workdir / "tidegate.json")],
                                     stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=str(self.workdir), preexec_fn=die_with_parent)
        deadline = time.monotonic() + 15
        while True:
            if self.proc.poll() is not None:
                raise SystemExit("soak: tidegate exited with %s at start; see %s" % (self.proc.returncode,
                                                                                      self.workdir / "tidegate.log"))
            try:
                self.admin("GET", "/api/v1/stats")
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("soak: tidegate did not listen within 15 s")
                time.sleep(0.05)  # poll interval of a bounded readiness wait

    def admin(self, method, path):
        request = urllib.request.Request("http://%s:%d%s" % (HOST, self.admin_port, path), method=method)
        with urllib.request.urlopen(request, timeout=5) as r:
            return json.loads(r.read())

    def alive(self):
        return self.proc.poll() is None

    def sample(self):
        """(RssAnon in KiB, open file descriptors) of the gateway process."""
        anon = 0
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    anon = int(line.split()[1])
        return anon, len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        return self.proc.returncode


class Soak:
    def __init__(self, gateway, seconds, devices, seed, check_memory=True):
        self.gw = gateway
        self.check_memory = check_memory
        self.devices_subscribed = 0
        self.all_subscribed = threading.Event()
        self.seconds = seconds
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.devices = ["soak-dev-%d" % i for i in range(devices)]
        self.acked = {d: set() for d in self.devices}      # payloads acknowledged to publishers
        self.received = {d: set() for d in self.devices}   # payloads that reached the device
        self.counts = {"connects": 0, "disconnects": 0, "resets": 0, "takeovers": 0, "kicks": 0,
                       "published_qos12": 0, "refused": 0, "published_qos0": 0, "retained_checks": 0,
                       "stalls": 0, "errors": 0}
        self.failures = []
        self.samples = []  # (seconds since start, RssAnon KiB, fds)

    def count(self, key, n=1):
        with self.lock:
            self.counts[key] += n

    def fail(self, text):
        with self.lock:
            self.failures.append(text)

    def client(self, client_id, version, clean, rcvbuf=None, timeout=2.0):
        sock = socket.create_connection((HOST, self.gw.port), timeout=timeout)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        c = m.Client(HOST, self.gw.port, version=version, timeout=timeout, sock=sock)
        props = {"session_expiry_interval": 3600} if version == 5 and not clean else None
        c.connect(client_id, clean=clean, props=props)
        return c

    # ---- persistent devices
    def read_into(self, pending, c, seconds):
        """Reads PUBLISH payloads into `pending` for `seconds` (the client
        acknowledges each as it reads it); False when the connection closed."""
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            try:
                p = c.read_packet(min(remaining, 0.5))
            except m.NoPacket:
                continue
            except (m.ConnectionClosed, OSError):
                return False
            if p.type == m.PUBLISH:
                pending.append(p.payload)

    def keep(self, device, pending):
        with self.lock:
            self.received[device].update(pending)
        pending.clear()

    def confirm(self, device, c, pending):
        """A PINGREQ round trip: the gateway has processed every acknowledgement
        sent before it, so what was read counts as received. Only confirmed
        reads count before a client-side ending (a reset discards unsent
        acknowledgements: the gateway must then send those messages again)."""
        c.ping(timeout=10)
        # PUBLISH packets that came in before the PINGRESP were read (and
        # acknowledged) too; the client keeps them in its backlog.
        pending.extend(p.payload for p in c.backlog if p.type == m.PUBLISH)
        c.backlog = [p for p in c.backlog if p.type != m.PUBLISH]
        self.keep(device, pending)

    def device(self, index):
        device = self.devices[index]
        version = 5 if index % 2 else 4
        qos = 2 if index % 3 == 0 else 1
        c = self.client(device, version, clean=False)
        c.subscribe("soak/d/%d/#" % index, qos=qos)
        with self.lock:  # publishers start once every device has subscribed
            self.devices_subscribed += 1
            if self.devices_subscribed == len(self.devices):
                self.all_subscribed.set()
        pending = []
        while not self.stop.is_set():
            self.count("connects")
            if self.read_into(pending, c, self.rng.uniform(0.2, 1.5)):
                ending = self.rng.random()
                try:
                    self.confirm(device, c, pending)
                    if ending < 0.25:
                        # Taken over by a new connection with the same id.
                        newer = self.client(device, version, clean=False)
                        self.read_into(pending, c, 0.3)
                        self.keep(device, pending)  # closed by the gateway: acknowledgements may not have arrived
                        c.close()
                        c = newer
                        self.count("takeovers")
                        continue
                    if ending < 0.5:
                        c.abort()
                        self.count("resets")
                    else:
                        c.send_raw(m.build_disconnect(version))
                        self.read_into(pending, c, 0.3)
                        self.count("disconnects")
                except (m.ConnectionClosed, m.NoPacket, OSError, AssertionError):
                    self.count("errors")
            # Closed by the gateway (a kick, a DISCONNECT): what was read counts;
            # after a reset nothing is pending (confirmed before it).
            self.keep(device, pending)
            c.close()
            self.stop.wait(self.rng.uniform(0.05, 0.8))
            c = self.reconnect(device, version)
            if c is None:
                return
        c.close()

    def reconnect(self, device, version, attempts=50):
        for _ in range(attempts):
            try:
                return self.client(device, version, clean=False)
            except (m.ConnectionClosed, m.NoPacket, OSError, AssertionError):
                # A takeover or a kick still in progress: the id is busy for a moment.
                self.count("errors")
                time.sleep(0.05)  # retry interval of a bounded reconnect loop
        self.fail("%s could not reconnect in %d attempts" % (device, attempts))
        return None

    def kicker(self):
        while not self.stop.wait(self.rng.uniform(0.5, 1.5)):
            device = self.rng.choice(self.devices)
            try:
                self.gw.admin("POST", "/api/v1/sessions/%s/kick" % device)
                self.count("kicks")
            except OSError:
                pass  # not connected at that moment (404): nothing to kick

    # ---- publishers
    def publisher(self, index):
        version = 5 if index % 2 else 4
        n = 0
        # A message published before its device subscribed is not the device's.
        if not self.all_subscribed.wait(timeout=30):
            raise AssertionError("the devices did not subscribe within 30 s")
        c = self.client("soak-pub-%d" % index, version, clean=True)
        while not self.stop.is_set():
            target = self.rng.randrange(len(self.devices))
            qos = self.rng.choice((1, 2))
            payload = b"p%d-%d-%d" % (index, target, n)
            n += 1
            try:
                ack = c.publish("soak/d/%d/x" % target, payload, qos=qos, timeout=10)
            except (m.ConnectionClosed, m.NoPacket, OSError):
                self.count("errors")  # not acknowledged: the gateway owes nothing
                c.close()
                c = self.client("soak-pub-%d" % index, version, clean=True)
                continue
            code = ack.reason_code if version == 5 else 0
            if qos == 2 and version == 5:
                code = ack.pubrec.reason_code
            if code < 0x80:
                with self.lock:
                    self.acked[self.devices[target]].add(payload)
                self.count("published_qos12")
            else:
                self.count("refused")
            if n % 50 == 0:
                for _ in range(20):
                    c.publish("soak/noise", b"n" * 200, qos=0)
                self.count("published_qos0", 20)
        c.close()

    # ---- retained
    def retained(self):
        c = self.client("soak-ret-pub", 5, clean=True)
        value = 0
        while not self.stop.wait(0.2):
            value += 1
            if c.publish("soak/ret/v", b"%d" % value, qos=1, retain=True).reason_code >= 0x80:
                value -= 1
                continue
            checker = self.client("soak-ret-check", 4, clean=True)
            checker.subscribe("soak/ret/#", qos=1)
            got = checker.expect_packet(m.PUBLISH, timeout=5)
            if int(got.payload) < value:
                self.fail("retained soak/ret/v: got %s after %d was acknowledged" % (got.payload, value))
            checker.close()
            self.count("retained_checks")
        c.close()

    # ---- a QoS 0 subscriber that stalls and resumes
    def stalled(self):
        while not self.stop.is_set():
            c = None
            try:
                c = self.client("soak-stall", 4, clean=True, rcvbuf=4096)
                c.subscribe("soak/noise", qos=0)
                while not self.stop.is_set():
                    deadline = time.monotonic() + 1.0  # reads for a second...
                    while time.monotonic() < deadline:
                        try:
                            c.read_packet(0.2)
                        except m.NoPacket:
                            pass
                    self.count("stalls")
                    self.stop.wait(2.0)  # ...then reads nothing for two
            except (m.ConnectionClosed, m.NoPacket, OSError, AssertionError):
                pass  # closed for not reading (max_output_bytes): it comes back
            finally:
                if c is not None:
                    c.close()

    # ---- monitor
    def monitor(self, started):
        while not self.stop.wait(1.0):
            if not self.gw.alive():
                self.fail("tidegate died during the soak (exit %s)" % self.gw.proc.returncode)
                self.stop.set()
                return
            anon, fds = self.gw.sample()
            self.samples.append((time.monotonic() - started, anon, fds))

    def drain(self):
        """After the load: every device takes what is left in its session."""
        pub = self.client("soak-end", 5, clean=True)
        for i, device in enumerate(self.devices):
            pub.publish("soak/d/%d/x" % i, b"end", qos=1)
        pub.close()
        for i, device in enumerate(self.devices):
            c = self.reconnect(device, 5 if i % 2 else 4)
            if c is None:
                continue
            try:
                for p in c.publishes_until(b"end", timeout=30):
                    self.received[device].add(p.payload)
            except (m.NoPacket, m.ConnectionClosed) as exc:
                self.fail("%s: drain did not finish: %s" % (device, exc))
            c.disconnect()

    def guarded(self, target, *args):
        """A load thread that dies unexpectedly fails the soak (it would shrink it silently)."""
        try:
            target(*args)
        except Exception as exc:  # noqa: BLE001 - reported, not swallowed
            self.fail("%s%r stopped: %r" % (target.__name__, args, exc))

    def run(self):
        # Idle figures after one client came and went (anything the gateway
        # opens on first use is then open).
        self.client("soak-warmup", 5, clean=True).disconnect()
        idle_anon, idle_fds = self.gw.sample()
        started = time.monotonic()
        threads = [threading.Thread(target=self.guarded, args=(self.device, i)) for i in range(len(self.devices))]
        threads += [threading.Thread(target=self.guarded, args=(self.publisher, i)) for i in range(2)]
        threads += [threading.Thread(target=self.guarded, args=(f,)) for f in (self.kicker, self.retained, self.stalled)]
        mon = threading.Thread(target=self.monitor, args=(started,))
        for t in threads + [mon]:
            t.daemon = True
            t.start()
        self.stop.wait(self.seconds)
        self.stop.set()
        for t in threads:
            t.join(60)
            if t.is_alive():
                self.fail("a load thread did not stop within 60 s")
        mon.join(5)
        if self.gw.alive():
            self.drain()
        lost = {d: sorted(self.acked[d] - self.received[d]) for d in self.devices}
        lost_total = sum(len(v) for v in lost.values())
        if lost_total:
            self.fail("%d acknowledged message(s) never reached their device: %s" %
                      (lost_total, {d: v[:5] for d, v in lost.items() if v}))
        # Descriptors: back to the idle count once every client is gone.
        end_fds = None
        deadline = time.monotonic() + 10
        while self.gw.alive():
            _, end_fds = self.gw.sample()
            if end_fds <= idle_fds or time.monotonic() > deadline:
                break
            time.sleep(0.1)  # poll interval of a bounded wait for closes to finish
        if end_fds is not None and end_fds > idle_fds:
            self.fail("file descriptors: %d idle, %d after the soak" % (idle_fds, end_fds))
        # Memory: flat once warm (from a quarter of the run on), within 25 % + 4 MiB.
        flat = True
        warm = [s for s in self.samples if s[0] >= self.seconds / 4]
        if len(warm) >= 2:
            first, peak = warm[0][1], max(s[1] for s in warm)
            flat = peak <= first * 1.25 + 4096
            if not flat and self.check_memory:
                self.fail("RssAnon grew from %d KiB to %d KiB after warm-up" % (first, peak))
        report = {
            "seconds": self.seconds,
            "devices": len(self.devices),
            "counts": self.counts,
            "acknowledged": sum(len(v) for v in self.acked.values()),
            "lost": lost_total,
            "rss_anon_kib": {"idle": idle_anon,
                             "warm_first": warm[0][1] if warm else None,
                             "max": max((s[1] for s in self.samples), default=None),
                             "last": self.samples[-1][1] if self.samples else None},
            "fds": {"idle": idle_fds, "max": max((s[2] for s in self.samples), default=None), "end": end_fds},
            "failures": self.failures,
        }
        return report


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--devices", type=int, default=6)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--tidegate", default=str(REPO / "build" / "bin" / "tidegate"))
    parser.add_argument("--workdir", default=None, help="kept after the run (default: a temporary one, removed)")
    parser.add_argument("--no-memory-check", action="store_true",
                        help="report RssAnon but do not judge it (a sanitizer build holds freed memory in "
                             "its quarantine; LeakSanitizer judges leaks at exit instead)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    workdir = args.workdir or tempfile.mkdtemp(prefix="tidegate-soak-")
    pathlib.Path(workdir).mkdir(parents=True, exist_ok=True)
    gateway = Gateway(args.tidegate, workdir)
    try:
        report = Soak(gateway, args.seconds, args.devices, seed, check_memory=not args.no_memory_check).run()
    finally:
        status = gateway.stop()
    report["seed"] = seed
    report["exit_status"] = status
    if status not in (0, None):
        report["failures"].append("tidegate exited with %s at SIGTERM" % status)
    print(json.dumps(report, indent=2))
    if report["failures"]:
        print("soak: FAILED (log: %s)" % (pathlib.Path(workdir) / "tidegate.log"), file=sys.stderr)
        return 1
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    print("soak: passed, nothing acknowledged lost")
    return 0


if __name__ == "__main__":
    sys.exit(main())
