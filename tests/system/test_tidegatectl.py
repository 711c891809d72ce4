"""tidegatectl, the operator CLI, against the real gateway's admin API.

Binary: $TIDEGATECTL or <repo>/build/bin/tidegatectl. Each broker gets its admin API
on a free loopback port with a token file; clients are raw MQTT connections
(mqttraw) and mosquitto_sub / mosquitto_pub processes. Checks: the tables and
--json of every command, the effects of kick and delete on the clients, token
refusal, an unreachable or silent admin port, exit codes and --help.
"""

import json
import os
import pathlib
import re
import select
import shutil
import socket
import subprocess
import time

import pytest

import mqttraw as m

REPO = pathlib.Path(__file__).resolve().parents[2]
CTL = os.environ.get("TIDEGATECTL", str(REPO / "build" / "bin" / "tidegatectl"))
HOST = "127.0.0.1"
TIMEOUT = 10.0       # bound on every subprocess
POLL_TIMEOUT = 5.0   # bound on waiting for the gateway to show a state change
TOKEN = "s3cret-token-for-tests"

SESSION_COLUMNS = ["CLIENT ID", "USER", "STATE", "PROTOCOL", "ADDRESS", "CONNECTED SINCE", "KEEPALIVE", "PERSISTENT"]
SUBS_COLUMNS = ["CLIENT ID", "STATE", "FILTER", "QOS", "NO LOCAL", "RETAIN AS PUBLISHED", "RETAIN HANDLING",
                "SUBSCRIPTION ID"]
TOPICS_COLUMNS = ["FILTER", "SUBSCRIBERS", "LAST SEQUENCE", "MESSAGES", "BACKLOG"]
SUBSCRIPTION_COLUMNS = ["FILTER", "QOS", "NO LOCAL", "RETAIN AS PUBLISHED", "RETAIN HANDLING", "SUBSCRIPTION ID"]
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")

needs_admin = pytest.mark.tidegate_only(reason="the admin API is tidegate's own")
needs_mosquitto_clients = pytest.mark.skipif(shutil.which("mosquitto_sub") is None,
                                             reason="mosquitto-clients not installed")


@pytest.fixture(autouse=True)
def tool_present():
    if not os.path.exists(CTL):
        pytest.fail("tidegatectl not found at %s (build it, or set TIDEGATECTL)" % CTL)


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def run_ctl(*args):
    return subprocess.run([CTL, *map(str, args)], capture_output=True, text=True, timeout=TIMEOUT,
                          stdin=subprocess.DEVNULL)


class Admin:
    """A broker with its admin API, and tidegatectl pointed at it."""

    def __init__(self, broker, port, token_file):
        self.broker = broker
        self.port = port
        self.token_file = token_file

    def ctl(self, *args, token_file=None):
        return run_ctl("--admin", "%s:%d" % (HOST, self.port), "--token-file", token_file or self.token_file, *args)

    def ok(self, *args):
        res = self.ctl(*args)
        assert res.returncode == 0, "tidegatectl %s: exit %d, stderr %r" % (args, res.returncode, res.stderr)
        assert res.stderr == ""
        return res.stdout

    def json(self, *args):
        return json.loads(self.ok("--json", *args))

    def sessions(self, *args):
        """client_id -> session object, from `sessions list --json`."""
        doc = self.json("sessions", "list", *args)
        return {s["client_id"]: s for s in doc["sessions"]}

    def wait_sessions(self, predicate, *args, timeout=POLL_TIMEOUT):
        """Poll `sessions list` until predicate(sessions) holds; return the sessions."""
        deadline = time.monotonic() + timeout
        while True:
            sessions = self.sessions(*args)
            if predicate(sessions):
                return sessions
            if time.monotonic() > deadline:
                raise AssertionError("sessions never matched; last: %r" % sessions)
            time.sleep(0.05)  # poll interval of a bounded loop, not a synchronisation


@pytest.fixture
def admin(make_broker, tmp_path):
    port = free_port()
    token_file = tmp_path / "admin.token"
    token_file.write_text(TOKEN + "\n")  # the trailing newline is not part of the token
    broker = make_broker(admin={"bind": HOST, "port": port, "token_file": str(token_file)})
    return Admin(broker, port, token_file)


def mosquitto_sub(procs, broker, client_id, topic, version="mqttv311", extra=()):
    """mosquitto_sub with -d; returns once its SUBACK arrived (the 'Subscribed' line)."""
    cmd = ["stdbuf", "-oL", "mosquitto_sub", "-h", broker.host, "-p", str(broker.port), "-V", version,
           "-i", client_id, "-t", topic, "-q", "1", "-k", "30", "-d", "-W", "30"] + list(extra)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    procs.append(proc)
    deadline = time.monotonic() + POLL_TIMEOUT
    out = b""
    while b"Subscribed" not in out:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("mosquitto_sub did not subscribe in time: %r" % out)
        ready, _, _ = select.select([proc.stdout], [], [], remaining)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                raise AssertionError("mosquitto_sub exited (%s): %r" % (proc.poll(), out))
            out += chunk
    return proc


def mosquitto_pub(broker, topic, message, retain=False, qos=1):
    cmd = ["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-t", topic, "-m", message,
           "-q", str(qos)] + (["-r"] if retain else [])
    res = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT)
    assert res.returncode == 0, res.stderr.decode()


def parse_table(text, columns):
    """Rows of an aligned table as dicts, cut at the header's column positions.

    Also checks the alignment: every row's cells start where the header's titles do
    (all columns used here are left-aligned or narrower than their title)."""
    lines = text.rstrip("\n").split("\n")
    header = lines[0]
    starts = [header.index(c) for c in columns]
    assert starts == sorted(starts) and starts[0] == 0, header
    assert re.split(r"\s{2,}", header.strip()) == columns, header
    rows = []
    for line in lines[1:]:
        if not line.strip():
            break
        cells = []
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else len(line)
            if i + 1 < len(starts):
                # The gap before the next column is blank: nothing spills over.
                assert line[end - 2:end] == "  " or len(line) < end, "misaligned: %r" % line
            cells.append(line[start:end].strip())
        rows.append(dict(zip(columns, cells)))
    return rows


# ---------------------------------------------------------------- no gateway needed

def test_help_of_the_tool_and_every_command():
    res = run_ctl("--help")
    assert res.returncode == 0 and res.stderr == ""
    for command in ("sessions list", "sessions show", "sessions kick", "sessions delete",
                    "retained list", "retained delete", "subs", "topics", "stats", "--admin", "--token-file",
                    "--json"):
        assert command in res.stdout
    for args, usage in [(["sessions", "--help"], "sessions kick ID"),
                        (["sessions", "list", "--help"], "--offline"),
                        (["sessions", "show", "--help"], "sessions show ID"),
                        (["sessions", "kick", "--help"], "0x98"),
                        (["sessions", "delete", "--help"], "sessions delete ID"),
                        (["retained", "--help"], "retained delete TOPIC"),
                        (["retained", "list", "--help"], "--prefix"),
                        (["retained", "delete", "--help"], "retained delete TOPIC"),
                        (["stats", "--help"], "stats"),
                        (["subs", "--help"], "--filter-prefix F"),
                        (["topics", "--help"], "LAST SEQUENCE"),
                        (["help", "topics"], "$share/G/F"),
                        (["help", "sessions", "kick"], "0x98"),
                        (["-h"], "Commands:")]:
        res = run_ctl(*args)
        assert res.returncode == 0, (args, res.stderr)
        assert res.stdout.startswith("usage: tidegatectl") and usage in res.stdout, (args, res.stdout)


@pytest.mark.parametrize("args, message", [
    ([], "no command given"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["sessions"], "'sessions' wants a command"),
    (["sessions", "list", "--bogus"], "unknown option '--bogus'"),
    (["sessions", "show"], "'sessions show' wants one client id"),
    (["sessions", "list", "--online", "--offline"], "exclude each other"),
    (["sessions", "list", "--limit", "many"], "--limit wants a non-negative integer"),
    (["stats", "--prefix", "x"], "'stats' has no option '--prefix'"),
    (["topics", "--filter-prefix", "x"], "'topics' has no option '--filter-prefix'"),
    (["subs", "extra"], "'subs' takes no argument 'extra'"),
    (["subs", "--offset", "x"], "--offset wants a non-negative integer"),
    (["sessions", "list", "--filter-prefix", "x"], "'sessions list' has no option '--filter-prefix'"),
    (["--admin", "127.0.0.1:http", "stats"], "bad port"),
    (["--token-file", "/nonexistent/token", "stats"], "cannot read the token file"),
])
def test_usage_errors_exit_2(args, message):
    res = run_ctl(*args)
    assert res.returncode == 2, res
    assert res.stdout == ""
    assert res.stderr.startswith("tidegatectl: ") and message in res.stderr, res.stderr


def test_unreachable_admin_port_exits_3():
    port = free_port()  # bound and released: nothing listens there
    res = run_ctl("--admin", "%s:%d" % (HOST, port), "stats")
    assert res.returncode == 3, res
    assert res.stderr == "tidegatectl: cannot reach the admin API at %s:%d: connection refused\n" % (HOST, port)


def test_silent_admin_port_times_out_with_exit_3():
    """A listener that accepts (kernel backlog) but never answers: the read deadline ends it."""
    with socket.socket() as silent:
        silent.bind((HOST, 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        started = time.monotonic()
        res = run_ctl("--admin", "%s:%d" % (HOST, port), "--timeout", "0.5", "sessions", "list")
        elapsed = time.monotonic() - started
    assert res.returncode == 3, res
    assert "no answer from the admin API at %s:%d" % (HOST, port) in res.stderr
    assert "0.5" in res.stderr or "500 ms" in res.stderr
    assert elapsed < 5, elapsed


# ---------------------------------------------------------------- sessions

@needs_admin
@needs_mosquitto_clients
def test_sessions_list_table_and_json(admin, procs, uid):
    broker = admin.broker
    v5 = broker.connect(uid + "-a5", version=5, keepalive=45)
    v5.subscribe(uid + "/a", qos=1)
    mosquitto_sub(procs, broker, uid + "-b311", uid + "/b")
    parked = broker.connect(uid + "-c", version=4, clean=False)
    parked.subscribe(uid + "/c", qos=1)
    parked.disconnect()
    ids = {uid + "-a5", uid + "-b311", uid + "-c"}

    sessions = admin.wait_sessions(lambda s: ids <= set(s) and not s[uid + "-c"]["online"], "--prefix", uid)
    assert set(sessions) == ids
    a, b, c = (sessions[uid + s] for s in ("-a5", "-b311", "-c"))
    assert a["online"] and a["protocol"] == 5 and a["keep_alive"] == 45 and not a["persistent"]
    assert a["address"].startswith("127.0.0.1:") and ISO_UTC.match(a["connected_since"])
    assert b["online"] and b["protocol"] == 4 and b["keep_alive"] == 30
    assert not c["online"] and c["persistent"]
    assert c["address"] is None and c["protocol"] is None and c["connected_since"] is None

    doc = admin.json("sessions", "list", "--prefix", uid)
    assert doc["total"] == 3
    assert [s["client_id"] for s in doc["sessions"]] == sorted(ids)

    # The table: one aligned row per session, sorted by client id.
    rows = parse_table(admin.ok("sessions", "list", "--prefix", uid), SESSION_COLUMNS)
    assert [r["CLIENT ID"] for r in rows] == sorted(ids)
    by_id = {r["CLIENT ID"]: r for r in rows}
    assert by_id[uid + "-a5"] == {
        "CLIENT ID": uid + "-a5", "USER": "-", "STATE": "online", "PROTOCOL": "5.0", "ADDRESS": a["address"],
        "CONNECTED SINCE": a["connected_since"], "KEEPALIVE": "45", "PERSISTENT": "no"}
    assert by_id[uid + "-b311"]["PROTOCOL"] == "3.1.1" and by_id[uid + "-b311"]["STATE"] == "online"
    assert by_id[uid + "-c"] == {
        "CLIENT ID": uid + "-c", "USER": "-", "STATE": "offline", "PROTOCOL": "-", "ADDRESS": "-",
        "CONNECTED SINCE": "-", "KEEPALIVE": "-", "PERSISTENT": "yes"}

    # Filters and paging.
    assert set(admin.sessions("--prefix", uid, "--online")) == {uid + "-a5", uid + "-b311"}
    assert set(admin.sessions("--prefix", uid, "--offline")) == {uid + "-c"}
    page = admin.json("sessions", "list", "--prefix", uid, "--limit", "1", "--offset", "1")
    assert page["total"] == 3 and [s["client_id"] for s in page["sessions"]] == [uid + "-b311"]
    text = admin.ok("sessions", "list", "--prefix", uid, "--limit", "1", "--offset", "1")
    assert "(2-2 of 3 sessions" in text
    assert admin.ok("sessions", "list", "--prefix", uid, "--offset", "5") == \
        "no sessions from --offset 5 on: there are 3 matching\n"
    assert admin.ok("sessions", "list", "--prefix", uid + "-nobody") == "no sessions match\n"


@needs_admin
def test_sessions_show_with_subscriptions(admin, uid):
    client_id = uid + "/odd id+ü"  # percent-encoded in the URL: '/', ' ', '+', UTF-8
    c = admin.broker.connect(client_id, version=5, keepalive=20, clean=False,
                             props={"session_expiry_interval": 600})
    c.subscribe([(uid + "/t/+", m.subscription_options(qos=1, no_local=True, retain_as_published=True,
                                                       retain_handling=2))],
                props={"subscription_identifier": 7})
    c.subscribe(uid + "/plain/#", qos=0)

    s = admin.json("sessions", "show", client_id)
    assert s["client_id"] == client_id and s["online"] and s["protocol"] == 5
    assert s["persistent"] and s["expiry_interval"] == 600 and s["keep_alive"] == 20
    assert isinstance(s["inflight"], int) and isinstance(s["queues"], list)
    subs = {sub["filter"]: sub for sub in s["subscriptions"]}
    assert subs[uid + "/t/+"] == {"filter": uid + "/t/+", "qos": 1, "no_local": True, "retain_as_published": True,
                                  "retain_handling": 2, "subscription_id": 7}
    assert subs[uid + "/plain/#"] == {"filter": uid + "/plain/#", "qos": 0, "no_local": False,
                                      "retain_as_published": False, "retain_handling": 0, "subscription_id": None}

    text = admin.ok("sessions", "show", client_id)
    head, _, table = text.partition("\n\n")
    fields = dict(re.split(r":\s+", line, maxsplit=1) for line in head.split("\n"))
    assert fields["client id"] == client_id and fields["state"] == "online" and fields["protocol"] == "5.0"
    assert fields["keep alive"] == "20 s" and fields["persistent"] == "yes" and fields["expiry interval"] == "600 s"
    assert fields["address"] == s["address"] and fields["connected since"] == s["connected_since"]
    rows = {r["FILTER"]: r for r in parse_table(table, SUBSCRIPTION_COLUMNS)}
    assert rows[uid + "/t/+"] == {"FILTER": uid + "/t/+", "QOS": "1", "NO LOCAL": "yes", "RETAIN AS PUBLISHED": "yes",
                                  "RETAIN HANDLING": "2", "SUBSCRIPTION ID": "7"}
    assert rows[uid + "/plain/#"]["SUBSCRIPTION ID"] == "-" and rows[uid + "/plain/#"]["NO LOCAL"] == "no"

    res = admin.ctl("sessions", "show", uid + "-nobody")
    assert res.returncode == 1 and res.stdout == ""
    assert res.stderr == "tidegatectl: no session '%s-nobody'\n" % uid


@needs_admin
def test_kick_v5_client_gets_disconnect_0x98(admin, uid):
    client_id = uid + "/kick me"
    c = admin.broker.connect(client_id, version=5, clean=False, props={"session_expiry_interval": 600})
    assert admin.ok("sessions", "kick", client_id) == "kicked '%s'\n" % client_id
    got = c.expect_closed(timeout=POLL_TIMEOUT)
    disconnects = [p for p in got if isinstance(p, m.Packet) and p.type == m.DISCONNECT]
    assert [p.reason_code for p in disconnects] == [0x98], got
    # Kick keeps a persistent session, offline.
    admin.wait_sessions(lambda s: client_id in s and not s[client_id]["online"], "--prefix", uid)
    res = admin.ctl("sessions", "kick", client_id)
    assert res.returncode == 1 and res.stderr == \
        "tidegatectl: session '%s' is not connected (a persistent session, offline)\n" % client_id, res.stderr
    # And an id the gateway does not know is not found, not "not connected".
    res = admin.ctl("sessions", "kick", uid + "-nosuch")
    assert res.returncode == 1 and res.stderr == "tidegatectl: no session '%s-nosuch'\n" % uid, res.stderr


@needs_admin
def test_kick_v311_client_closes_the_connection(admin, uid):
    c = admin.broker.connect(uid + "-k4", version=4)
    assert admin.json("sessions", "kick", uid + "-k4") == {"kicked": True}
    got = c.expect_closed(timeout=POLL_TIMEOUT)
    assert got == [], got  # 3.1.1 has no server DISCONNECT
    admin.wait_sessions(lambda s: uid + "-k4" not in s, "--prefix", uid)  # a clean session ends


@needs_admin
def test_delete_offline_session(admin, uid):
    client_id = uid + "-parked"
    c = admin.broker.connect(client_id, version=4, clean=False)
    c.subscribe(uid + "/t", qos=1)
    c.disconnect()
    admin.wait_sessions(lambda s: client_id in s and not s[client_id]["online"], "--prefix", uid)

    assert admin.ok("sessions", "delete", client_id) == "deleted the session of '%s'\n" % client_id
    assert client_id not in admin.sessions("--prefix", uid)
    res = admin.ctl("sessions", "delete", client_id)
    assert res.returncode == 1 and res.stderr == "tidegatectl: no session '%s'\n" % client_id
    c = admin.broker.connect(client_id, version=4, clean=False)
    assert not c.connack.session_present


@needs_admin
def test_delete_online_session_disconnects_it(admin, uid):
    client_id = uid + "-live"
    c = admin.broker.connect(client_id, version=5, clean=False, props={"session_expiry_interval": 600})
    assert admin.json("sessions", "delete", client_id) == {"deleted": True}
    got = c.expect_closed(timeout=POLL_TIMEOUT)
    assert [p.reason_code for p in got if isinstance(p, m.Packet) and p.type == m.DISCONNECT] == [0x98], got
    admin.wait_sessions(lambda s: client_id not in s, "--prefix", uid)
    c = admin.broker.connect(client_id, version=5, clean=False, props={"session_expiry_interval": 600})
    assert not c.connack.session_present


# ---------------------------------------------------------------- retained, stats

@needs_admin
@needs_mosquitto_clients
def test_retained_list_and_delete(admin, uid):
    broker = admin.broker
    topic = uid + "/room 1/température"  # a space and UTF-8 in the URL; '/' as %2F
    other = uid + "/other"
    mosquitto_pub(broker, topic, "21.5", retain=True, qos=1)
    mosquitto_pub(broker, other, "x" * 2000, retain=True, qos=0)

    doc = admin.json("retained", "list", "--prefix", uid)
    assert sorted(doc["retained"], key=lambda r: r["topic"]) == [
        {"topic": other, "qos": 0, "bytes": 2000, "preview": "x" * 64 + "…"},
        {"topic": topic, "qos": 1, "bytes": 4, "preview": "21.5"}]
    assert doc["total"] == 2
    rows = {r["TOPIC"]: r for r in parse_table(admin.ok("retained", "list", "--prefix", uid),
                                               ["TOPIC", "QOS", "BYTES", "PREVIEW"])}
    assert rows[topic] == {"TOPIC": topic, "QOS": "1", "BYTES": "4", "PREVIEW": "21.5"}
    assert rows[other]["BYTES"] == "2000"

    assert admin.ok("retained", "delete", topic) == "deleted the retained message of '%s'\n" % topic
    assert [r["topic"] for r in admin.json("retained", "list", "--prefix", uid)["retained"]] == [other]
    res = admin.ctl("retained", "delete", topic)
    assert res.returncode == 1 and res.stderr.startswith("tidegatectl: ") and topic in res.stderr

    # A new subscriber gets only the message that is still retained; the sentinel
    # (not retained) bounds the wait.
    sub = broker.connect(uid + "-s", version=4)
    sub.subscribe(uid + "/#", qos=1)
    sub.publish(uid + "/sentinel", b"end", qos=1)
    got = [(p.topic, p.retain) for p in sub.publishes_until(b"end")]
    assert got == [(other, True), (uid + "/sentinel", False)]
    assert admin.ok("retained", "list", "--prefix", uid + "/room") == "no retained messages match\n"


@needs_admin
def test_stats(admin, uid):
    c = admin.broker.connect(uid + "-st", version=4)
    c.subscribe(uid + "/s", qos=1)
    c.publish(uid + "/s", b"hello", qos=1)
    c.expect_packet(m.PUBLISH)
    s = admin.json("stats")
    assert isinstance(s["version"], str) and s["uptime_seconds"] >= 0
    assert s["connections"]["open"] >= 1 and s["connections"]["accepted"] >= 1
    assert "refused_limit" in s["connections"]
    assert s["sessions"]["online"] >= 1 and "offline" in s["sessions"]
    assert s["messages"]["received"] >= 1 and s["messages"]["sent"] >= 1
    assert s["bytes"]["received"] > 0 and s["bytes"]["sent"] > 0
    assert {"map_bytes", "message_bytes", "messages"} <= set(s["store"])
    assert {"count", "bytes"} <= set(s["retained"]) and "live" in s["queues"]
    assert isinstance(s["drops"], dict)

    text = admin.ok("stats")
    assert re.search(r"^version:\s+%s$" % re.escape(s["version"]), text, re.M), text
    assert re.search(r"^uptime_seconds:\s+\d+", text, re.M)
    assert re.search(r"^connections:\n  open:\s+\d+", text, re.M)
    assert re.search(r"^messages:\n  received:\s+\d+\n  sent:\s+\d+", text, re.M)


# ---------------------------------------------------------------- subs, topics

@needs_admin
@needs_mosquitto_clients
def test_subs_table_and_json(admin, procs, uid):
    broker = admin.broker
    mosquitto_sub(procs, broker, uid + "-m311", uid + "/m/#")  # QoS 1, 3.1.1
    v5 = broker.connect(uid + "-v5", version=5)
    v5.subscribe([(uid + "/v/+", m.subscription_options(qos=2, retain_as_published=True, retain_handling=1))],
                 props={"subscription_identifier": 42})
    parked = broker.connect(uid + "-zz", version=4, clean=False)
    parked.subscribe(uid + "/z", qos=0)
    parked.disconnect()
    admin.wait_sessions(lambda s: uid + "-zz" in s and not s[uid + "-zz"]["online"], "--prefix", uid)

    doc = admin.json("subs", "--prefix", uid)
    assert doc["total"] == 3
    assert [(s["client_id"], s["filter"], s["online"]) for s in doc["subscriptions"]] == [
        (uid + "-m311", uid + "/m/#", True), (uid + "-v5", uid + "/v/+", True), (uid + "-zz", uid + "/z", False)]

    rows = parse_table(admin.ok("subs", "--prefix", uid), SUBS_COLUMNS)
    assert rows == [
        {"CLIENT ID": uid + "-m311", "STATE": "online", "FILTER": uid + "/m/#", "QOS": "1", "NO LOCAL": "no",
         "RETAIN AS PUBLISHED": "no", "RETAIN HANDLING": "0", "SUBSCRIPTION ID": "-"},
        {"CLIENT ID": uid + "-v5", "STATE": "online", "FILTER": uid + "/v/+", "QOS": "2", "NO LOCAL": "no",
         "RETAIN AS PUBLISHED": "yes", "RETAIN HANDLING": "1", "SUBSCRIPTION ID": "42"},
        {"CLIENT ID": uid + "-zz", "STATE": "offline", "FILTER": uid + "/z", "QOS": "0", "NO LOCAL": "no",
         "RETAIN AS PUBLISHED": "no", "RETAIN HANDLING": "0", "SUBSCRIPTION ID": "-"}]

    # --filter-prefix (a string prefix of the filter), paging, and the empty answers.
    assert [r["CLIENT ID"] for r in parse_table(admin.ok("subs", "--filter-prefix", uid + "/v"), SUBS_COLUMNS)] == \
        [uid + "-v5"]
    table, footer = admin.ok("subs", "--prefix", uid, "--limit", "1", "--offset", "1").rstrip("\n").rsplit("\n", 1)
    assert [r["FILTER"] for r in parse_table(table, SUBS_COLUMNS)] == [uid + "/v/+"]
    assert footer == "(2-2 of 3 subscriptions; --offset and --limit page through them)"
    assert admin.ok("subs", "--prefix", uid, "--offset", "3") == \
        "no subscriptions from --offset 3 on: there are 3 matching\n"
    assert admin.ok("subs", "--prefix", uid + "-nobody") == "no subscriptions match\n"


@needs_admin
@needs_mosquitto_clients
def test_topics_table_and_json(admin, procs, uid):
    broker = admin.broker
    mosquitto_sub(procs, broker, uid + "-a", uid + "/t/#")
    mosquitto_sub(procs, broker, uid + "-b", uid + "/t/#")
    mosquitto_sub(procs, broker, uid + "-c", uid + "/t/x")
    mosquitto_pub(broker, uid + "/t/y", "1", qos=1)  # returns after PUBACK: committed

    doc = admin.json("topics", "--prefix", uid)
    assert doc["total"] == 2
    by_filter = {t["filter"]: t for t in doc["topics"]}
    newest = by_filter[uid + "/t/#"]["last_sequence"]
    assert isinstance(newest, int) and newest > 0
    assert by_filter == {
        uid + "/t/#": {"filter": uid + "/t/#", "shared": False, "subscribers": 2, "last_sequence": newest,
                       "messages": 1, "backlog": 0},
        uid + "/t/x": {"filter": uid + "/t/x", "shared": False, "subscribers": 1, "last_sequence": None,
                       "messages": 0, "backlog": 0}}

    rows = parse_table(admin.ok("topics", "--prefix", uid), TOPICS_COLUMNS)
    assert rows == [{"FILTER": uid + "/t/#", "SUBSCRIBERS": "2", "LAST SEQUENCE": str(newest), "MESSAGES": "1",
                     "BACKLOG": "0"},
                    {"FILTER": uid + "/t/x", "SUBSCRIBERS": "1", "LAST SEQUENCE": "-", "MESSAGES": "0", "BACKLOG": "0"}]
    table, footer = admin.ok("topics", "--prefix", uid, "--limit", "1").rstrip("\n").rsplit("\n", 1)
    assert parse_table(table, TOPICS_COLUMNS) == rows[:1]
    assert footer == "(1-1 of 2 topics; --offset and --limit page through them)"
    assert admin.ok("topics", "--prefix", uid + "/nothing") == "no topics match\n"


# ---------------------------------------------------------------- tokens

@needs_admin
def test_the_read_only_token_lists_but_cannot_kick(make_broker, tmp_path, uid):
    port = free_port()
    (tmp_path / "full.token").write_text(TOKEN + "\n")
    (tmp_path / "read.token").write_text("read-only-token\n")
    broker = make_broker(admin={"bind": HOST, "port": port, "token_file": str(tmp_path / "full.token"),
                                "read_token_file": str(tmp_path / "read.token")})
    admin = Admin(broker, port, tmp_path / "read.token")
    client = broker.connect(uid, 5)
    assert uid in admin.sessions("--prefix", uid)
    res = admin.ctl("sessions", "kick", uid)
    assert res.returncode == 1 and res.stdout == ""
    assert res.stderr == "tidegatectl: the read-only token (admin.read_token_file) allows GET only\n"
    assert client.is_open(timeout=2)
    assert admin.ctl("sessions", "kick", uid, token_file=tmp_path / "full.token").returncode == 0
    client.expect_closed()


@needs_admin
def test_wrong_or_missing_token_is_refused(admin, tmp_path):
    wrong = tmp_path / "wrong.token"
    wrong.write_text("not-the-token\n")
    res = admin.ctl("stats", token_file=wrong)
    assert res.returncode == 1 and res.stdout == ""
    assert res.stderr == "tidegatectl: the admin API refused the token (401)\n"
    res = run_ctl("--admin", "%s:%d" % (HOST, admin.port), "sessions", "list")
    assert res.returncode == 1 and "(401)" in res.stderr and "--token-file" in res.stderr
    # The right token, given after the command, works.
    assert run_ctl("stats", "--json", "--admin", "%s:%d" % (HOST, admin.port),
                   "--token-file", admin.token_file).returncode == 0
