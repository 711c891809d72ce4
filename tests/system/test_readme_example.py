"""The README's config for an edge box passes `tidegate --check-config` on a
fresh box (relative paths, the password file made as the README says), and
the gateway starts with it and lets a device with a password in."""

import json
import pathlib
import re
import subprocess

import pytest

import mqttraw as m
from conftest import HOST, TIDEGATE_BIN, free_port
from conftest import wait_port

REPO = pathlib.Path(__file__).resolve().parents[2]
PASSWD = REPO / "build" / "bin" / "tidegate-passwd"

pytestmark = pytest.mark.tidegate_only(reason="tidegate's README")


def readme_config():
    text = (REPO / "README.md").read_text()
    block = re.search(r"<!-- edge-config:[^>]*-->\s*```json\n(.*?)```", text, re.S)
    assert block, "README.md has no edge-config block"
    return json.loads(block.group(1))


def test_the_readme_edge_config_checks_and_runs(tmp_path, procs):
    config = readme_config()
    subprocess.run([str(PASSWD), "-c", "-b", "passwd", "sensor-1", "s3cret"], cwd=tmp_path, check=True, timeout=30)
    (tmp_path / "edge.json").write_text(json.dumps(config))
    r = subprocess.run([TIDEGATE_BIN, "--check-config", "edge.json"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    # Started for real, on free ports instead of 1883/9883 (which this machine may use).
    port = free_port()
    config["listeners"] = [{"protocol": "mqtt", "bind": HOST, "port": port}]
    config["admin"] = {"bind": HOST, "port": free_port()}
    (tmp_path / "edge.json").write_text(json.dumps(config))
    proc = subprocess.Popen([TIDEGATE_BIN, "--config", "edge.json"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    procs.append(proc)
    wait_port(HOST, port, proc, 30)
    device = m.Client(HOST, port, version=4)
    assert device.connect("sensor-1", username="sensor-1", password=b"s3cret").reason_code == 0
    anonymous = m.Client(HOST, port, version=4)
    assert anonymous.connect("nobody", expect_success=False).reason_code == 5
