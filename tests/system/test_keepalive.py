"""Keep alive, timed: a silent client is closed one and a half keep alives after
its last packet -- not much earlier, not much later -- with DISCONNECT 0x8D
first on MQTT 5 (MQTT-3.1.2-22); and `max_keepalive` (README, "max_keepalive":
the largest keep alive granted to MQTT 5 clients, announced as Server Keep
Alive) lowers an MQTT 5 client's keep alive, also a keep alive of 0, while a
3.1.1 client (which cannot be told) keeps its own."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import mqttraw as m

pytestmark = pytest.mark.tidegate_only(reason="timing margins and max_keepalive as tidegate documents them")

# Closed within [1.5 x keep alive - EARLY, 1.5 x keep alive + LATE] of the last packet.
EARLY = 0.1   # the client's clock starts a little after the gateway's
LATE = 0.6


def last_packet(client):
    """Send a PINGREQ and return the monotonic time just before it left: the gateway
    received its last packet from this client no earlier than that."""
    at = time.monotonic()
    client.ping(timeout=2.0)
    return at


def closed_after(client, since, timeout):
    got = client.expect_closed(timeout=timeout)
    return time.monotonic() - since, got


def check_closed_in_time(client, since, keep_alive, version):
    due = 1.5 * keep_alive
    elapsed, got = closed_after(client, since, due + LATE + 1.0)
    assert due - EARLY <= elapsed <= due + LATE, \
        "keep alive %ds: closed %.2fs after the last packet, expected %.1fs" % (keep_alive, elapsed, due)
    if version == 5:
        assert [(p.type, p.reason_code) for p in got] == [(m.DISCONNECT, m.RC_KEEP_ALIVE_TIMEOUT)], got
    else:
        assert got == [], "3.1.1 has no server DISCONNECT: %r" % got


def test_silent_client_closed_at_one_and_a_half_keep_alive(broker, version, uid):
    c = broker.connect(uid, version, keepalive=2)
    since = last_packet(c)
    check_closed_in_time(c, since, 2, version)


@pytest.mark.broker_config(max_keepalive=2)
def test_max_keepalive_enforced_at_the_lowered_value(broker, uid):
    asks_60 = broker.connect(uid + "-60", 5, keepalive=60)
    asks_0 = broker.connect(uid + "-0", 5, keepalive=0)      # "no keep alive": lowered too
    v311 = broker.connect(uid + "-311", 4, keepalive=60)   # 3.1.1 cannot be told: keeps 60
    for c in (asks_60, asks_0):
        assert c.connack.props.get("server_keep_alive") == 2, c.connack
    since_311 = last_packet(v311)
    since_60 = last_packet(asks_60)
    since_0 = last_packet(asks_0)
    # Both watched at once, each on a thread of its own, so each close is timed when it happens.
    with ThreadPoolExecutor(2) as pool:
        watches = [pool.submit(check_closed_in_time, c, since, 2, 5)
                   for c, since in ((asks_60, since_60), (asks_0, since_0))]
        for w in watches:
            w.result()
    # The 3.1.1 client, silent as long and then some more, is still connected:
    # nothing arrives on its socket, not even the close.
    quiet_until = since_311 + 1.5 * 2 + LATE + 0.5
    with pytest.raises(m.NoPacket):
        v311.read_packet(timeout=quiet_until - time.monotonic())
    assert v311.is_open()
