#!/usr/bin/env python3
"""Makes the sample output of docs/operations.md from a real run of this build.

Starts build/bin/tidegate on 127.0.0.1:1883 (admin API on 127.0.0.1:9883, both
must be free) in /tmp/ctldemo, connects the clients the doc describes, runs
each tidegatectl command and prints it with its output as Markdown. Needs
mosquitto-clients. Every process is stopped by PID at the end.

    tools/docs/operations_demo.py > /tmp/operations-output.md
"""

import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "system"))
import mqttraw as m  # noqa: E402

BIN = REPO / "build" / "bin"
RUN = pathlib.Path("/tmp/ctldemo/run")
HOST, PORT, ADMIN = "127.0.0.1", 1883, 9883
procs = []


def wait_port(port, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit("nothing listens on %d" % port)


def sh(cmd, shown=None, cwd=RUN):
    """Runs a shell command in RUN; prints it and its output as a console block line."""
    r = subprocess.run(cmd, shell=True, cwd=cwd, capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, PATH="%s:%s" % (BIN, os.environ["PATH"]), HOME="/nonexistent"))
    print("$ " + (shown or cmd))
    sys.stdout.write(r.stdout + r.stderr)
    if r.returncode not in (0,):
        print("$ echo $?\n%d" % r.returncode)
    return r


def block(title, *commands):
    print("\n### " + title + "\n\n```")
    for i, c in enumerate(commands):
        if i:
            print()
        if isinstance(c, tuple):
            sh(*c)
        else:
            sh(c)
    print("```")


def main():
    shutil.rmtree(RUN.parent, ignore_errors=True)
    RUN.mkdir(parents=True)
    (RUN / "admin.token").write_text("d2c1f0a4b7e9\n")
    subprocess.run([str(BIN / "tidegate-passwd"), "-c", "-b", str(RUN / "passwd"), "ops", "ops-pw"], check=True)
    subprocess.run([str(BIN / "tidegate-passwd"), "-b", str(RUN / "passwd"), "hall3", "hall3-pw"], check=True)
    config = {
        "data_dir": str(RUN / "data"),
        "listeners": [{"protocol": "mqtt", "bind": HOST, "port": PORT}],
        "password_file": str(RUN / "passwd"),
        "admin": {"bind": HOST, "port": ADMIN, "token_file": str(RUN / "admin.token")},
        "bridges": [{"name": "cloud", "address": "127.0.0.1:18830", "out": [{"filter": "plant/#", "qos": 1}]}],
        "log_file": str(RUN / "tidegate.log"),
    }
    (RUN / "tidegate.json").write_text(json.dumps(config, indent=2))
    gw = subprocess.Popen([str(BIN / "tidegate"), "--config", str(RUN / "tidegate.json")], cwd=RUN)
    procs.append(gw)
    wait_port(PORT)
    wait_port(ADMIN)
    try:
        scenario()
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(10)


def scenario():
    # archiver: a persistent MQTT 5 session, offline now.
    subprocess.run(["mosquitto_sub", "-h", HOST, "-p", str(PORT), "-V", "mqttv5", "-i", "archiver", "-c", "-x", "86400",
                    "-q", "1", "-t", "plant/#", "-E"], check=True, timeout=10)
    # dashboard-7: mosquitto_sub, MQTT 3.1.1, user ops.
    dash = subprocess.Popen(["mosquitto_sub", "-h", HOST, "-p", str(PORT), "-V", "mqttv311", "-i", "dashboard-7",
                             "-u", "ops", "-P", "ops-pw", "-q", "1", "-t", "plant/+/alarm"], stdout=subprocess.DEVNULL)
    procs.append(dash)
    # hall3-sensor: MQTT 5, user hall3, does not read its messages.
    hall3 = m.Client(HOST, PORT, version=5)
    hall3.connect("hall3-sensor", username="hall3", password=b"hall3-pw", keepalive=30, clean=False,
                  props={"session_expiry_interval": 3600})
    hall3.subscribe([("plant/hall3/cmd/#", m.subscription_options(qos=1, no_local=True))],
                    props={"subscription_identifier": 7})
    hall3.subscribe([("plant/hall3/setpoint", m.subscription_options(qos=1, retain_handling=1))])
    hall3.auto_ack = False
    for topic, payload in [("plant/hall1/setpoint", "21.5"), ("plant/hall3/setpoint", "19.0")]:
        subprocess.run(["mosquitto_pub", "-h", HOST, "-p", str(PORT), "-r", "-q", "1", "-t", topic, "-m", payload],
                       check=True, timeout=10)
    subprocess.run(["mosquitto_pub", "-h", HOST, "-p", str(PORT), "-q", "1", "-t", "plant/hall3/alarm",
                    "-m", '{"level": "high", "temp": 81.2}'], check=True, timeout=10)
    subprocess.run(["mosquitto_pub", "-h", HOST, "-p", str(PORT), "-q", "1", "-t", "plant/hall3/cmd/fan",
                    "-m", "on"], check=True, timeout=10)
    time.sleep(0.5)  # demo only: let the deliveries reach their sessions before the snapshot

    t = "--token-file admin.token "
    block("sessions", "tidegatectl " + t + "sessions list", "tidegatectl " + t + "sessions list --offline",
          "tidegatectl " + t + "sessions list --limit 2", "tidegatectl " + t + "sessions show hall3-sensor",
          "tidegatectl " + t + "sessions show archiver", "tidegatectl " + t + "--json sessions show dashboard-7")
    block("kick and delete", "tidegatectl " + t + "sessions kick hall3-sensor",
          "tidegatectl " + t + "sessions kick nosuch", "tidegatectl " + t + "sessions kick hall3-sensor",
          "tidegatectl " + t + "sessions list --prefix hall3",
          "tidegatectl " + t + "sessions delete archiver", "tidegatectl " + t + "sessions show archiver")
    block("retained", "tidegatectl " + t + "retained list", "tidegatectl " + t + "retained list --sys --limit 4",
          "tidegatectl " + t + "retained delete plant/hall1/setpoint",
          "tidegatectl " + t + "retained list --prefix plant/hall1")
    block("subs and topics", "tidegatectl " + t + "subs", "tidegatectl " + t + "subs --limit 1",
          "tidegatectl " + t + "topics")
    block("bridges", "tidegatectl " + t + "bridges")
    block("stats", "tidegatectl " + t + "stats")
    subprocess.run(["mosquitto_pub", "-h", HOST, "-p", str(PORT), "-i", "hall1-sensor", "-u", "ops", "-P", "nope",
                    "-t", "x", "-m", "x"], capture_output=True, timeout=10)
    block("log", "grep -E 'hall3-sensor|hall1-sensor|archiver' tidegate.log | grep -v ' debug '")
    cfg = json.loads((RUN / "tidegate.json").read_text())
    cfg["log_level"] = "debug"
    cfg["max_connections"] = 500
    cfg["listeners"][0]["port"] = 1884
    (RUN / "tidegate.json").write_text(json.dumps(cfg, indent=2))
    block("reload", "tidegatectl " + t + "reload", ("tail -n 1 tidegate.log", "tail -n 1 tidegate.log"))
    block("pub and sub", ("tidegatectl sub 'plant/#' --count 3 & sleep 0.3; "
                          "tidegatectl pub plant/hall2/temp 20.4 --qos 1; tidegatectl pub plant/hall2/temp 20.6; wait",
                          "tidegatectl sub 'plant/#' --count 3 &\ntidegatectl pub plant/hall2/temp 20.4 --qos 1\n"
                          "tidegatectl pub plant/hall2/temp 20.6"))
    block("health", "curl -s -i http://127.0.0.1:9883/healthz | sed -n '1p;$p'; echo")
    block("errors", "echo wrong > wrong.token; tidegatectl --token-file wrong.token stats", "tidegatectl stats")
    block("metrics", "curl -s -H \"Authorization: Bearer $(cat admin.token)\" http://127.0.0.1:9883/metrics | "
                     "grep -E '^(tidegate_auth_failures|tidegate_build_info|process_)'")


if __name__ == "__main__":
    main()
