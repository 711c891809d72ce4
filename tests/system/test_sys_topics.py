"""$SYS/broker/... topics (docs/operations.md): retained, published at sys_interval,
matched only by filters that start with $SYS (MQTT-4.7.2-1)."""

import pytest

import mqttraw as m

pytestmark = pytest.mark.tidegate_only(reason="tidegate sys_interval key and topic set")


@pytest.mark.broker_config(sys_interval=1)
def test_sys_topics_published_and_updated(broker, uid):
    c = broker.connect(uid, 5)
    c.subscribe("$SYS/broker/#", qos=0)
    seen = {}
    required = ["$SYS/broker/" + t for t in
                ("version", "uptime", "clients/connected", "messages/sent", "load/messages/received/1min")]
    while not all(t in seen for t in required):
        p = c.expect_packet(m.PUBLISH, timeout=3)
        seen[p.topic] = p.payload
    assert seen["$SYS/broker/version"].startswith(b"tidegate ")
    first_uptime = seen["$SYS/broker/uptime"]
    while True:
        p = c.expect_packet(m.PUBLISH, timeout=3)
        if p.topic == "$SYS/broker/uptime" and p.payload != first_uptime:
            break
    assert int(p.payload.split()[0]) >= 1


@pytest.mark.broker_config(sys_interval=1)
def test_wildcard_subscribers_do_not_get_sys(broker, uid):
    c = broker.connect(uid, 5)
    c.subscribe("#", qos=0)
    broker.connect(uid + "-p", 5).publish("plain/" + uid, b"end", qos=1)
    got = [p.topic for p in c.publishes_until(b"end")]
    assert not [t for t in got if t.startswith("$SYS")]


def test_clients_cannot_write_sys(broker, uid):
    c = broker.connect(uid, 5)
    assert c.publish("$SYS/broker/version", b"forged", qos=1).reason_code == 0x87
