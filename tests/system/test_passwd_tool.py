"""tidegate-passwd writes password files that mosquitto itself accepts.

Binary: $TIDEGATE_PASSWD or <repo>/build/bin/tidegate-passwd. Each test that needs a
broker starts a real mosquitto (/usr/sbin/mosquitto or $MOSQUITTO_BIN) with
`password_file` and `allow_anonymous false`, and logs in with mosquitto_pub. These
tests do not depend on TIDEGATE_TEST_BROKER: the broker here is always mosquitto.
"""

import os
import pathlib
import pty
import select
import shutil
import signal
import socket
import stat
import subprocess
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
PASSWD = os.environ.get("TIDEGATE_PASSWD", str(REPO / "build" / "bin" / "tidegate-passwd"))
MOSQUITTO = os.environ.get("MOSQUITTO_BIN", "/usr/sbin/mosquitto")
MOSQUITTO_PUB = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
HOST = "127.0.0.1"
TIMEOUT = 10.0


@pytest.fixture(autouse=True)
def tool_present():
    if not os.path.exists(PASSWD):
        pytest.fail("tidegate-passwd not found at %s (build it, or set TIDEGATE_PASSWD)" % PASSWD)


def passwd(*args, stdin=None):
    """Runs tidegate-passwd; `stdin` is text for a pipe (None: /dev/null)."""
    return subprocess.run([PASSWD, *map(str, args)], input=stdin if stdin is not None else "",
                          capture_output=True, text=True, timeout=TIMEOUT)


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError("mosquitto exited with %s before listening" % proc.returncode)
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError("mosquitto did not listen on port %d within %.0fs" % (port, timeout))
            time.sleep(0.02)  # poll interval of a bounded readiness loop, not a synchronisation


class Mosquitto:
    def __init__(self, workdir, password_file):
        self.port = free_port()
        self.log = workdir / "mosquitto.log"
        conf = workdir / "mosquitto.conf"
        conf.write_text("\n".join([
            "per_listener_settings false",
            "user root",  # stay the user that owns the temp dir when run as root
            "allow_anonymous false",
            "password_file %s" % password_file,
            "listener %d %s" % (self.port, HOST),
            "log_dest stderr",
            "log_type all",
        ]) + "\n")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=str(workdir))
        wait_port(self.port, self.proc)

    def login(self, user, password):
        """True when mosquitto accepts the user and password (a QoS 1 publish completes)."""
        r = subprocess.run([MOSQUITTO_PUB, "-h", HOST, "-p", str(self.port), "-u", user, "-P", password,
                            "-t", "passwd/test", "-m", "x", "-q", "1", "-i", "passwd-test-%d" % os.getpid()],
                           capture_output=True, text=True, timeout=TIMEOUT)
        if r.returncode != 0:
            assert "not authorised" in r.stderr or "Connection Refused" in r.stderr, r.stderr
        return r.returncode == 0

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(TIMEOUT)

    def log_text(self):
        return self.log.read_text(errors="replace")


@pytest.fixture
def mosquitto(tmp_path):
    started = []

    def start(password_file):
        m = Mosquitto(tmp_path, password_file)
        started.append(m)
        return m

    yield start
    for m in started:
        m.stop()


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def run_on_tty(args, answers):
    """Runs tidegate-passwd with a pseudo-terminal as stdin/stdout/stderr, answering each
    prompt in turn. Returns (exit status, everything the terminal showed)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([PASSWD, *map(str, args)], stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True)
    os.close(slave)
    shown = b""
    pending = list(answers)
    deadline = time.monotonic() + TIMEOUT
    try:
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, "tidegate-passwd did not finish; terminal showed %r" % shown
            ready, _, _ = select.select([master], [], [], remaining)
            if not ready:
                continue
            try:
                chunk = os.read(master, 1024)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
            prompts = shown.lower().count(b"password:")
            if pending and prompts > len(answers) - len(pending):
                os.write(master, pending.pop(0).encode() + b"\n")
        return proc.wait(TIMEOUT), shown.decode(errors="replace")
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(TIMEOUT)
        os.close(master)


def test_mosquitto_accepts_the_file(tmp_path, mosquitto):
    pw = tmp_path / "passwords"
    assert passwd("-c", "-b", pw, "alice", "first secret").returncode == 0
    assert mode_of(pw) == 0o600
    r = passwd(pw, "bob", stdin="from stdin\n")           # one line from a pipe
    assert r.returncode == 0, r.stderr
    assert passwd("-H", "sha512", "-b", pw, "carol", "legacy$6").returncode == 0
    assert passwd("-b", pw, "dave", "gone").returncode == 0
    assert passwd("-D", pw, "dave").returncode == 0
    assert passwd("-b", pw, "alice", "second secret").returncode == 0  # update in place

    lines = pw.read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["alice", "bob", "carol"]
    assert lines[0].startswith("alice:$7$101$") and lines[2].startswith("carol:$6$")
    assert mode_of(pw) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["passwords"]  # no temporary file left behind

    broker = mosquitto(pw)
    assert broker.login("alice", "second secret")
    assert not broker.login("alice", "first secret")
    assert broker.login("bob", "from stdin")
    assert not broker.login("bob", "from stdin\n")
    assert broker.login("carol", "legacy$6")
    assert not broker.login("carol", "legacy")
    assert not broker.login("dave", "gone")
    assert not broker.login("mallory", "second secret")
    assert "Error" not in broker.log_text()  # mosquitto dropped no entry as invalid


def test_tty_prompts_twice_without_echo(tmp_path, mosquitto):
    pw = tmp_path / "passwords"
    status, shown = run_on_tty(["-c", pw, "erin"], ["typed secret", "typed secret"])
    assert status == 0, shown
    assert shown.lower().count("password:") == 2, shown
    assert "typed secret" not in shown  # echo was off

    status, shown = run_on_tty([pw, "erin"], ["new one", "not the same"])
    assert status == 1 and "Passwords do not match" in shown, shown

    broker = mosquitto(pw)
    assert broker.login("erin", "typed secret")  # the failed change left the file alone


def test_update_keeps_other_lines_and_permissions(tmp_path, mosquitto):
    pw = tmp_path / "passwords"
    subprocess.run([MOSQUITTO_PASSWD, "-b", "-c", pw, "mos", "made by mosquitto"], check=True, timeout=TIMEOUT)
    original = pw.read_text()
    pw.write_text("# managed by hand\n" + original + "\n")
    os.chmod(pw, 0o640)  # e.g. group-readable by the broker's group

    assert passwd("-b", pw, "tide", "made by tidegate").returncode == 0
    text = pw.read_text()
    assert text == "# managed by hand\n" + original + "\n" + text.splitlines()[-1] + "\n"
    assert text.splitlines()[-1].startswith("tide:$7$101$")
    assert mode_of(pw) == 0o640

    # And the other way round: mosquitto_passwd can still edit the file (no comments then).
    pw.write_text("".join(l + "\n" for l in text.splitlines() if l and not l.startswith("#")))
    subprocess.run([MOSQUITTO_PASSWD, "-b", pw, "mos2", "also mosquitto"], check=True, timeout=TIMEOUT)

    broker = mosquitto(pw)
    assert broker.login("mos", "made by mosquitto")
    assert broker.login("tide", "made by tidegate")
    assert broker.login("mos2", "also mosquitto")


def test_errors_leave_the_file_alone(tmp_path):
    pw = tmp_path / "passwords"
    r = passwd("-b", pw, "u", "p")
    assert r.returncode == 1 and "Unable to open password file" in r.stderr
    assert not pw.exists()

    assert passwd("-c", "-b", pw, "u", "p").returncode == 0
    before = pw.read_bytes()
    for args, message in [
        (["-c", "-D", pw, "u"], "-c and -D cannot be used together"),
        (["-b", "-D", pw, "u"], "-b and -D cannot be used together"),
        (["-b", pw, "a:b", "p"], "must not contain the ':' character"),
        (["-D", pw, "nobody"], "User nobody not found"),
        (["-H", "md5", "-b", pw, "u", "p"], "Unknown hash type"),
        ([pw, "v"], "Empty password"),   # empty line on a pipe
    ]:
        r = passwd(*args, stdin="\n")
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert message in r.stderr, (args, r.stderr)
        assert pw.read_bytes() == before, args

    pw.write_text(before.decode() + "broken line\n")
    r = passwd("-b", pw, "w", "p")
    assert r.returncode == 1 and "passwords:2: expected 'user:hash'" in r.stderr, r.stderr
    assert pw.read_text() == before.decode() + "broken line\n"

    r = passwd()
    assert r.returncode == 1 and "Usage:" in r.stdout
