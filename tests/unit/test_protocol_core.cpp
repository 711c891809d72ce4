// The protocol core on its own: bytes in, events and bytes out; no socket,
// no io_context (gateway/protocol/protocol_core.hpp).
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "gateway/protocol/protocol_core.hpp"
#include "tests/frame_reader_feed.hpp"

#include "codec_samples.hpp"

namespace codec_test {
namespace {

using Core = ProtocolCore;
using Event = ProtocolCore::Event;
using Answer = Violation::Answer;
using namespace std::chrono_literals;
const Core::Clock::time_point t0{};

Core make(Role role, ProtocolVersion version = v311, std::uint32_t max_packet = 1 << 20,
          std::uint16_t receive_maximum = 64, std::uint16_t topic_alias_maximum = 16) {
  return Core(role, version, {max_packet, receive_maximum, topic_alias_maximum});
}

void feed(Core& core, const std::string& bytes) {
  feed(core.reader(), std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

Connect connect_packet(ProtocolVersion version, std::uint16_t keep_alive = 10) {
  Connect c;
  c.version = version;
  c.client_id = "c";
  c.keep_alive = keep_alive;
  return c;
}

// A server core that has read CONNECT.
Core connected_server(ProtocolVersion version, const Properties& props = {}, std::uint16_t keep_alive = 10,
                      std::uint16_t receive_maximum = 64) {
  Core core = make(Role::server, v311, 1 << 20, receive_maximum);
  Connect c = connect_packet(version, keep_alive);
  c.properties = props;
  feed(core, encoded(c, version));
  Packet packet;
  REQUIRE(core.next(t0, packet) == Event::packet);
  REQUIRE(std::holds_alternative<Connect>(packet));
  return core;
}

// A client core that has read CONNACK.
Core connected_client(ProtocolVersion version, const Properties& props = {}) {
  Core core = make(Role::client, version);
  Connack ack;
  ack.properties = props;
  feed(core, encoded(ack, version));
  Packet packet;
  REQUIRE(core.next(t0, packet) == Event::packet);
  REQUIRE(std::holds_alternative<Connack>(packet));
  return core;
}

Event next(Core& core, Core::Clock::time_point now = t0) {
  Packet packet;
  return core.next(now, packet);
}

Publish publish(std::string topic, std::uint8_t qos = 0) {
  Publish p;
  p.topic = std::move(topic);
  p.payload = "x";
  p.qos = qos;
  p.packet_id = qos > 0 ? 1 : 0;
  return p;
}

}  // namespace

TEST_CASE("protocol core: a server reads CONNECT first, else closes silently") {
  Core core = make(Role::server);
  feed(core, encoded(publish("a"), v311));
  REQUIRE(next(core) == Event::violation);
  CHECK(core.violation().answer == Answer::close_silently);
  CHECK_FALSE(core.violation().counted);
  CHECK(core.violation().detail == "first packet is not CONNECT");

  Core ok = make(Role::server);
  feed(ok, encoded(connect_packet(v5, 30), v5));
  Packet packet;
  REQUIRE(ok.next(t0, packet) == Event::packet);
  CHECK(std::get<Connect>(packet).client_id == "c");
  CHECK(ok.version() == v5);
  CHECK(ok.keep_alive() == 30);
  CHECK(next(ok) == Event::need_more);
}

TEST_CASE("protocol core: PINGREQ is answered with exactly PINGRESP") {
  Core core = connected_server(v311);
  feed(core, std::string("\xC0\x00", 2));
  Packet packet;
  REQUIRE(core.next(t0, packet) == Event::answer);
  REQUIRE(std::holds_alternative<Pingresp>(packet));
  CHECK(core.send(packet));
  CHECK(core.output() == std::string("\xD0\x00", 2));
}

TEST_CASE("protocol core: malformed remaining length and packet too large") {
  for (ProtocolVersion v : {v311, v5}) {
    Core core = connected_server(v);
    feed(core, std::string("\x30\xFF\xFF\xFF\xFF\x01", 6));
    REQUIRE(next(core) == Event::violation);
    CHECK(core.violation().reason == ReasonCode::malformed_packet);
    CHECK(core.violation().detail == "malformed remaining length");
    CHECK(core.violation().answer == (v == v5 ? Answer::disconnect : Answer::close));
    CHECK(core.violation().counted);
  }
  Core small = make(Role::server, v311, 64);
  feed(small, encoded(connect_packet(v5), v5));
  REQUIRE(next(small) == Event::packet);
  Publish big = publish("t");
  big.payload.assign(100, 'x');
  feed(small, encoded(big, v5));
  REQUIRE(next(small) == Event::violation);
  CHECK(small.violation().reason == ReasonCode::packet_too_large);
  CHECK(small.violation().answer == Answer::disconnect);
  // Before CONNECT a 3.1.1 answer has no return code for it: closed without one.
  Core early = make(Role::server, v311, 16);
  feed(early, std::string("\x10\x7F", 2));
  REQUIRE(next(early) == Event::violation);
  CHECK(early.violation().reason == ReasonCode::packet_too_large);
  CHECK(early.violation().answer == Answer::close_silently);
  CHECK(early.violation().counted);
}

TEST_CASE("protocol core: a bad CONNECT is refused in the client's version") {
  std::string bytes = encoded(connect_packet(v5), v5);
  bytes[9] |= 0x01;  // the reserved connect flag
  Core core = make(Role::server);
  feed(core, bytes);
  REQUIRE(next(core) == Event::violation);
  CHECK(core.version() == v5);
  CHECK(core.violation().answer == Answer::refuse_connack);
  core.send(core.refusal(core.violation().reason, "bad"));
  // CONNACK, no session, 0x81, Reason String "bad".
  CHECK(core.output() == std::string("\x20\x09\x00\x81\x06\x1F\x00\x03" "bad", 11));

  std::string level6 = encoded(connect_packet(v311), v311);
  level6[8] = 6;  // a protocol level we do not speak: 3.1.1 return code 1
  Core old = make(Role::server);
  feed(old, level6);
  REQUIRE(next(old) == Event::violation);
  CHECK(old.version() == v311);
  CHECK(old.violation().answer == Answer::refuse_connack);
  old.send(old.refusal(old.violation().reason, "bad"));
  CHECK(old.output() == std::string("\x20\x02\x00\x01", 4));
}

TEST_CASE("protocol core: second CONNECT, AUTH") {
  Core core = connected_server(v5);
  feed(core, encoded(connect_packet(v5), v5));
  REQUIRE(next(core) == Event::violation);
  CHECK(core.violation().reason == ReasonCode::protocol_error);
  CHECK(core.violation().detail == "second CONNECT");
  CHECK(core.violation().answer == Answer::disconnect);

  Core auth = connected_server(v5);
  feed(auth, encoded(Auth{}, v5));
  REQUIRE(next(auth) == Event::violation);
  CHECK(auth.violation().detail == "AUTH without an authentication method");
}

TEST_CASE("protocol core: packet types a role must not receive") {
  Core server = connected_server(v311);
  Suback suback;
  suback.packet_id = 1;
  suback.reason_codes = {0};
  feed(server, encoded(suback, v311));
  REQUIRE(next(server) == Event::violation);
  CHECK(server.violation().detail == "packet type not sent by clients");
  CHECK(server.violation().answer == Answer::close);

  Core client = connected_client(v5);
  Subscribe subscribe;
  subscribe.packet_id = 1;
  subscribe.subscriptions.push_back({"a/#", 1});
  feed(client, encoded(subscribe, v5));
  REQUIRE(next(client) == Event::violation);
  CHECK(client.violation().detail == "SUBSCRIBE from a server");
  CHECK(client.violation().answer == Answer::disconnect);

  Core ping = connected_client(v311);
  feed(ping, std::string("\xC0\x00", 2));
  REQUIRE(next(ping) == Event::violation);
  CHECK(ping.violation().detail == "PINGREQ from a server");

  // A client reads CONNACK first; the suback it expects is handed over.
  Core early = make(Role::client, v5);
  feed(early, encoded(publish("a"), v5));
  REQUIRE(next(early) == Event::violation);
  CHECK(early.violation().detail == "the remote broker sent PUBLISH before CONNACK");
  CHECK_FALSE(early.violation().counted);
  CHECK(early.violation().answer == Answer::close_silently);
  Core subacked = connected_client(v5);
  feed(subacked, encoded(suback, v5));
  CHECK(next(subacked) == Event::packet);
}

TEST_CASE("protocol core: inbound topic aliases") {
  Core core = connected_server(v5);  // our Topic Alias Maximum: 16
  Publish first = publish("a/b");
  first.properties.topic_alias = 3;
  CHECK_FALSE(core.resolve_publish(first));
  CHECK(first.topic == "a/b");
  CHECK_FALSE(first.properties.topic_alias);

  Publish again = publish("");
  again.properties.topic_alias = 3;
  CHECK_FALSE(core.resolve_publish(again));
  CHECK(again.topic == "a/b");

  Publish unknown = publish("");
  unknown.properties.topic_alias = 4;
  auto v = core.resolve_publish(unknown);
  REQUIRE(v);
  CHECK(v->reason == ReasonCode::protocol_error);
  CHECK(v->detail == "unknown topic alias");

  Publish out_of_range = publish("a");
  out_of_range.properties.topic_alias = 17;
  v = core.resolve_publish(out_of_range);
  REQUIRE(v);
  CHECK(static_cast<int>(v->reason) == 0x94);
  CHECK(v->answer == Answer::disconnect);

  Publish no_topic = publish("");
  v = core.resolve_publish(no_topic);
  REQUIRE(v);
  CHECK(v->detail == "empty topic name");

  Publish with_id = publish("a");
  with_id.properties.subscription_identifiers = {5};
  v = core.resolve_publish(with_id);
  REQUIRE(v);
  CHECK(v->detail == "subscription identifier in a client PUBLISH");
  Core client = connected_client(v5);
  Publish from_remote = publish("a");
  from_remote.properties.subscription_identifiers = {5};
  CHECK_FALSE(client.resolve_publish(from_remote));
  CHECK(from_remote.properties.subscription_identifiers.empty());
}

TEST_CASE("protocol core: outbound aliases up to the peer's maximum") {
  Properties props;
  props.topic_alias_maximum = 2;
  Core core = connected_server(v5, props);
  REQUIRE(core.assigns_aliases());
  auto assign = [&](std::string_view topic, std::string_view& wire) {
    Properties p;
    wire = topic;
    core.assign_alias(topic, p, wire);
    return p.topic_alias;
  };
  std::string_view wire;
  CHECK(assign("t1", wire) == std::optional<std::uint16_t>(1));
  CHECK(wire == "t1");
  CHECK(assign("t2", wire) == std::optional<std::uint16_t>(2));
  CHECK(assign("t3", wire) == std::nullopt);  // over the maximum: in full
  CHECK(wire == "t3");
  CHECK(assign("t1", wire) == std::optional<std::uint16_t>(1));
  CHECK(wire.empty());  // known: the alias alone

  Properties alias;
  alias.topic_alias = 1;
  PublishView view{"", "p", 0, false, false, 0, &alias};
  core.send(view);
  CHECK(core.output() == std::string("\x30\x07\x00\x00\x03\x23\x00\x01p", 9));

  CHECK_FALSE(connected_server(v5).assigns_aliases());
  CHECK_FALSE(connected_server(v311, props).assigns_aliases());
}

TEST_CASE("protocol core: the peer's Maximum Packet Size trims or drops") {
  Properties props;
  props.maximum_packet_size = 12;
  Core core = connected_server(v5, props);
  Disconnect d{0x8E, {}};
  d.properties.reason_string = "a reason string too long";
  d.properties.user_properties.emplace_back("k", "v");
  CHECK(core.send(Packet(d)));
  CHECK(core.output() == std::string("\xE0\x01\x8E", 3));

  core.output().clear();
  PubResponse ack{PacketType::puback, 7, 0x10, {}};
  ack.properties.reason_string = "no one listens here";
  CHECK(core.send(ack));
  CHECK(core.output() == std::string("\x40\x03\x00\x07\x10", 5));

  core.output().clear();
  Suback suback;
  suback.packet_id = 1;
  suback.reason_codes.assign(20, 1);
  CHECK_FALSE(core.send(Packet(suback)));  // still too large: not sent at all
  CHECK(core.output().empty());
  CHECK(core.fits_peer(12));
  CHECK_FALSE(core.fits_peer(13));
}

TEST_CASE("protocol core: server keep alive is 1.5 times since the last packet") {
  Core core = connected_server(v311, {}, 10);
  auto first = core.start_keep_alive(t0);
  REQUIRE(first);
  CHECK(*first == t0 + 15s);
  auto step = core.on_keep_alive(t0 + 14s);
  CHECK(step.action == ProtocolCore::KeepAlive::wait);
  CHECK(step.next == t0 + 15s);
  feed(core, std::string("\xC0\x00", 2));
  REQUIRE(next(core, t0 + 10s) == Event::answer);
  step = core.on_keep_alive(t0 + 15s);
  CHECK(step.action == ProtocolCore::KeepAlive::wait);
  CHECK(step.next == t0 + 25s);
  CHECK(core.on_keep_alive(t0 + 25s).action == ProtocolCore::KeepAlive::expired);

  Core none = connected_server(v311, {}, 0);
  CHECK_FALSE(none.start_keep_alive(t0));
}

TEST_CASE("protocol core: client keep alive sends PINGREQ and waits for an answer") {
  Core core = connected_client(v311);
  core.set_keep_alive(10);
  auto first = core.start_keep_alive(t0);
  REQUIRE(first);
  CHECK(*first == t0 + 10s);
  auto step = core.on_keep_alive(t0 + 10s);
  CHECK(step.action == ProtocolCore::KeepAlive::send_pingreq);
  CHECK(step.next == t0 + 20s);
  feed(core, std::string("\xD0\x00", 2));  // PINGRESP: consumed by the core
  CHECK(next(core, t0 + 12s) == Event::need_more);
  CHECK(core.on_keep_alive(t0 + 20s).action == ProtocolCore::KeepAlive::send_pingreq);
  // Anything from the remote after the PINGREQ keeps the link up.
  feed(core, encoded(publish("a"), v311));
  CHECK(next(core, t0 + 25s) == Event::packet);
  CHECK(core.on_keep_alive(t0 + 30s).action == ProtocolCore::KeepAlive::send_pingreq);
  // Nothing at all for a whole period after a PINGREQ.
  CHECK(core.on_keep_alive(t0 + 40s).action == ProtocolCore::KeepAlive::expired);

  Properties props;
  props.server_keep_alive = 5;
  Core told = make(Role::client, v5);
  told.set_keep_alive(60);
  Connack ack;
  ack.properties = props;
  feed(told, encoded(ack, v5));
  REQUIRE(next(told) == Event::packet);
  CHECK(told.keep_alive() == 5);  // MQTT-3.2.2-21
}

TEST_CASE("protocol core: receive maximum") {
  Core core = connected_server(v5, {}, 10, 2);
  core.publish_pending(1);
  CHECK_FALSE(core.receive_maximum_exceeded(1, 0));
  core.publish_pending(1);
  CHECK(core.receive_maximum_exceeded(1, 0));
  CHECK(core.receive_maximum_exceeded(2, 0));
  CHECK_FALSE(core.receive_maximum_exceeded(0, 0));  // QoS 0 is not counted
  core.publish_settled(1);
  CHECK_FALSE(core.receive_maximum_exceeded(1, 0));
  CHECK(core.receive_maximum_exceeded(1, 1));  // a QoS 2 awaiting PUBREL counts
  auto v = core.verdict(ReasonCode::receive_maximum_exceeded, "too many");
  CHECK(static_cast<int>(v.reason) == 0x93);
  CHECK(v.answer == Answer::disconnect);
  CHECK_FALSE(core.inbound_paused());  // v5 clients are not paused: they are told

  // 3.1.1 has no Receive Maximum: the reading pauses instead.
  Core old = connected_server(v311, {}, 10, 2);
  old.publish_pending(2);
  old.publish_pending(1);
  CHECK_FALSE(old.receive_maximum_exceeded(1, 5));
  CHECK(old.inbound_paused());
  old.publish_settled(2);
  CHECK_FALSE(old.inbound_paused());

  Properties small;
  small.receive_maximum = 3;
  CHECK(connected_server(v5, small).window(100) == 3);
  CHECK(connected_server(v311, small).window(100) == 100);
  CHECK(connected_server(v5).window(100) == 65535);
}

TEST_CASE("protocol core: the same acknowledgement in 3.1.1 and 5") {
  Core v5core = connected_server(v5);
  CHECK(v5core.send(v5core.ack(PacketType::puback, 7, ReasonCode::no_matching_subscribers)));
  CHECK(v5core.output() == std::string("\x40\x03\x00\x07\x10", 5));
  v5core.output().clear();
  CHECK(v5core.send(v5core.ack(PacketType::pubcomp, 9, ReasonCode::success)));
  CHECK(v5core.output() == std::string("\x70\x02\x00\x09", 4));

  Core old = connected_server(v311);
  CHECK(old.send(old.ack(PacketType::puback, 7, ReasonCode::no_matching_subscribers)));
  CHECK(old.output() == std::string("\x40\x02\x00\x07", 4));
  old.output().clear();
  CHECK(old.send(old.ack(PacketType::pubrel, 9, ReasonCode::packet_identifier_not_found)));
  CHECK(old.output() == std::string("\x62\x02\x00\x09", 4));
}

TEST_CASE("protocol core: a shared PUBLISH gets this delivery's flags and packet id") {
  Core core = connected_server(v311);
  PublishView view{"a/b", "payload", 1, false, false, 1, nullptr};
  std::string shared;
  encode(view, v311, shared);
  core.send_shared(shared, publish_packet_id_offset(shared, 3), 2, true, 0x1234);
  PublishView expected{"a/b", "payload", 2, true, false, 0x1234, nullptr};
  std::string direct;
  encode(expected, v311, direct);
  CHECK(core.output() == direct);
}

}  // namespace codec_test
