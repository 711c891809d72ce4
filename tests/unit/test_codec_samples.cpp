// Shared fixtures of the codec unit tests: byte builders, round-trip helpers
// and a sample of every packet type, declared in codec_samples.hpp.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "gateway/codec/decoder.hpp"
#include "gateway/codec/encoder.hpp"
#include "gateway/codec/frame_reader.hpp"
#include "tests/frame_reader_feed.hpp"

#include "codec_samples.hpp"

namespace codec_test {

Bytes bytes(std::initializer_list<int> values) {
  Bytes out;
  for (int v : values) out.push_back(static_cast<uint8_t>(v));
  return out;
}

Bytes raw(std::string_view s) { return Bytes(s.begin(), s.end()); }

Bytes str(std::string_view s) {
  Bytes out{static_cast<uint8_t>(s.size() >> 8), static_cast<uint8_t>(s.size() & 0xFF)};
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

Bytes operator+(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::string encoded(const Packet& packet, ProtocolVersion version) {
  std::string out;
  encode(packet, version, out);
  return out;
}

DecodeResult decode_wire(std::string_view wire, ProtocolVersion version) {
  FrameReader reader(0);
  feed(reader, {reinterpret_cast<const uint8_t*>(wire.data()), wire.size()});
  FrameReader::Frame frame{};
  REQUIRE(reader.next(frame) == FrameReader::Status::frame);
  REQUIRE(reader.buffered() == 0);
  REQUIRE(frame.total_size == wire.size());
  return decode(frame, version);
}

DecodeResult decode_body(uint8_t first_byte, const Bytes& body, ProtocolVersion version) {
  return decode(first_byte, body, version);
}

Packet roundtrip(const Packet& packet, ProtocolVersion version) {
  const std::string wire = encoded(packet, version);
  CHECK(wire.size() == encoded_size(packet, version));
  DecodeResult r = decode_wire(wire, version);
  REQUIRE_MESSAGE(r.ok(), r.detail);
  return r.packet;
}

Properties every_property() {
  Properties p;
  p.payload_format_indicator = 1;
  p.message_expiry_interval = 0xFFFFFFFF;
  p.content_type = "application/json";
  p.response_topic = "reply/to/me";
  p.correlation_data = std::string("\x00\x01\xFF binary", 10);
  p.subscription_identifiers = {1, 268435455, 200};
  p.session_expiry_interval = 3600;
  p.assigned_client_identifier = "auto-1234";
  p.server_keep_alive = 120;
  p.authentication_method = "SCRAM-SHA-1";
  p.authentication_data = std::string("\x00\xFE\x7F", 3);
  p.request_problem_information = 0;
  p.will_delay_interval = 30;
  p.request_response_information = 1;
  p.response_information = "resp/base";
  p.server_reference = "other.example:1883";
  p.reason_string = "because";
  p.receive_maximum = 65535;
  p.topic_alias_maximum = 10;
  p.topic_alias = 7;
  p.maximum_qos = 1;
  p.retain_available = 0;
  p.user_properties = {{"k1", "v1"}, {"k1", "v2"}, {"", ""}, {"ключ", "значение"}};
  p.maximum_packet_size = 1 << 20;
  p.wildcard_subscription_available = 1;
  p.subscription_identifier_available = 0;
  p.shared_subscription_available = 1;
  return p;
}

// every_property() reduced to what `ctx` may carry, as the encoder does.
Properties allowed_properties(PropertyContext ctx) {
  const Properties all = every_property();
  Properties p;
  const auto keep = [ctx](PropertyId id) { return property_allowed(id, ctx); };
  using Id = PropertyId;
  if (keep(Id::payload_format_indicator)) p.payload_format_indicator = all.payload_format_indicator;
  if (keep(Id::message_expiry_interval)) p.message_expiry_interval = all.message_expiry_interval;
  if (keep(Id::content_type)) p.content_type = all.content_type;
  if (keep(Id::response_topic)) p.response_topic = all.response_topic;
  if (keep(Id::correlation_data)) p.correlation_data = all.correlation_data;
  if (keep(Id::subscription_identifier)) {
    p.subscription_identifiers = all.subscription_identifiers;
    if (ctx != PropertyContext::publish) p.subscription_identifiers.resize(1);
  }
  if (keep(Id::session_expiry_interval)) p.session_expiry_interval = all.session_expiry_interval;
  if (keep(Id::assigned_client_identifier)) {
    p.assigned_client_identifier = all.assigned_client_identifier;
  }
  if (keep(Id::server_keep_alive)) p.server_keep_alive = all.server_keep_alive;
  if (keep(Id::authentication_method)) p.authentication_method = all.authentication_method;
  if (keep(Id::authentication_data)) p.authentication_data = all.authentication_data;
  if (keep(Id::request_problem_information)) {
    p.request_problem_information = all.request_problem_information;
  }
  if (keep(Id::will_delay_interval)) p.will_delay_interval = all.will_delay_interval;
  if (keep(Id::request_response_information)) {
    p.request_response_information = all.request_response_information;
  }
  if (keep(Id::response_information)) p.response_information = all.response_information;
  if (keep(Id::server_reference)) p.server_reference = all.server_reference;
  if (keep(Id::reason_string)) p.reason_string = all.reason_string;
  if (keep(Id::receive_maximum)) p.receive_maximum = all.receive_maximum;
  if (keep(Id::topic_alias_maximum)) p.topic_alias_maximum = all.topic_alias_maximum;
  if (keep(Id::topic_alias)) p.topic_alias = all.topic_alias;
  if (keep(Id::maximum_qos)) p.maximum_qos = all.maximum_qos;
  if (keep(Id::retain_available)) p.retain_available = all.retain_available;
  if (keep(Id::user_property)) p.user_properties = all.user_properties;
  if (keep(Id::maximum_packet_size)) p.maximum_packet_size = all.maximum_packet_size;
  if (keep(Id::wildcard_subscription_available)) {
    p.wildcard_subscription_available = all.wildcard_subscription_available;
  }
  if (keep(Id::subscription_identifier_available)) {
    p.subscription_identifier_available = all.subscription_identifier_available;
  }
  if (keep(Id::shared_subscription_available)) {
    p.shared_subscription_available = all.shared_subscription_available;
  }
  return p;
}

// One or more packets of every type valid in `version`, as the decoder
// returns them (so v3/v4 samples carry no v5-only fields).
std::vector<Packet> sample_packets(ProtocolVersion version) {
  const bool v5 = version == ProtocolVersion::v5;
  const auto props = [v5](PropertyContext ctx) {
    return v5 ? allowed_properties(ctx) : Properties{};
  };
  std::vector<Packet> out;

  Connect c;
  c.version = version;
  c.protocol_name = version == ProtocolVersion::v31 ? "MQIsdp" : "MQTT";
  c.clean_start = false;
  c.keep_alive = 60;
  c.client_id = "client-1";
  c.will = Will{"last/will", std::string("bye\0!", 5), 2, true, props(PropertyContext::will)};
  c.username = "user";
  c.password = std::string("p\0ss", 4);
  c.properties = props(PropertyContext::connect);
  out.push_back(c);
  Connect minimal;
  minimal.version = version;
  minimal.protocol_name = c.protocol_name;
  out.push_back(minimal);

  out.push_back(Connack{true, 0, props(PropertyContext::connack)});
  out.push_back(Connack{false, uint8_t(v5 ? 0x87 : 5), {}});

  Publish pub;
  pub.topic = "a/b/c";
  pub.payload = std::string("\x00\x01payload", 9);
  pub.qos = 1;
  pub.dup = true;
  pub.retain = true;
  pub.packet_id = 42;
  pub.properties = props(PropertyContext::publish);
  out.push_back(pub);
  out.push_back(Publish{"t", "", 0, false, false, 0, {}});
  out.push_back(Publish{"t/q2", std::string(300, 'x'), 2, false, false, 0xFFFF, {}});

  for (PacketType t :
       {PacketType::puback, PacketType::pubrec, PacketType::pubrel, PacketType::pubcomp}) {
    out.push_back(PubResponse{t, 7, 0, {}});
    if (v5) {
      const uint8_t rc = (t == PacketType::pubrel || t == PacketType::pubcomp) ? 0x92 : 0x10;
      out.push_back(PubResponse{t, 8, rc, {}});
      out.push_back(PubResponse{t, 9, 0, props(property_context(t))});
    }
  }

  Subscribe sub;
  sub.packet_id = 10;
  sub.subscriptions.push_back({"a/+/c", 0});
  sub.subscriptions.push_back({"#", 2});
  if (v5) {
    sub.subscriptions.push_back({"x/#", 1, true, true, 2});
    sub.subscriptions.push_back({"$share/g/y/+", 1, false, true, 1});
  }
  sub.properties = props(PropertyContext::subscribe);
  out.push_back(sub);

  out.push_back(Suback{
      10,
      v5 ? std::vector<uint8_t>{0, 1, 2, 0x80, 0x87, 0xA2} : std::vector<uint8_t>{0, 1, 2, 0x80},
      props(PropertyContext::suback)});
  out.push_back(Unsubscribe{11, {"a/+/c", "#"}, props(PropertyContext::unsubscribe)});
  out.push_back(Unsuback{11, v5 ? std::vector<uint8_t>{0x00, 0x11} : std::vector<uint8_t>{},
                         props(PropertyContext::unsuback)});
  out.push_back(Pingreq{});
  out.push_back(Pingresp{});
  out.push_back(Disconnect{});
  if (v5) {
    out.push_back(Disconnect{0x04, {}});
    out.push_back(Disconnect{0x8E, props(PropertyContext::disconnect)});
    out.push_back(Auth{});
    out.push_back(Auth{0x19, {}});
    out.push_back(Auth{0x18, props(PropertyContext::auth)});
  }
  return out;
}

}  // namespace codec_test
