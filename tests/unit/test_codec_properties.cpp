// MQTT 5 property blocks: every property round-tripped in every packet type,
// the "used in" table, duplicates, value rules and malformed blocks.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "gateway/codec/decoder.hpp"
#include "gateway/codec/properties.hpp"

#include "codec_samples.hpp"

namespace codec_test {

namespace {

using Id = PropertyId;
using Ctx = PropertyContext;

const Ctx all_contexts[] = {Ctx::connect, Ctx::connack,     Ctx::publish,  Ctx::puback,
                            Ctx::pubrec,  Ctx::pubrel,      Ctx::pubcomp,  Ctx::subscribe,
                            Ctx::suback,  Ctx::unsubscribe, Ctx::unsuback, Ctx::disconnect,
                            Ctx::auth,    Ctx::will};

const Id all_ids[] = {Id::payload_format_indicator,
                      Id::message_expiry_interval,
                      Id::content_type,
                      Id::response_topic,
                      Id::correlation_data,
                      Id::subscription_identifier,
                      Id::session_expiry_interval,
                      Id::assigned_client_identifier,
                      Id::server_keep_alive,
                      Id::authentication_method,
                      Id::authentication_data,
                      Id::request_problem_information,
                      Id::will_delay_interval,
                      Id::request_response_information,
                      Id::response_information,
                      Id::server_reference,
                      Id::reason_string,
                      Id::receive_maximum,
                      Id::topic_alias_maximum,
                      Id::topic_alias,
                      Id::maximum_qos,
                      Id::retain_available,
                      Id::user_property,
                      Id::maximum_packet_size,
                      Id::wildcard_subscription_available,
                      Id::subscription_identifier_available,
                      Id::shared_subscription_available};

// A valid value of the property's type, identifier included.
Bytes one_property(Id id) {
  const auto b = static_cast<int>(id);
  switch (id) {
    case Id::payload_format_indicator:
    case Id::request_problem_information:
    case Id::request_response_information:
    case Id::maximum_qos:
    case Id::retain_available:
    case Id::wildcard_subscription_available:
    case Id::subscription_identifier_available:
    case Id::shared_subscription_available: return bytes({b, 1});
    case Id::server_keep_alive:
    case Id::receive_maximum:
    case Id::topic_alias_maximum:
    case Id::topic_alias: return bytes({b, 0x01, 0x02});
    case Id::message_expiry_interval:
    case Id::session_expiry_interval:
    case Id::will_delay_interval:
    case Id::maximum_packet_size: return bytes({b, 0, 0, 1, 0});
    case Id::subscription_identifier: return bytes({b, 0x80, 0x01});
    case Id::user_property: return bytes({b}) + str("k") + str("v");
    default: return bytes({b}) + str("a/b");
  }
}

Bytes block(const Bytes& content) {
  Bytes out;
  uint32_t n = static_cast<uint32_t>(content.size());
  do {
    uint8_t digit = n & 0x7F;
    n >>= 7;
    if (n) digit |= 0x80;
    out.push_back(digit);
  } while (n);
  return out + content;
}

struct Decoded {
  ReasonCode rc;
  Properties props;
  std::string detail;
  std::size_t left;
};

Decoded decode_block(const Bytes& wire, Ctx ctx) {
  std::span<const uint8_t> in(wire);
  Decoded d{};
  d.rc = decode_properties(in, ctx, d.props, d.detail);
  d.left = in.size();
  return d;
}

}  // namespace

TEST_CASE("properties: every property round-trips in every packet type") {
  const Properties all = every_property();
  for (Ctx ctx : all_contexts) {
    CAPTURE(static_cast<int>(ctx));
    std::string wire;
    encode_properties(all, ctx, wire);
    CHECK(wire.size() == encoded_properties_size(all, ctx));
    wire += "tail";
    const Bytes in(wire.begin(), wire.end());
    const Decoded d = decode_block(in, ctx);
    REQUIRE_MESSAGE(d.rc == ReasonCode::success, d.detail);
    CHECK(d.left == 4);  // stops at the end of the block
    CHECK(d.props == allowed_properties(ctx));
  }
}

TEST_CASE("properties: empty block") {
  for (Ctx ctx : all_contexts) {
    std::string wire;
    encode_properties(Properties{}, ctx, wire);
    CHECK(wire == std::string(1, '\0'));
    CHECK(encoded_properties_size(Properties{}, ctx) == 1);
    const Decoded d = decode_block(bytes({0}), ctx);
    CHECK(d.rc == ReasonCode::success);
    CHECK(d.props.empty());
  }
}

TEST_CASE("properties: the used-in table decides malformed") {
  for (Id id : all_ids) {
    for (Ctx ctx : all_contexts) {
      CAPTURE(to_string(id));
      CAPTURE(static_cast<int>(ctx));
      const Decoded d = decode_block(block(one_property(id)), ctx);
      if (property_allowed(id, ctx)) {
        CHECK_MESSAGE(d.rc == ReasonCode::success, d.detail);
        CHECK_FALSE(d.props.empty());
      } else {
        CHECK(d.rc == ReasonCode::malformed_packet);
        CHECK(d.detail.find("not allowed") != std::string::npos);
      }
    }
  }
  // Spot checks against MQTT 5.0 table 2-4.
  CHECK(property_allowed(Id::topic_alias, Ctx::publish));
  CHECK_FALSE(property_allowed(Id::topic_alias, Ctx::will));
  CHECK(property_allowed(Id::will_delay_interval, Ctx::will));
  CHECK_FALSE(property_allowed(Id::will_delay_interval, Ctx::publish));
  CHECK(property_allowed(Id::session_expiry_interval, Ctx::disconnect));
  CHECK_FALSE(property_allowed(Id::reason_string, Ctx::connect));
  CHECK_FALSE(property_allowed(Id::reason_string, Ctx::publish));
  CHECK(property_allowed(Id::user_property, Ctx::unsubscribe));
  CHECK_FALSE(property_allowed(Id::subscription_identifier, Ctx::unsubscribe));
}

TEST_CASE("properties: unknown identifiers are malformed") {
  for (int id :
       {0x00, 0x04, 0x07, 0x0A, 0x0C, 0x10, 0x14, 0x1B, 0x1D, 0x20, 0x2B, 0x7F, 0x80, 0xFF}) {
    CAPTURE(id);
    const Decoded d = decode_block(block(bytes({id, 0})), Ctx::publish);
    CHECK(d.rc == ReasonCode::malformed_packet);
  }
}

TEST_CASE("properties: a property that may appear once is a protocol error when repeated") {
  for (Id id : all_ids) {
    if (id == Id::user_property) continue;
    for (Ctx ctx : all_contexts) {
      if (!property_allowed(id, ctx)) continue;
      if (id == Id::subscription_identifier && ctx == Ctx::publish) continue;
      CAPTURE(to_string(id));
      CAPTURE(static_cast<int>(ctx));
      const Decoded d = decode_block(block(one_property(id) + one_property(id)), ctx);
      CHECK(d.rc == ReasonCode::protocol_error);
    }
  }
}

TEST_CASE("properties: user properties and PUBLISH subscription identifiers repeat") {
  const Decoded users =
      decode_block(block(bytes({0x26}) + str("a") + str("1") + bytes({0x26}) + str("a") + str("2") +
                         bytes({0x26}) + str("b") + str("3")),
                   Ctx::connect);
  REQUIRE(users.rc == ReasonCode::success);
  REQUIRE(users.props.user_properties.size() == 3);
  CHECK(users.props.user_properties[1] == UserProperty{"a", "2"});
  CHECK(users.props.user_properties[2] == UserProperty{"b", "3"});

  const Decoded ids =
      decode_block(block(bytes({0x0B, 0x05, 0x0B, 0xFF, 0xFF, 0xFF, 0x7F})), Ctx::publish);
  REQUIRE(ids.rc == ReasonCode::success);
  CHECK(ids.props.subscription_identifiers == std::vector<uint32_t>{5, 268435455});
}

TEST_CASE("properties: values the spec calls protocol errors") {
  struct Case {
    Bytes content;
    Ctx ctx;
  };
  const Case cases[] = {
      {bytes({0x01, 2}), Ctx::publish},  // payload format indicator
      {bytes({0x01, 0xFF}), Ctx::will},
      {bytes({0x17, 2}), Ctx::connect},       // request problem information
      {bytes({0x19, 2}), Ctx::connect},       // request response information
      {bytes({0x24, 2}), Ctx::connack},       // maximum QoS
      {bytes({0x25, 2}), Ctx::connack},       // retain available
      {bytes({0x28, 2}), Ctx::connack},       // wildcard subscription available
      {bytes({0x29, 2}), Ctx::connack},       // subscription identifier available
      {bytes({0x2A, 2}), Ctx::connack},       // shared subscription available
      {bytes({0x0B, 0x00}), Ctx::subscribe},  // subscription identifier 0
      {bytes({0x0B, 0x00}), Ctx::publish},
      {bytes({0x21, 0, 0}), Ctx::connect},  // receive maximum 0
      {bytes({0x21, 0, 0}), Ctx::connack},
      {bytes({0x27, 0, 0, 0, 0}), Ctx::connect},   // maximum packet size 0
      {bytes({0x23, 0, 0}), Ctx::publish},         // topic alias 0
      {bytes({0x08}) + str("a/#"), Ctx::publish},  // response topic with wildcard
      {bytes({0x08}) + str("+"), Ctx::will},
      {bytes({0x08}) + str(""), Ctx::publish},
  };
  for (const Case& c : cases) {
    CAPTURE(static_cast<int>(c.content[0]));
    const Decoded d = decode_block(block(c.content), c.ctx);
    CHECK(d.rc == ReasonCode::protocol_error);
    CHECK_FALSE(d.detail.empty());
  }
  // Edge values that are fine.
  CHECK(decode_block(block(bytes({0x22, 0, 0})), Ctx::connect).rc == ReasonCode::success);
  CHECK(decode_block(block(bytes({0x24, 0})), Ctx::connack).rc == ReasonCode::success);
  CHECK(decode_block(block(bytes({0x01, 0})), Ctx::publish).rc == ReasonCode::success);
  CHECK(decode_block(block(bytes({0x13, 0, 0})), Ctx::connack).rc == ReasonCode::success);
}

TEST_CASE("properties: malformed blocks") {
  const auto check_malformed = [](const Bytes& wire, Ctx ctx) {
    const Decoded d = decode_block(wire, ctx);
    CHECK(d.rc == ReasonCode::malformed_packet);
    CHECK_FALSE(d.detail.empty());
  };
  check_malformed(bytes({}), Ctx::publish);                              // no property length
  check_malformed(bytes({0x05, 0x01}), Ctx::publish);                    // length beyond the packet
  check_malformed(bytes({0x80}), Ctx::publish);                          // truncated length
  check_malformed(bytes({0x80, 0x00}), Ctx::publish);                    // non-minimal length
  check_malformed(bytes({0xFF, 0xFF, 0xFF, 0xFF, 0x01}), Ctx::publish);  // five-byte length
  check_malformed(bytes({0x01, 0x02}), Ctx::publish);                    // value missing
  check_malformed(bytes({0x03, 0x02, 0x00, 0x00}), Ctx::publish);        // u32 truncated
  // A value may not run past the block even if the packet has more bytes.
  check_malformed(bytes({0x03, 0x02, 0x00, 0x00, 0x00, 0x00}), Ctx::publish);
  check_malformed(block(bytes({0x03, 0x00, 0x05, 'a'})), Ctx::publish);  // string truncated
  check_malformed(block(bytes({0x26, 0x00, 0x01, 'k'})), Ctx::publish);  // user value missing
  check_malformed(block(bytes({0x0B, 0x80})), Ctx::subscribe);           // sub id truncated
  check_malformed(block(bytes({0x0B, 0x81, 0x00})), Ctx::subscribe);     // sub id non-minimal
  check_malformed(block(bytes({0x0B, 0x80, 0x80, 0x80, 0x80, 0x01})), Ctx::subscribe);
  // Invalid UTF-8 in every string property; binary properties take anything.
  check_malformed(block(bytes({0x03, 0x00, 0x01, 0x00})), Ctx::publish);
  check_malformed(block(bytes({0x08, 0x00, 0x02, 0xC0, 0x80})), Ctx::publish);
  check_malformed(block(bytes({0x1F, 0x00, 0x03, 0xED, 0xA0, 0x80})), Ctx::puback);
  check_malformed(block(bytes({0x12, 0x00, 0x01, 0xFF})), Ctx::connack);
  check_malformed(block(bytes({0x15, 0x00, 0x01, 0x80})), Ctx::connect);
  check_malformed(block(bytes({0x1A, 0x00, 0x01, 0x00})), Ctx::connack);
  check_malformed(block(bytes({0x1C, 0x00, 0x01, 0x00})), Ctx::disconnect);
  check_malformed(block(bytes({0x26, 0x00, 0x01, 0x00}) + str("v")), Ctx::publish);
  check_malformed(block(bytes({0x26}) + str("k") + bytes({0x00, 0x01, 0x00})), Ctx::publish);
  CHECK(decode_block(block(bytes({0x09, 0x00, 0x02, 0x00, 0xFF})), Ctx::publish).rc ==
        ReasonCode::success);
  CHECK(decode_block(block(bytes({0x16, 0x00, 0x01, 0x00})), Ctx::auth).rc == ReasonCode::success);
}

TEST_CASE("properties: the encoder omits what the packet type may not carry") {
  Properties p;
  p.topic_alias = 3;      // PUBLISH only
  p.reason_string = "r";  // not in CONNECT
  p.session_expiry_interval = 9;
  p.subscription_identifiers = {1, 2};
  std::string wire;
  encode_properties(p, Ctx::connect, wire);
  CHECK(wire == std::string("\x05\x11\x00\x00\x00\x09", 6));
  wire.clear();
  encode_properties(p, Ctx::subscribe, wire);  // one subscription identifier at most
  CHECK(wire == std::string("\x02\x0B\x01", 3));
  wire.clear();
  encode_properties(p, Ctx::publish, wire);
  CHECK(wire == std::string("\x07\x0B\x01\x0B\x02\x23\x00\x03", 8));
}

TEST_CASE("properties: encoder limits") {
  Properties p;
  p.content_type = std::string(65536, 'x');
  std::string wire;
  CHECK_THROWS_AS(encode_properties(p, Ctx::publish, wire), std::length_error);
  Properties q;
  q.subscription_identifiers = {268435456};
  CHECK_THROWS_AS(encode_properties(q, Ctx::publish, wire), std::length_error);
  Properties big;
  big.content_type = std::string(65535, 'x');
  wire.clear();
  encode_properties(big, Ctx::publish, wire);
  CHECK(wire.size() == 3 + 1 + 2 + 65535);
}

TEST_CASE("properties: names and contexts") {
  CHECK(std::string(to_string(Id::maximum_packet_size)) == "Maximum Packet Size");
  CHECK(property_context(PacketType::pubrel) == Ctx::pubrel);
  CHECK(property_context(PacketType::unsubscribe) == Ctx::unsubscribe);
}

}  // namespace codec_test
