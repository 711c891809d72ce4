"""The admin listener behaves the same with and without a config
(docs/operations.md, "The admin API in the gateway's config"): an address in
use is fatal with a clear message, and admin.enabled false runs without it."""

import socket
import subprocess

import pytest

from conftest import HOST, TIDEGATE_BIN, free_port, wait_port

pytestmark = pytest.mark.tidegate_only(reason="tidegate's admin listener")


def hold(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((HOST, port))
    s.listen(1)
    return s


def test_the_default_admin_port_in_use_is_fatal_without_a_config(tmp_path):
    try:
        held = hold(9883)
    except OSError:
        pytest.skip("127.0.0.1:9883 is in use on this machine already")
    try:
        r = subprocess.run([TIDEGATE_BIN], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    finally:
        held.close()
    assert r.returncode == 1, r
    assert "admin API cannot listen on 127.0.0.1:9883: Address already in use" in r.stderr, r.stderr
    assert "admin.enabled: false" in r.stderr


def test_an_admin_port_in_use_is_fatal_with_a_config_too(tmp_path):
    port = free_port()
    held = hold(port)
    try:
        cfg = tmp_path / "c.json"
        cfg.write_text('{"data_dir": "%s", "listeners": [{"bind": "%s", "port": %d}], "admin": {"port": %d}}'
                       % (tmp_path / "data", HOST, free_port(), port))
        r = subprocess.run([TIDEGATE_BIN, "--config", str(cfg)], capture_output=True, text=True, timeout=30)
    finally:
        held.close()
    assert r.returncode == 1 and "admin API cannot listen on 127.0.0.1:%d" % port in r.stderr, r


def test_admin_enabled_false_runs_without_it(tmp_path, procs):
    mqtt, admin = free_port(), free_port()
    cfg = tmp_path / "c.json"
    cfg.write_text('{"data_dir": "%s", "listeners": [{"bind": "%s", "port": %d}], '
                   '"admin": {"enabled": false, "port": %d}}' % (tmp_path / "data", HOST, mqtt, admin))
    proc = subprocess.Popen([TIDEGATE_BIN, "--config", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(proc)
    wait_port(HOST, mqtt, proc, 30)
    with socket.socket() as s:
        assert s.connect_ex((HOST, admin)) != 0

