#!/usr/bin/env python3
"""What the web console costs and how fast it is (docs/console.md, "Measured").

Starts a gateway (build/bin/tidegate, loopback ports), holds N idle MQTT
connections with tidegate-bench conn-ramp, and then, in headless Chromium:
  - the page weight (every file the page loads),
  - the time to the first rendered overview and sessions view on the loopback,
  - the sessions API's answer time with N sessions (plain page, search, sort by
    rate, which asks every session's worker),
  - the gateway's CPU and resident memory over a window with no browser, with
    the overview open (live feed + stats), and with the sessions view open.

  tools/measure/console_cost.py [--sessions 20000] [--window 30]
"""

import argparse
import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = REPO / "build" / "bin"
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_kib(pid):
    return int(open("/proc/%d/statm" % pid).read().split()[1]) * PAGE // 1024


def window(pid, seconds):
    """CPU % of one core and RSS (KiB, at the end) over `seconds`."""
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)  # the measuring window itself
    return 100.0 * (cpu_seconds(pid) - c0) / (time.monotonic() - t0), rss_kib(pid)


def get_json(admin, path):
    t0 = time.monotonic()
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (admin, path), timeout=60) as r:
        body = json.loads(r.read())
    return body, (time.monotonic() - t0) * 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=20000)
    parser.add_argument("--window", type=float, default=30)
    args = parser.parse_args()

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    work = pathlib.Path(tempfile.mkdtemp(prefix="console-cost-"))
    mqtt, admin = free_port(), free_port()
    (work / "tidegate.json").write_text(json.dumps({
        "data_dir": str(work / "data"), "log_level": "warn", "max_connections": args.sessions + 1000,
        "listeners": [{"bind": "0.0.0.0", "port": mqtt}], "allow_anonymous": True,
        "admin": {"bind": "127.0.0.1", "port": admin}}))
    gateway = subprocess.Popen([str(BIN / "tidegate"), "--config", str(work / "tidegate.json")],
                               stdout=open(work / "gateway.log", "wb"), stderr=subprocess.STDOUT)
    bench = driver = service = None
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", mqtt), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)  # readiness poll
        bench = subprocess.Popen([str(BIN / "tidegate-bench"), "conn-ramp", "--port", str(mqtt),
                                  "--connections", str(args.sessions), "--duration", "3600"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 120
        while get_json(admin, "/api/v1/stats")[0]["sessions"]["online"] < args.sessions:
            if time.monotonic() > deadline or bench.poll() is not None:
                bench.kill()
                sys.exit("the connections did not all come up:\n" + bench.communicate()[0][-2000:])
            time.sleep(0.5)  # readiness poll
        print("sessions online: %d" % args.sessions)

        results = {}
        for name, path in (("sessions page", "/api/v1/sessions?limit=50"),
                           ("sessions search", "/api/v1/sessions?q=999&limit=50"),
                           ("sessions sorted by rate", "/api/v1/sessions?sort=rate&limit=50"),
                           ("sessions sorted by backlog", "/api/v1/sessions?sort=backlog&limit=50"),
                           ("history (an hour)", "/api/v1/history")):
            times = sorted(get_json(admin, path)[1] for _ in range(5))
            results[name] = times[2]
            print("API %-28s median %7.1f ms" % (name, times[2]))

        idle = window(gateway.pid, args.window)
        print("no browser:      CPU %5.2f %%  RSS %d KiB" % idle)

        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
            options.add_argument(a)
        service = Service("/usr/bin/chromedriver")
        driver = webdriver.Chrome(service=service, options=options)
        base = "http://127.0.0.1:%d/" % admin

        def ready_ms(view):
            driver.get("about:blank")
            driver.get(base + "#/" + view)
            for _ in range(600):
                t = driver.execute_script(
                    "return document.body.dataset.ready === '1' ? performance.now() : null")
                if t is not None:
                    return t
                time.sleep(0.02)  # poll of the page's ready flag
            raise RuntimeError(view + " never rendered")

        for view in ("overview", "sessions"):
            times = sorted(ready_ms(view) for _ in range(5))
            print("first render %-9s median %6.0f ms (from navigation start)" % (view, times[2]))
        weight = driver.execute_script(
            "return performance.getEntriesByType('resource').concat(performance.getEntriesByType('navigation'))"
            ".map(e => [e.name, e.decodedBodySize])")
        files = {name: size for name, size in weight if "/api/" not in name}
        print("page weight: %d files, %.1f KiB" % (len(files), sum(files.values()) / 1024))

        driver.get(base + "#/overview")
        time.sleep(2)  # let it settle before the window
        overview = window(gateway.pid, args.window)
        print("overview open:   CPU %5.2f %%  RSS %d KiB" % overview)
        driver.get(base + "#/sessions")
        time.sleep(2)
        sessions = window(gateway.pid, args.window)
        print("sessions open:   CPU %5.2f %%  RSS %d KiB" % sessions)
    finally:
        if driver:
            driver.quit()
        if service and service.process and service.process.poll() is None:
            service.process.kill()
        if bench and bench.poll() is None:
            bench.kill()
        gateway.kill()
        gateway.wait(10)


if __name__ == "__main__":
    main()
