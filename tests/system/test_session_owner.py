"""Sessions belong to the identity that created them (docs/security.md): a
CONNECT that reuses a client id under another identity never takes, reads or
ends that session; it is refused (v5 0x87, 3.1.1 return code 5), logged and
counted, and the owner's session and messages are untouched."""

import pytest

import mqttraw as m
from checks import metric, password_file
from conftest import HOST, free_port

pytestmark = pytest.mark.tidegate_only(reason="tidegate config keys (password_file, acl_file, admin)")

ACL = """\
user alice
topic readwrite alice/#

user bob
topic readwrite bob/#
"""

REFUSED = {4: 5, 5: 0x87}

CREDENTIALS = {"alice": b"wonderland", "bob": b"builder"}


@pytest.fixture
def users(tmp_path):
    acl = tmp_path / "acl"
    acl.write_text(ACL)
    passwd = password_file(tmp_path / "passwd", {u: p.decode() for u, p in CREDENTIALS.items()})
    return {"password_file": passwd, "acl_file": str(acl)}


def persistent(version):
    return {"clean": False, "props": {"session_expiry_interval": 600}} if version == 5 else {"clean": False}


def login(broker, client_id, version, user, expect_success=True, **kw):
    c = broker.client(version)
    ack = c.connect(client_id, username=user, password=CREDENTIALS[user], expect_success=expect_success, **kw)
    return c, ack


@pytest.mark.parametrize("clean_start", [False, True], ids=["resume", "clean"])
def test_another_identity_cannot_take_an_offline_session(make_broker, users, version, uid, clean_start):
    admin_port = free_port()
    broker = make_broker(allow_anonymous=False, admin={"bind": HOST, "port": admin_port}, **users)
    victim = uid + "-dev"
    bob, _ = login(broker, victim, version, "bob", **persistent(version))
    bob.subscribe("bob/q/#", qos=1)
    bob.disconnect()
    publisher, _ = login(broker, uid + "-pub", version, "bob")
    for i in range(3):
        publisher.publish("bob/q/%d" % i, b"m%d" % i, qos=1)  # acknowledged (PUBACK read)

    opts = persistent(version) if not clean_start else {"clean": True}
    alice, ack = login(broker, victim, version, "alice", expect_success=False, **opts)
    assert ack.reason_code == REFUSED[version], ack
    assert not ack.session_present
    alice.expect_closed()
    assert metric(admin_port, "tidegate_connections_refused_session_owner_total") == 1
    assert "belongs to another identity" in broker.log_tail(50)

    bob, ack = login(broker, victim, version, "bob", **persistent(version))
    assert ack.session_present, "the owner's session was ended by another identity"
    got = sorted(bob.expect_packet(m.PUBLISH, timeout=5).payload for _ in range(3))
    assert got == [b"m0", b"m1", b"m2"]


def test_another_identity_cannot_take_over_an_online_session(make_broker, users, uid):
    broker = make_broker(allow_anonymous=False, **users)
    bob, _ = login(broker, uid, 5, "bob", **persistent(5))
    bob.subscribe("bob/live", qos=1)
    alice, ack = login(broker, uid, 5, "alice", expect_success=False)
    assert ack.reason_code == 0x87
    alice.expect_closed()
    # bob was not taken over: still connected and still receiving.
    publisher, _ = login(broker, uid + "-pub", 5, "bob")
    publisher.publish("bob/live", b"still here", qos=1)
    assert bob.expect_packet(m.PUBLISH, timeout=5).payload == b"still here"


def test_anonymous_is_an_identity_of_its_own(make_broker, users, uid):
    broker = make_broker(allow_anonymous=True, **users)
    anon = broker.connect(uid, 4, clean=False)
    anon.disconnect()
    bob, ack = login(broker, uid, 4, "bob", expect_success=False, clean=False)
    assert ack.reason_code == 5
    bob.expect_closed()
    again = broker.connect(uid, 4, clean=False)
    assert again.connack.session_present


def test_the_owner_survives_a_restart(make_broker, users, uid):
    broker = make_broker(allow_anonymous=False, **users)
    bob, _ = login(broker, uid, 5, "bob", **persistent(5))
    bob.subscribe("bob/r", qos=1)
    bob.disconnect()
    broker.restart()
    alice, ack = login(broker, uid, 5, "alice", expect_success=False, **persistent(5))
    assert ack.reason_code == 0x87
    bob, ack = login(broker, uid, 5, "bob", **persistent(5))
    assert ack.session_present


def test_switch_restores_the_old_behaviour(make_broker, users, uid):
    broker = make_broker(allow_anonymous=False, bind_sessions_to_identity=False, **users)
    bob, _ = login(broker, uid, 4, "bob", clean=False)
    bob.subscribe("bob/q/#", qos=1)
    bob.disconnect()
    alice, ack = login(broker, uid, 4, "alice", clean=False)
    assert ack.reason_code == 0 and ack.session_present
