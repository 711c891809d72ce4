"""Password and ACL files in mosquitto's formats (docs/security.md): the file a
user made with mosquitto_passwd works unchanged, and ACL rules are applied on
publish, subscribe and delivery with each protocol version's answer."""


import pytest

import mqttraw as m
from checks import password_file

pytestmark = pytest.mark.tidegate_only(reason="tidegate config keys (password_file, acl_file as JSON)")

ACL = """\
# anonymous clients: nothing

user alice
topic readwrite alice/#
topic read shared/#

user bob
topic readwrite shared/#

pattern readwrite devices/%c/#
"""


@pytest.fixture
def auth_files(tmp_path):
    passwd = password_file(tmp_path / "passwd", {"alice": "wonderland", "bob": "builder"})
    acl = tmp_path / "acl"
    acl.write_text(ACL)
    return passwd, str(acl)


def test_password_file_from_mosquitto_passwd(make_broker, auth_files, version, uid):
    passwd, _ = auth_files
    broker = make_broker(password_file=passwd, allow_anonymous=False)
    ok = broker.client(version)
    assert ok.connect(uid + "-a", username="alice", password=b"wonderland").reason_code == 0
    refused = 0x86 if version == 5 else 4
    for user, password in (("alice", b"wrong"), ("nobody", b"wonderland"), ("alice", None)):
        c = broker.client(version)
        ack = c.connect(uid + "-x", username=user, password=password, expect_success=False)
        assert ack.reason_code == refused, (user, password, ack)
        c.expect_closed()
    anon = broker.client(version)
    assert anon.connect(uid + "-n", expect_success=False).reason_code == (0x87 if version == 5 else 5)


def test_password_file_keeps_loopback_anonymous_default(make_broker, auth_files, uid):
    passwd, _ = auth_files
    broker = make_broker(password_file=passwd)  # allow_anonymous unset: loopback only
    assert broker.connect(uid, 5).connack.reason_code == 0


def test_acl_file_on_publish_subscribe_and_delivery(make_broker, auth_files, version, uid):
    passwd, acl = auth_files
    broker = make_broker(password_file=passwd, acl_file=acl, allow_anonymous=False)
    alice = broker.connect(uid + "-alice", version, username="alice", password=b"wonderland")
    bob = broker.connect(uid + "-bob", version, username="bob", password=b"builder")

    # SUBSCRIBE to a filter alice can read nothing under: refused in SUBACK.
    ack = alice.subscribe([("bob/#", 0), ("#", 1)])
    assert ack.reason_codes == [0x87 if version == 5 else 0x80, 1]

    # Publish: alice may write alice/#, not shared/#.
    if version == 5:
        assert alice.publish("shared/x", b"denied", qos=1).reason_code == 0x87
    else:
        alice.publish("shared/x", b"denied", qos=1)  # 3.1.1: acknowledged and dropped
    assert alice.publish("alice/x", b"own", qos=1).reason_code < 0x80

    # Delivery on '#': alice reads alice/# and shared/#, nothing else.
    bob.publish("shared/news", b"readable", qos=1)
    got = [p.payload for p in alice.publishes_until(b"readable")]
    assert b"denied" not in got
    assert got[-1] == b"readable"


def test_acl_pattern_substitutes_client_id(make_broker, auth_files, uid):
    passwd, acl = auth_files
    broker = make_broker(password_file=passwd, acl_file=acl, allow_anonymous=False)
    dev = broker.connect("dev1", 5, username="bob", password=b"builder")
    assert dev.publish("devices/dev1/temp", b"21", qos=1).reason_code < 0x80  # 0x10: nobody subscribed
    assert dev.publish("devices/dev2/temp", b"21", qos=1).reason_code == 0x87


def test_bad_acl_file_is_refused_before_listening(make_broker, tmp_path, auth_files):
    from conftest import Broker, TARGET
    bad = tmp_path / "bad.acl"
    bad.write_text("user alice\ntopic sometimes alice/#\nnonsense line\n")
    b = Broker(TARGET, {"acl_file": str(bad)}, tmp_path / "badbroker")
    with pytest.raises(RuntimeError):
        b.start()
    b.proc.wait(5)
    assert b.proc.returncode == 2
    log = b.log_tail()
    assert "acl_file:" in log and str(bad) in log
