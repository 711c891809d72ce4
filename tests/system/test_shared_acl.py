"""A message the ACL hides is never silently consumed (docs/security.md): a
shared subscription's round robin offers each message only to members allowed
to read its topic, and what no member may read is counted as
dropped_total{reason="acl"}."""

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

user carol
topic readwrite carol/#
"""

CREDENTIALS = {"alice": b"wonderland", "bob": b"builder", "carol": b"singer"}


@pytest.fixture
def secured(make_broker, tmp_path):
    passwd = password_file(tmp_path / "passwd", {u: p.decode() for u, p in CREDENTIALS.items()})
    acl = tmp_path / "acl"
    acl.write_text(ACL)
    admin_port = free_port()
    broker = make_broker(allow_anonymous=False, password_file=passwd, acl_file=str(acl),
                         admin={"bind": HOST, "port": admin_port})

    def login(client_id, user, version):
        c = broker.client(version)
        c.connect(client_id, username=user, password=CREDENTIALS[user])
        return c

    def dropped_acl():
        return int(metric(admin_port, 'tidegate_dropped_total{reason="acl"}'))

    return broker, login, dropped_acl


def test_shared_round_robin_skips_members_that_may_not_read(secured, version, uid):
    broker, login, dropped_acl = secured
    alice = login(uid + "-a", "alice", version)
    bob = login(uid + "-b", "bob", version)
    for member in (alice, bob):
        member.subscribe("$share/grp/#", qos=1)
    publisher = login(uid + "-p", "bob", version)
    for i in range(20):
        publisher.publish("bob/shared", b"%02d" % i, qos=1)  # each acknowledged
    got = [bob.expect_packet(m.PUBLISH, timeout=5).payload for _ in range(20)]
    assert got == [b"%02d" % i for i in range(20)], "a message alice may not read went to alice"
    assert alice.is_open(2)
    assert [p for p in alice.backlog if p.type == m.PUBLISH] == []
    assert dropped_acl() == 0


def test_a_message_no_member_may_read_is_counted(secured, uid):
    broker, login, dropped_acl = secured
    alice = login(uid + "-a", "alice", 5)
    bob = login(uid + "-b", "bob", 5)
    for member in (alice, bob):
        member.subscribe("$share/grp/#", qos=1)
    carol = login(uid + "-c", "carol", 5)
    for i in range(5):
        carol.publish("carol/x", b"c%d" % i, qos=1)
    # What carol published before now has been through the round robin.
    end = login(uid + "-e", "bob", 5)
    end.publish("bob/end", b"end", qos=1)
    assert bob.expect_packet(m.PUBLISH, timeout=5).payload == b"end"
    assert dropped_acl() == 5
    assert [p for p in alice.backlog + bob.backlog if p.type == m.PUBLISH] == []
