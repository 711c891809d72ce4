"""A tidegate process started on a data_dir chosen by the test (not the `broker`
fixture's): for stores that are shared, damaged or salvaged on purpose.

Everything is bounded: start() returns once the gateway listens or has exited,
within START_TIMEOUT; stop() sends SIGTERM and waits, then SIGKILLs by PID."""

import json
import os
import pathlib
import signal
import socket
import subprocess
import time

from conftest import HOST, TIDEGATE_BIN, free_port

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


class GatewayProcess:
    def __init__(self, workdir, data_dir, **config):
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = pathlib.Path(data_dir)
        self.port = free_port()
        self.admin_port = free_port()
        self.config = config
        self.proc = None
        self.log_path = self.workdir / "gateway.log"

    def start(self):
        """Start; returns "listening" or "exited" (see .returncode and .log())."""
        cfg = {"data_dir": str(self.data_dir),
               "listeners": [{"protocol": "mqtt", "bind": HOST, "port": self.port}],
               "admin": {"bind": HOST, "port": self.admin_port}}
        cfg.update(self.config)
        path = self.workdir / "tidegate.json"
        path.write_text(json.dumps(cfg))
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([TIDEGATE_BIN, "--config", str(path)], stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=str(self.workdir))
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                return "exited"
            try:
                with socket.create_connection((HOST, self.port), timeout=0.2):
                    return "listening"
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError("gateway neither listened nor exited within %.0fs (a hang):\n%s"
                                     % (START_TIMEOUT, self.log()))
            time.sleep(0.02)  # poll interval of a bounded readiness loop

    @property
    def returncode(self):
        return self.proc.poll() if self.proc else None

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM):
        """Signal and wait; returns the exit status (negative: killed by a signal)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError("gateway did not exit within %.0fs of signal %d" % (STOP_TIMEOUT, sig))
        return self.proc.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)


def run_tool(args, timeout=120):
    """Run `tidegate ARGS...` to completion; returns the CompletedProcess (text)."""
    return subprocess.run([TIDEGATE_BIN] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
