"""Read access on delivery: a subscriber whose wildcard filter ('#', 'a/+/c') is
allowed still never receives a message on a topic it may not read -- live
messages, retained messages sent on SUBSCRIBE, and messages queued for a
persistent session while it was offline. Each of the authorities that can refuse
reading is tried: the ACL file (mosquitto's format), the config's `acl_deny`, and
a plugin (docs/security.md, docs/plugins.md)."""

import pathlib

import pytest

import mqttraw as m
from conftest import TIDEGATE_BIN

pytestmark = pytest.mark.tidegate_only(reason="tidegate config keys (acl_file, acl_deny, plugins)")

TEST_PLUGIN = pathlib.Path(TIDEGATE_BIN).resolve().parents[1] / "lib" / "tidegate_test_plugin.so"

# What the reader ("user reader") may not read, and what it may.
FORBIDDEN = ["hidden/x", "hidden/y/z", "a/no/c"]
ALLOWED = ["open/x", "open/y/z", "a/ok/c"]
# The last publish: once the reader has it, its queue has passed everything before.
SENTINEL_HASH = "open/end"   # matches '#' only
SENTINEL_ABC = "a/ok2/c"     # matches 'a/+/c' (and '#'), readable

ACL_FILE = """\
# anonymous clients (the publisher): write anything
topic write #

user reader
topic read open/#
topic read a/ok/#
topic read a/ok2/#
"""


def authority_config(name, tmp_path):
    if name == "acl_file":
        path = tmp_path / "acl"
        path.write_text(ACL_FILE)
        return {"acl_file": str(path)}
    if name == "acl_deny":
        # "subscribe" rules refuse reading only: the publisher may still publish there.
        return {"acl_deny": [{"filter": "hidden/#", "access": "subscribe"},
                             {"filter": "a/no/#", "access": "subscribe"}]}
    assert name == "plugin"
    return {"plugins": [{"path": str(TEST_PLUGIN), "options": {"deny_read": "hidden/,a/no/"}}]}


@pytest.fixture(params=["acl_file", "acl_deny", "plugin"])
def guarded(request, make_broker, tmp_path):
    """A broker where the user 'reader' may not read FORBIDDEN; anonymous clients may publish anywhere."""
    return make_broker(**authority_config(request.param, tmp_path))


def received_until(client, sentinel_topic, timeout=5.0):
    """Topics of the PUBLISH packets up to (and without) the one on sentinel_topic."""
    got = client.publishes_until(sentinel_topic.encode(), timeout=timeout)
    return [p.topic for p in got[:-1]]


def publish_all(publisher, topics, retain=False):
    for topic in topics:
        ack = publisher.publish(topic, topic.encode(), qos=1, retain=retain)
        assert ack.reason_code < 0x80, (topic, ack)  # publishing there is allowed


def publish_sentinels(publisher):
    # Payload = topic, so publishes_until can wait on it.
    publish_all(publisher, [SENTINEL_ABC, SENTINEL_HASH])


def check_reader(reader_hash, reader_abc):
    got_hash = received_until(reader_hash, SENTINEL_HASH)
    assert not set(got_hash) & set(FORBIDDEN), got_hash
    assert set(ALLOWED) <= set(got_hash), got_hash
    got_abc = received_until(reader_abc, SENTINEL_ABC)
    assert "a/no/c" not in got_abc, got_abc
    assert "a/ok/c" in got_abc, got_abc


def interleaved():
    return [t for pair in zip(FORBIDDEN, ALLOWED) for t in pair]


def test_wildcard_subscriber_gets_no_live_message_it_may_not_read(guarded, version, uid):
    reader_hash = guarded.connect(uid + "-r1", version, username="reader")
    reader_abc = guarded.connect(uid + "-r2", version, username="reader")
    assert reader_hash.subscribe("#", qos=1).reason_codes == [1]
    assert reader_abc.subscribe("a/+/c", qos=1).reason_codes == [1]
    publisher = guarded.connect(uid + "-pub", version)
    publish_all(publisher, interleaved())
    publish_sentinels(publisher)
    check_reader(reader_hash, reader_abc)


def test_wildcard_subscriber_gets_no_retained_message_it_may_not_read(guarded, version, uid):
    publisher = guarded.connect(uid + "-pub", version)
    publish_all(publisher, interleaved(), retain=True)
    reader_hash = guarded.connect(uid + "-r1", version, username="reader")
    reader_abc = guarded.connect(uid + "-r2", version, username="reader")
    assert reader_hash.subscribe("#", qos=1).reason_codes == [1]
    assert reader_abc.subscribe("a/+/c", qos=1).reason_codes == [1]
    # Retained messages go out on SUBSCRIBE, before what is published after it.
    publish_sentinels(publisher)
    check_reader(reader_hash, reader_abc)


def test_offline_persistent_session_gets_only_what_it_may_read(guarded, version, uid):
    def persistent(client_id):
        props = {"session_expiry_interval": 600} if version == 5 else None
        return guarded.connect(client_id, version, username="reader", clean=False, props=props)

    for client_id, filter_ in ((uid + "-r1", "#"), (uid + "-r2", "a/+/c")):
        r = persistent(client_id)
        assert r.subscribe(filter_, qos=1).reason_codes == [1]
        r.disconnect()
    publisher = guarded.connect(uid + "-pub", version)
    publish_all(publisher, interleaved())
    publish_sentinels(publisher)
    reader_hash = persistent(uid + "-r1")
    reader_abc = persistent(uid + "-r2")
    assert reader_hash.connack.session_present and reader_abc.connack.session_present
    check_reader(reader_hash, reader_abc)
