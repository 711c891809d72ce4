"""`tidegate --check-config FILE` (docs/operations.md, "Checking a config"):
every problem of a config, without starting anything; exit 0 or 2."""

import json
import socket
import subprocess

import pytest

from conftest import HOST, TIDEGATE_BIN, free_port

pytestmark = pytest.mark.tidegate_only(reason="tidegate's own config checker")


def check(path):
    r = subprocess.run([TIDEGATE_BIN, "--check-config", str(path)], capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout.splitlines(), r.stderr


def write(tmp_path, text, name="tidegate.json"):
    path = tmp_path / name
    path.write_text(text if isinstance(text, str) else json.dumps(text, indent=2))
    return path


def test_a_good_config_passes_and_nothing_is_left_behind(tmp_path):
    data = tmp_path / "data"
    port = free_port()
    path = write(tmp_path, {"data_dir": str(data), "listeners": [{"protocol": "mqtt", "bind": HOST, "port": port}],
                            "admin": {"bind": HOST, "port": free_port()}})
    code, out, err = check(path)
    assert code == 0, (out, err)
    assert out[-1].startswith("%s: OK" % path), out
    assert not data.exists(), "no store is opened or made"
    with socket.socket() as s:  # and the port is free again
        s.bind((HOST, port))


def test_every_problem_is_reported_not_only_the_first(tmp_path):
    path = write(tmp_path, {
        "bogus": 1, "other_bogus": 2,
        "max_inflight": "many",
        "listeners": [{"protocol": "mqtts", "port": 8883}, {"protocol": "mqtt", "port": 70000}],
        "password_file": str(tmp_path / "no-such-passwd"),
        "log_file": str(tmp_path / "no-such-dir" / "tidegate.log"),
        "admin": {"port": "x"},
    })
    code, out, _ = check(path)
    assert code == 2
    errors = [l.split(": error: ", 1)[1] for l in out if ": error: " in l]
    for expected in ("bogus: unknown key", "other_bogus: unknown key", "max_inflight: must be a whole number >= 0",
                     "listeners[0].cert: is required for mqtts", "listeners[1].port: must be between 0 and 65535",
                     "admin.port: must be a whole number >= 0",
                     "password_file: %s: cannot open: No such file or directory" % (tmp_path / "no-such-passwd"),
                     "log_file: directory %s does not exist" % (tmp_path / "no-such-dir")):
        assert expected in errors, (expected, errors)
    assert out[-1] == "%s: refused (%d error(s), 0 warning(s))" % (path, len(errors)), out


def test_json_syntax_errors_say_line_and_column(tmp_path):
    path = write(tmp_path, '{\n  "max_inflight": 10,\n  "log_level": debug\n}\n')
    code, out, _ = check(path)
    assert code == 2
    assert out[0].startswith("%s: error: config: not valid JSON: line 3, column 16: syntax error" % path), out
    assert "json.exception" not in "\n".join(out)


def test_an_unreadable_file_says_why(tmp_path):
    code, out, _ = check(tmp_path / "nope.json")
    assert code == 2
    assert out[0] == "%s: error: config: cannot read %s: No such file or directory" % (
        tmp_path / "nope.json", tmp_path / "nope.json"), out
    # The same words when the gateway itself is started with it.
    r = subprocess.run([TIDEGATE_BIN, "--config", str(tmp_path / "nope.json")], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2
    assert "cannot read %s: No such file or directory" % (tmp_path / "nope.json") in r.stderr, r.stderr


def test_files_certificates_and_tokens_are_loaded(tmp_path):
    bad_cert = tmp_path / "cert.pem"
    bad_cert.write_text("not a certificate\n")
    empty_token = tmp_path / "token"
    empty_token.write_text("\n")
    path = write(tmp_path, {
        "data_dir": str(tmp_path / "data"),
        "listeners": [{"protocol": "mqtts", "bind": HOST, "port": free_port(), "cert": str(bad_cert),
                       "key": str(bad_cert)}],
        "admin": {"bind": HOST, "port": free_port(), "token_file": str(empty_token)},
    })
    code, out, _ = check(path)
    assert code == 2
    text = "\n".join(out)
    assert "listeners[0].cert: cannot use %s" % bad_cert in text, text
    assert "admin.token_file: %s is empty" % empty_token in text, text


def test_ports_in_use_are_warnings_and_our_own_clash_is_an_error(tmp_path):
    taken = socket.socket()
    taken.bind((HOST, 0))
    taken.listen(1)
    busy = taken.getsockname()[1]
    try:
        same = free_port()
        path = write(tmp_path, {
            "data_dir": str(tmp_path / "data"),
            "listeners": [{"protocol": "mqtt", "bind": HOST, "port": busy},
                          {"protocol": "ws", "bind": "0.0.0.0", "port": same}],
            "admin": {"bind": HOST, "port": same},
        })
        code, out, _ = check(path)
    finally:
        taken.close()
    assert code == 2, out
    assert "%s: warning: listeners[0]: %s:%d is in use now (by a running gateway, or another program)" % (
        path, HOST, busy) in out, out
    assert "%s: error: admin: port %d is also listeners[1]'s" % (path, same) in out, out
