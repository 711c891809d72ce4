"""tidegatectl for an operator on the box (docs/operations.md, "tidegatectl"):
where it connects (options, environment, ctl.json, the URL the gateway logs),
user names, tables that fit a terminal, retained messages with previews and
paging, pub and sub through the MQTT listener, and shell completion. Each
against a real gateway; every subprocess bounded in time."""

import fcntl
import json
import os
import pathlib
import pty
import select
import struct
import subprocess
import termios
import time

import pytest

from checks import password_file
from conftest import HOST, free_port

REPO = pathlib.Path(__file__).resolve().parents[2]
CTL = os.environ.get("TIDEGATECTL", str(REPO / "build" / "bin" / "tidegatectl"))
TIMEOUT = 10.0
TOKEN = "ops-token"

pytestmark = pytest.mark.tidegate_only(reason="tidegatectl talks to tidegate's admin API")


def clean_env(**extra):
    """The environment without the user's TIDEGATE_* and ctl.json (HOME and XDG point at nothing)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDEGATE_") and k != "XDG_CONFIG_HOME"}
    env["HOME"] = "/nonexistent"
    env.update(extra)
    return env


def ctl(*args, env=None, stdin=subprocess.DEVNULL):
    return subprocess.run([CTL, *map(str, args)], capture_output=True, text=True, timeout=TIMEOUT,
                          env=env or clean_env(), stdin=stdin)


@pytest.fixture
def gw(make_broker, tmp_path):
    port = free_port()
    token = tmp_path / "admin.token"
    token.write_text(TOKEN + "\n")
    broker = make_broker(admin={"bind": HOST, "port": port, "token_file": str(token)})
    broker.admin_port = port
    broker.token_file = token
    return broker


def test_the_admin_address_from_an_option_the_environment_or_ctl_json(gw, tmp_path, uid):
    gw.connect(uid, 5)
    address = "%s:%d" % (HOST, gw.admin_port)
    # The URL the gateway logs works as --admin.
    r = ctl("--admin", "http://%s/" % address, "--token-file", gw.token_file, "sessions", "list", "--prefix", uid)
    assert r.returncode == 0 and uid in r.stdout, r
    # The environment alone.
    env = clean_env(TIDEGATE_ADMIN="http://" + address, TIDEGATE_TOKEN_FILE=str(gw.token_file))
    r = ctl("sessions", "list", "--prefix", uid, env=env)
    assert r.returncode == 0 and uid in r.stdout, r
    # ctl.json under XDG_CONFIG_HOME.
    config = tmp_path / "xdg" / "tidegate"
    config.mkdir(parents=True)
    (config / "ctl.json").write_text(json.dumps({"admin": address, "token_file": str(gw.token_file)}))
    env = clean_env(XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    r = ctl("sessions", "list", "--prefix", uid, env=env)
    assert r.returncode == 0 and uid in r.stdout, r
    # The environment beats the file, an option beats both.
    env["TIDEGATE_ADMIN"] = "%s:%d" % (HOST, free_port())
    assert ctl("stats", env=env).returncode == 3
    assert ctl("--admin", address, "stats", env=env).returncode == 0
    # A bad ctl.json is a usage error naming the file and the key.
    (config / "ctl.json").write_text(json.dumps({"adminn": address}))
    r = ctl("stats", env=clean_env(XDG_CONFIG_HOME=str(tmp_path / "xdg")))
    assert r.returncode == 2 and "ctl.json: unknown key 'adminn'" in r.stderr, r
    # A URL with a path or another scheme is refused with the reason.
    r = ctl("--admin", "http://%s/api" % address, "stats")
    assert r.returncode == 2 and "has a path" in r.stderr, r
    r = ctl("--admin", "ftp://%s" % address, "stats")
    assert r.returncode == 2 and "only http:// and https://" in r.stderr, r


def test_user_names_in_sessions_list_and_show(make_broker, tmp_path, uid):
    port = free_port()
    broker = make_broker(admin={"bind": HOST, "port": port},
                         password_file=password_file(tmp_path / "passwd", {"alice": "a1"}))
    c = broker.client(5)
    c.connect(uid + "-a", username="alice", password=b"a1", clean=False, props={"session_expiry_interval": 60})
    doc = json.loads(ctl("--admin", "%s:%d" % (HOST, port), "--json", "sessions", "list", "--prefix", uid).stdout)
    assert [s["username"] for s in doc["sessions"]] == ["alice"]
    c.disconnect()  # offline: the session still names its user
    show = ctl("--admin", "%s:%d" % (HOST, port), "sessions", "show", uid + "-a").stdout
    assert "user name:        alice" in show, show
    table = ctl("--admin", "%s:%d" % (HOST, port), "sessions", "list", "--prefix", uid).stdout
    assert table.splitlines()[0].split()[:3] == ["CLIENT", "ID", "USER"] and "alice" in table.splitlines()[1]


def run_in_terminal(args, columns):
    """tidegatectl on a pseudo-terminal `columns` wide; its output."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: its terminal's size is set before tidegatectl asks for it
        fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
        os.execve(CTL, [CTL, *map(str, args)], clean_env())
    out = b""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], deadline - time.monotonic())
        if not ready:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break  # the child closed the terminal
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    return out.decode("utf-8")


def test_tables_fit_the_terminal_and_stay_whole_in_a_pipe(gw, uid):
    long_id = uid + "-" + "x" * 80
    gw.connect(long_id, 5).subscribe("a/very/long/filter/" + "y" * 60, qos=1)
    args = ["--admin", "%s:%d" % (HOST, gw.admin_port), "--token-file", gw.token_file, "subs", "--prefix", uid]
    text = run_in_terminal(args, 80)
    lines = [l for l in text.replace("\r", "").split("\n") if l]
    assert len(lines) == 2, text
    assert all(len(l) <= 80 for l in lines), lines
    assert "…" in lines[1]
    piped = ctl(*args).stdout
    assert long_id in piped  # not a terminal: nothing is cut


def test_retained_list_hides_sys_pages_and_previews(make_broker, uid):
    port = free_port()
    broker = make_broker(admin={"bind": HOST, "port": port}, sys_interval=1)
    pub = broker.connect(uid + "-pub", 5)
    pub.publish(uid + "/json", b'{"t": 21.5}', qos=1, retain=True)
    pub.publish(uid + "/bin", bytes(range(0, 40)), qos=1, retain=True)
    pub.publish(uid + "/text", "température\nok".encode(), qos=1, retain=True)
    admin = ["--admin", "%s:%d" % (HOST, port)]
    doc = json.loads(ctl(*admin, "--json", "retained", "list").stdout)
    assert doc["total"] == 3 and not any(r["topic"].startswith("$SYS/") for r in doc["retained"])
    previews = {r["topic"]: r["preview"] for r in doc["retained"]}
    assert previews[uid + "/json"] == '{"t": 21.5}'
    assert previews[uid + "/text"] == "température ok"
    assert previews[uid + "/bin"] == "hex:" + bytes(range(0, 24)).hex() + "…"
    # $SYS when asked, after the clients' topics.
    doc = json.loads(ctl(*admin, "--json", "retained", "list", "--sys").stdout)
    topics = [r["topic"] for r in doc["retained"]]
    assert topics[:3] == sorted([uid + "/json", uid + "/bin", uid + "/text"])
    assert len(topics) > 3 and all(t.startswith("$SYS/") for t in topics[3:])
    # Paging, and --limit 0 for all of them.
    page = json.loads(ctl(*admin, "--json", "retained", "list", "--limit", "1", "--offset", "1").stdout)
    assert page["total"] == 3 and [r["topic"] for r in page["retained"]] == [uid + "/json"]
    text = ctl(*admin, "retained", "list", "--limit", "1").stdout
    assert text.rstrip("\n").endswith("(1-1 of 3 retained messages; --offset and --limit page through them)"), text
    everything = json.loads(ctl(*admin, "--json", "sessions", "list", "--limit", "0").stdout)
    assert everything["total"] == len(everything["sessions"]) >= 1


def test_limit_zero_reads_every_page(make_broker, uid):
    port = free_port()
    broker = make_broker(admin={"bind": HOST, "port": port})
    clients = [broker.connect("%s-%05d" % (uid, i), 4) for i in range(30)]
    admin = ["--admin", "%s:%d" % (HOST, port)]
    assert len(json.loads(ctl(*admin, "--json", "sessions", "list", "--prefix", uid).stdout)["sessions"]) == 30
    # The API caps a page at 10000; --limit 0 pages through with the same answer shape.
    doc = json.loads(ctl(*admin, "--json", "sessions", "list", "--prefix", uid, "--limit", "0").stdout)
    assert doc["total"] == 30 and len(doc["sessions"]) == 30
    text = ctl(*admin, "sessions", "list", "--prefix", uid, "--limit", "0").stdout
    assert len(text.splitlines()) == 31 and "of 30" not in text
    del clients


def test_pub_and_sub_through_the_mqtt_listener(gw, procs, uid):
    mqtt = ["--mqtt", "%s:%d" % (HOST, gw.port)]
    assert ctl(*mqtt, "pub", uid + "/kept", "before", "--retain", "--qos", "1").returncode == 0
    sub = subprocess.Popen([CTL, *mqtt, "sub", uid + "/#", "--count", "3", "--qos", "1"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=clean_env(), stdin=subprocess.DEVNULL)
    procs.append(sub)
    first = sub.stdout.readline()  # the retained one: the subscription is in place
    assert first == "%s/kept before\n" % uid, first
    assert ctl(*mqtt, "pub", uid + "/a", "one", "--qos", "1").returncode == 0
    assert ctl(*mqtt, "pub", uid + "/b", "two words", "--qos", "2").returncode == 0
    out, err = sub.communicate(timeout=TIMEOUT)
    assert sub.returncode == 0, err
    assert out == "%s/a one\n%s/b two words\n" % (uid, uid)
    # --wait ends a quiet subscription; --payload-only prints the payload alone.
    r = ctl(*mqtt, "sub", uid + "/kept", "--wait", "0.5", "--payload-only")
    assert r.returncode == 0 and r.stdout == "before\n", r
    # An unreachable listener: exit 3.
    assert ctl("--mqtt", "%s:%d" % (HOST, free_port()), "pub", "x", "y").returncode == 3


def test_pub_with_a_password_and_a_refusal(make_broker, tmp_path, uid):
    broker = make_broker(password_file=password_file(tmp_path / "passwd", {"alice": "a1"}), allow_anonymous=False)
    secret = tmp_path / "alice.pw"
    secret.write_text("a1\n")
    mqtt = ["--mqtt", "%s:%d" % (HOST, broker.port)]
    r = ctl(*mqtt, "pub", uid, "x")
    assert r.returncode == 1 and "not authorized" in r.stderr, r
    r = ctl(*mqtt, "--username", "alice", "--password-file", secret, "pub", uid, "x", "--qos", "1")
    assert r.returncode == 0, r


def test_completion_comes_from_the_command_table(tmp_path):
    assert ctl("__complete", "ses").stdout.split() == ["sessions"]
    assert ctl("__complete", "sessions", "").stdout.split() == ["delete", "kick", "list", "show"]
    opts = ctl("__complete", "retained", "list", "--").stdout.split()
    assert {"--sys", "--limit", "--offset", "--prefix", "--admin", "--json"} <= set(opts)
    assert "--online" not in opts
    # The bash function, as bash-completion calls it.
    script = REPO / "tools" / "ctl" / "completion.bash"
    r = subprocess.run(["bash", "-c", 'source "$0"; COMP_WORDS=("$1" sessions k); COMP_CWORD=2; _tidegatectl; '
                        'printf "%s\\n" "${COMPREPLY[@]}"', str(script), CTL],
                       capture_output=True, text=True, timeout=TIMEOUT, env=clean_env())
    assert r.stdout.split() == ["kick"], r


def test_https_admin_url_verifies_the_certificate(tmp_path):
    """The admin API behind TLS (a reverse proxy today): https:// with --ca-file works,
    and a certificate that does not verify is refused (exit 3)."""
    import http.server
    import ssl
    import threading
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)

    class Stats(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"version": "https-check"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((HOST, 0), Stats)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = "https://localhost:%d" % server.server_address[1]
        r = ctl("--admin", url, "--ca-file", cert, "--json", "stats")
        assert r.returncode == 0 and json.loads(r.stdout) == {"version": "https-check"}, r
        r = ctl("--admin", url, "stats")  # the system's CAs do not know this one
        assert r.returncode == 3 and "TLS with the admin API" in r.stderr and "certificate verify failed" in r.stderr, r
    finally:
        server.shutdown()
        server.server_close()
