"""The store's files: one gateway per data_dir, a damaged store refused (never a
crash), and the salvage tool (docs/durability.md, "The store on disk")."""

import os
import shutil
import time

import pytest

import mqttraw as m
from conftest import HOST, TARGET
from gateway_process import GatewayProcess, run_tool

pytestmark = pytest.mark.skipif(TARGET != "tidegate", reason="tidegate's own store files")

PAGE = 4096


def persistent_client(port, client_id, **kw):
    return m.connect(HOST, port, client_id, 4, clean=False, timeout=3.0, **kw)


def drain(client, until, timeout=30.0, quiet=5.0, limit=2000):
    """PUBLISH payloads in order, until every one of `until` arrived (then at
    once), or none arrived for `quiet` seconds, or `timeout` passed (bounded by
    `limit` packets). Messages come in order, so what precedes the last of
    `until` has arrived by then too."""
    got = []
    deadline = time.monotonic() + timeout
    for _ in range(limit):
        if set(until) <= set(got) or time.monotonic() >= deadline:
            break
        try:
            p = client.read_packet(timeout=min(quiet, max(0.01, deadline - time.monotonic())))
        except m.NoPacket:
            break
        if p.type == m.PUBLISH:
            got.append(p.payload)
    return got


# ---------------------------------------------------------------- one gateway per data_dir

def test_second_gateway_on_the_same_data_dir_is_refused(broker, tmp_path, uid):
    second = GatewayProcess(tmp_path / "second", broker.data_dir)
    try:
        outcome = second.start()
        assert outcome == "exited", ("a second gateway serves the data_dir the first one uses:\n"
                                     + second.log())
        assert second.returncode == 1, second.log()
        assert str(broker.data_dir) in second.log(), second.log()
        assert "PID %d" % broker.pid in second.log(), second.log()
    finally:
        second.kill()
    c = broker.connect(uid + "-a")  # the first one still serves
    assert c.is_open()
    # The salvage tool takes the same lock: it does not copy a store in use.
    result = run_tool(["--salvage-store", broker.data_dir, tmp_path / "copy"])
    assert result.returncode == 1 and "PID %d" % broker.pid in result.stderr, result.stderr
    # A gateway killed with SIGKILL does not block its own restart: the kernel
    # released its lock.
    broker.restart(kill=True)
    assert broker.connect(uid + "-b").is_open()
    # ... and the restarted one holds the lock again.
    third = GatewayProcess(tmp_path / "third", broker.data_dir)
    try:
        assert third.start() == "exited", third.log()
        assert "PID %d" % broker.pid in third.log(), third.log()
    finally:
        third.kill()


# ---------------------------------------------------------------- a damaged store

def populate(broker, uid):
    """A store with a persistent session, its subscription and offset, queued
    messages (some larger than a page: overflow pages), inflight records and
    retained messages. Returns the payloads queued for `uid-keeper`."""  # noqa: D401
    keeper = broker.connect(uid + "-keeper", clean=False)
    keeper.subscribe("dmg/#", qos=1)
    keeper.disconnect()
    holder = broker.connect(uid + "-holder", clean=False, auto_ack=False)
    holder.subscribe("dmg/held", qos=1)
    pub = broker.connect(uid + "-pub")
    queued = []
    for i in range(150):
        payload = (b"dmg-%03d-" % i) + (b"x" * (6000 if i % 10 == 0 else 100))
        pub.publish("dmg/%d" % i, payload, qos=1)
        queued.append(payload)
    for i in range(3):
        pub.publish("dmg/held", b"held-%d" % i, qos=1)
        queued.append(b"held-%d" % i)
    for i in range(3):
        pub.publish("dmg-retained/%d" % i, b"retained-%d" % i, qos=1, retain=True)
    for _ in range(3):  # received, never acknowledged: inflight records
        assert holder.expect_packet(m.PUBLISH).payload.startswith(b"held-")
    holder.close()
    pub.disconnect()
    assert broker.stop() == 0
    return queued


def truncate_to(fraction):
    def damage(path):
        os.truncate(path, int(os.path.getsize(path) * fraction) // PAGE * PAGE)
    return damage


def truncate_by_one_page(path):
    os.truncate(path, os.path.getsize(path) - PAGE)


def zero_page(index):
    def damage(path):
        with open(path, "r+b") as f:
            f.seek(index * PAGE)
            f.write(b"\0" * PAGE)
    return damage


def start_on_damaged(workdir, data_dir, uid, queued):
    """Start a gateway on a damaged store: it must refuse cleanly (exit code 1,
    naming the file) or start and serve all of it; never die of a signal, never hang.
    Returns "refused" or "served", or a description of what went wrong."""
    gw = GatewayProcess(workdir, data_dir)
    try:
        outcome = gw.start()
        if outcome == "exited":
            if gw.returncode != 1:
                return "exit status %s:\n%s" % (gw.returncode, gw.log()[-2000:])
            if str(data_dir / "data.mdb") not in gw.log():
                return "refused without naming the file:\n%s" % gw.log()[-2000:]
            return "refused"
        # A store the gateway serves must be whole: the persistent session
        # gets every message queued for it.
        try:
            c = persistent_client(gw.port, uid + "-keeper")
            got = set(drain(c, until=queued, timeout=15.0, quiet=2.0))
            c.close()
        except (m.NoPacket, m.ConnectionClosed, OSError, AssertionError) as exc:
            got = "no session: %r" % exc
        status = gw.stop()
        if status is None or status < 0:
            return "died of signal %s while serving:\n%s" % (-status, gw.log()[-2000:])
        if got != set(queued):
            lost = got if isinstance(got, str) else "%d of %d queued messages (%r)" % (
                len(set(queued) - got), len(queued), sorted(p[:8] for p in set(queued) - got)[:3])
            return "served a damaged store, lost %s:\n%s" % (lost, gw.log()[-1000:])
        return "served"
    finally:
        gw.kill()


def test_damaged_store_is_refused_or_served_never_a_crash(broker, tmp_path, uid):
    queued = populate(broker, uid)
    pristine = broker.data_dir
    pages = os.path.getsize(pristine / "data.mdb") // PAGE
    assert pages < 200, "the store grew past what this test walks page by page (%d pages)" % pages
    damages = [("truncated to a third", truncate_to(1 / 3)), ("truncated to two thirds", truncate_to(2 / 3)),
               ("the last page cut off", truncate_by_one_page)]
    damages += [("page %d of %d zeroed" % (i, pages), zero_page(i)) for i in range(pages)]
    outcomes, failures = {}, []
    for name, damage in damages:
        case = tmp_path / "case"
        shutil.rmtree(case, ignore_errors=True)
        shutil.copytree(pristine, case / "data")
        damage(case / "data" / "data.mdb")
        outcome = start_on_damaged(case, case / "data", uid, queued)
        outcomes[name] = outcome
        if outcome not in ("refused", "served"):
            failures.append("%s: %s" % (name, outcome))
    print("damaged stores: %d refused, %d served" % (
        sum(o == "refused" for o in outcomes.values()), sum(o == "served" for o in outcomes.values())))
    assert not failures, "%d of %d damaged stores crashed or misbehaved:\n%s" % (
        len(failures), len(damages), "\n".join(failures[:5]))
    for name in ("truncated to a third", "truncated to two thirds", "the last page cut off"):
        assert outcomes[name] == "refused", name


# ---------------------------------------------------------------- salvage

def test_salvage_copies_what_is_readable_of_a_damaged_store(broker, tmp_path, uid):
    keeper = broker.connect(uid + "-keeper", clean=False)
    keeper.subscribe("salv/#", qos=1)
    pub = broker.connect(uid + "-pub")
    early = [b"early-%03d" % i for i in range(20)]
    for payload in early:
        pub.publish("salv/early", payload, qos=1)
    assert drain(keeper, until=early) == early  # read and acknowledged: its offset is past them
    keeper.disconnect()
    # Each payload carries a marker that finds its page in data.mdb (~12 per page).
    late = [b"late-%04d-" % i + b"y" * 280 for i in range(300)]
    for payload in late:
        pub.publish("salv/late", payload, qos=1)
    for i in range(3):
        pub.publish("salv-retained/%d" % i, b"kept-%d" % i, qos=1, retain=True)
    pub.disconnect()
    assert broker.stop() == 0

    data = (broker.data_dir / "data.mdb").read_bytes()
    # Zero every page holding a copy of message 150 (the live leaf, and stale
    # copies left in free pages): a messages leaf in the middle is gone.
    marker = b"late-0150-"
    damaged_pages = sorted({pos // PAGE for pos in _find_all(data, marker)})
    assert damaged_pages, "marker not found in data.mdb"
    damaged = bytearray(data)
    for page in damaged_pages:
        damaged[page * PAGE:(page + 1) * PAGE] = b"\0" * PAGE
    # The messages that may be lost: those with a copy in a zeroed page.
    lost_at_most = {p for p in late
                    if any(p[:10] in data[page * PAGE:(page + 1) * PAGE] for page in damaged_pages)}
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "data.mdb").write_bytes(bytes(damaged))

    gw = GatewayProcess(tmp_path / "gw-broken", broken)
    try:
        assert gw.start() == "exited", "the gateway served a store with a zeroed messages page"
        assert gw.returncode == 1 and str(broken / "data.mdb") in gw.log(), gw.log()
    finally:
        gw.kill()

    salvaged = tmp_path / "salvaged"
    result = run_tool(["--salvage-store", broken, salvaged])
    assert result.returncode == 3, "exit %d\n%s%s" % (result.returncode, result.stdout, result.stderr)
    report = {line.split(":")[0]: line for line in result.stdout.splitlines() if ":" in line}
    assert "unreadable" in report["messages"], result.stdout
    assert "meta page" not in result.stdout, "both meta pages were intact"
    for table in ("sessions", "offsets", "retained"):
        assert "unreadable" not in report[table], result.stdout

    gw = GatewayProcess(tmp_path / "gw-salvaged", salvaged)
    try:
        assert gw.start() == "listening", gw.log()
        keeper = persistent_client(gw.port, uid + "-keeper")
        assert keeper.connack.session_present, "the salvaged store lost the persistent session"
        got = drain(keeper, until=set(late) - lost_at_most)
        assert not set(got) & set(early), "messages acknowledged before the damage came again"
        assert set(got) <= set(late)
        missing = set(late) - set(got)
        assert missing, "nothing was lost, so the damage did not hit the messages"
        assert missing <= lost_at_most, "lost messages outside the damaged page: %r" % sorted(missing)[:5]
        reader = m.connect(HOST, gw.port, uid + "-reader", 4, timeout=3.0)
        reader.subscribe("salv-retained/#", qos=1)
        assert sorted(drain(reader, until=[b"kept-0", b"kept-1", b"kept-2"])) == [b"kept-0", b"kept-1", b"kept-2"]
        assert gw.stop() == 0
    finally:
        gw.kill()


def _find_all(data, needle):
    pos = data.find(needle)
    while pos >= 0:
        yield pos
        pos = data.find(needle, pos + 1)


def test_salvage_reads_through_a_damaged_meta_page(broker, tmp_path, uid):
    keeper = broker.connect(uid + "-keeper", clean=False)
    keeper.subscribe("meta/#", qos=1)
    keeper.disconnect()
    pub = broker.connect(uid + "-pub")
    queued = [b"queued-%03d" % i for i in range(50)]
    for payload in queued:
        pub.publish("meta/q", payload, qos=1)
    pub.disconnect()
    assert broker.stop() == 0
    broken = tmp_path / "broken"
    shutil.copytree(broker.data_dir, broken)
    zero_page(0)(broken / "data.mdb")  # LMDB refuses a file with either meta page invalid

    gw = GatewayProcess(tmp_path / "gw-broken", broken)
    try:
        assert gw.start() == "exited" and gw.returncode == 1, gw.log()
        assert str(broken / "data.mdb") in gw.log(), gw.log()
    finally:
        gw.kill()
    salvaged = tmp_path / "salvaged"
    result = run_tool(["--salvage-store", broken, salvaged])
    # Meta page 1 is the snapshot before the last commit (or the last one):
    # the salvage cannot know which, so it says the last commit may be lost.
    assert result.returncode == 3, "exit %d\n%s%s" % (result.returncode, result.stdout, result.stderr)
    assert "meta page 0 was damaged" in result.stdout, result.stdout
    assert not (salvaged / "salvage-source").exists(), "the repaired copy was left behind"
    gw = GatewayProcess(tmp_path / "gw-salvaged", salvaged)
    try:
        assert gw.start() == "listening", gw.log()
        keeper = persistent_client(gw.port, uid + "-keeper")
        assert keeper.connack.session_present
        got = drain(keeper, until=queued[:-1])
        assert got == queued[:len(got)] and len(got) >= len(queued) - 1, got
        assert gw.stop() == 0
    finally:
        gw.kill()
