"""tidegate-bench smoke test: every scenario runs briefly against the broker under test.

Asserts only that the generator works: exit status, the metrics it prints, and that
something was delivered. Never a timing: CI does not fail on a number (docs/benchmarks.md has the measurements).
Rates are capped so the broker keeps up and each run ends right after --duration.
"""

import json
import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BENCH = os.environ.get("TIDEGATE_BENCH", str(REPO / "build" / "bin" / "tidegate-bench"))
RUN_TIMEOUT = 30  # seconds; a run takes ~1 s


def bench(*args):
    if not os.path.exists(BENCH):
        pytest.fail("tidegate-bench not found at %s (set TIDEGATE_BENCH)" % BENCH)
    return subprocess.run([BENCH, *map(str, args)], capture_output=True, text=True, timeout=RUN_TIMEOUT)


def bench_json(broker, scenario, *args):
    proc = bench(scenario, "--port", broker.port, "--broker-pid", broker.pid, "--duration", 1, "--json", *args)
    assert proc.returncode == 0, "exit %d\nstdout: %s\nstderr: %s" % (proc.returncode, proc.stdout, proc.stderr)
    report = json.loads(proc.stdout)
    assert report["ok"] and report["measured"], report
    assert report["errors"] == 0, report["error_messages"]
    for key in ("broker_rss_mb", "broker_cpu_pct", "bench_cpu_pct"):
        assert report[key] is not None, key
    return report


def assert_messages(report):
    for key in ("delivered_per_s", "accepted_per_s", "delivered", "expected", "sent", "accepted"):
        assert key in report, key
    for key in ("p50", "p99", "p999"):
        assert key in report["latency_us"], key
    assert report["accepted"] > 0
    assert report["delivered"] > 0


# Each scenario at least once, and each of the target configurations of
# docs/benchmarks.md, "Targets" (fan-out QoS 0, p2p QoS 1, fan-in QoS 0, fan-in
# at a fixed rate) in small.
@pytest.mark.parametrize("scenario,args", [
    ("fan-out", ["--subscribers", 5, "--rate", 2000]),
    ("fan-out", ["--subscribers", 5, "--qos", 1, "--protocol", 5, "--rate", 500]),
    ("fan-in", ["--publishers", 4, "--qos", 1, "--rate", 2000]),
    ("fan-in", ["--publishers", 10, "--qos", 0, "--rate", 5000]),
    ("p2p", ["--publishers", 3, "--qos", 2, "--protocol", 5, "--rate", 1500]),
    ("p2p", ["--publishers", 10, "--qos", 1, "--payload", 1024, "--rate", 2000]),
    ("shared", ["--subscribers", 3, "--qos", 1, "--protocol", 5, "--rate", 2000, "--threads", 2]),
], ids=["fan-out", "fan-out-qos1-v5", "fan-in-qos1", "fan-in-qos0", "p2p-qos2-v5", "p2p-qos1-1k", "shared-qos1-v5"])
def test_message_scenarios(broker, scenario, args):
    report = bench_json(broker, scenario, *args)
    assert_messages(report)


def test_retained(broker):
    report = bench_json(broker, "retained", "--topics", 50, "--subscribers", 2, "--qos", 1)
    assert_messages(report)
    assert report["retained_receive_s"] is not None


def test_conn_ramp(broker):
    report = bench_json(broker, "conn-ramp", "--connections", 300)
    assert report["connections_ok"] == 300
    assert report["connections_failed"] == 0
    assert report["connect_per_s"] > 0
    assert report["rss_per_connection_kb"] is not None


def test_text_report(broker):
    proc = bench("p2p", "--port", broker.port, "--broker-pid", broker.pid, "--duration", 1,
                 "--publishers", 2, "--rate", 1000)
    assert proc.returncode == 0, proc.stderr
    for label in ("delivered msgs/s", "accepted msgs/s", "latency p50 / p99 / p999", "delivered / expected",
                  "broker RSS", "broker CPU"):
        assert label in proc.stdout, label


def test_unreachable_broker_fails(broker):
    port = broker.port
    broker.stop(kill=True)
    proc = bench("fan-out", "--port", port, "--duration", 1)
    assert proc.returncode == 1
    assert "cannot connect" in proc.stderr


def test_usage_error():
    proc = bench("fan-out", "--payload", 8)
    assert proc.returncode == 2
    assert "--payload" in proc.stderr


@pytest.mark.tidegate_only(reason="an mqtts listener from the JSON config")
def test_tls_scenario_verifies_the_broker_and_delivers(make_broker, tmp_path):
    from conftest import free_port
    from test_transports import Pki, tls_listener
    pki = Pki(tmp_path / "pki")
    pki.server = pki.issue("server", "localhost", server=True)
    port = free_port()
    broker = make_broker(listeners=[tls_listener(port, pki)])
    proc = bench("p2p", "--port", port, "--tls", "--ca", pki.ca, "--publishers", 3, "--qos", 1, "--rate", 1500,
                 "--broker-pid", broker.pid, "--duration", 1, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["errors"] == 0, report["error_messages"]
    assert_messages(report)
    # A CA that did not sign the broker's certificate: the handshake fails, the run says so.
    other = Pki(tmp_path / "other", "other-ca")
    refused = bench("p2p", "--port", port, "--tls", "--ca", other.ca, "--duration", 1, "--json")
    assert refused.returncode == 1
    assert "TLS handshake" in refused.stderr + refused.stdout


def test_nagle_on_in_the_generator(broker):
    report = bench_json(broker, "p2p", "--publishers", 2, "--qos", 1, "--rate", 1000, "--nagle")
    assert_messages(report)
