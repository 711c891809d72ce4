// SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "gateway/codec/decoder.hpp"
#include "gateway/codec/encoder.hpp"

#include "codec_samples.hpp"

namespace codec_test {

namespace {

// packet id 1, [empty v5 properties], then the payload.
Bytes sub_body(ProtocolVersion v, const Bytes& payload) {
  return bytes({0x00, 0x01}) + (v == v5 ? bytes({0x00}) : Bytes{}) + payload;
}
}  // namespace

TEST_CASE("subscribe: round trip") {
  Subscribe s{77, {{"a/+", 0}, {"#", 1}, {"$share/grp/x/#", 2}}, {}};
  CHECK(std::get<Subscribe>(roundtrip(s, v311)) == s);
  CHECK(std::get<Subscribe>(roundtrip(s, ProtocolVersion::v31)) == s);
  s.properties = allowed_properties(PropertyContext::subscribe);
  for (uint8_t qos : {0, 1, 2}) {
    for (int nl = 0; nl < 2; ++nl) {
      for (int rap = 0; rap < 2; ++rap) {
        for (uint8_t rh : {0, 1, 2}) {
          s.subscriptions.push_back(
              {"f/" + std::to_string(s.subscriptions.size()), qos, nl == 1, rap == 1, rh});
        }
      }
    }
  }
  CHECK(std::get<Subscribe>(roundtrip(s, v5)) == s);
}

TEST_CASE("subscribe: exact bytes; 3.1.1 drops the v5 options") {
  const Subscribe s{10, {{"a/b", 1, true, true, 2}}, {}};
  CHECK(encoded(s, v311) == std::string("\x82\x08\x00\x0A\x00\x03"
                                        "a/b\x01",
                                        10));
  CHECK(encoded(s, v5) == std::string("\x82\x09\x00\x0A\x00\x00\x03"
                                      "a/b\x2D",
                                      11));
}

TEST_CASE("subscribe: fixed header flags must be 0010") {
  const Bytes body = sub_body(v311, str("a") + bytes({0}));
  CHECK(decode_body(0x82, body, v311).ok());
  for (int flags : {0x0, 0x1, 0x3, 0x4, 0xA, 0xF}) {
    CHECK(decode_body(static_cast<uint8_t>(0x80 | flags), body, v311).error ==
          ReasonCode::malformed_packet);
  }
}

TEST_CASE("subscribe: payload rules") {
  for (ProtocolVersion v : {v311, v5}) {
    CAPTURE(static_cast<int>(v));
    const bool is5 = v == v5;
    const auto err = [v](const Bytes& payload) {
      return decode_body(0x82, sub_body(v, payload), v).error;
    };
    CHECK(err({}) == (is5 ? ReasonCode::protocol_error : ReasonCode::malformed_packet));
    CHECK(err(str("a")) == ReasonCode::malformed_packet);                  // options missing
    CHECK(err(bytes({0x00, 0x05, 'a'})) == ReasonCode::malformed_packet);  // filter truncated
    CHECK(err(str("a") + bytes({0x03})) ==
          (is5 ? ReasonCode::protocol_error : ReasonCode::malformed_packet));  // QoS 3
    CHECK(err(str("a") + bytes({0x40})) == ReasonCode::malformed_packet);      // reserved bits
    CHECK(err(str("a") + bytes({0x80})) == ReasonCode::malformed_packet);
    // v5 option bits are reserved in 3.1.1.
    CHECK(err(str("a") + bytes({0x04})) ==
          (is5 ? ReasonCode::success : ReasonCode::malformed_packet));
    CHECK(err(str("a") + bytes({0x08})) ==
          (is5 ? ReasonCode::success : ReasonCode::malformed_packet));
    CHECK(err(str("a") + bytes({0x20})) ==
          (is5 ? ReasonCode::success : ReasonCode::malformed_packet));
    CHECK(err(str("a") + bytes({0x30})) ==
          (is5 ? ReasonCode::protocol_error : ReasonCode::malformed_packet));  // retain handling 3
    // Filter syntax errors are malformed packets (see decoder.hpp).
    for (const char* bad : {"", "a/#/b", "a+", "x#", "$share/g", "$share/+/a", "$share//a"}) {
      CAPTURE(bad);
      CHECK(err(str(bad) + bytes({0x01})) == ReasonCode::malformed_packet);
    }
    CHECK(err(bytes({0x00, 0x01, 0x00, 0x00})) == ReasonCode::malformed_packet);  // U+0000
    CHECK(err(str("a") + bytes({0x00}) + str("b/#") + bytes({0x02})) == ReasonCode::success);
    // Packet identifier 0.
    CHECK(decode_body(
              0x82,
              bytes({0x00, 0x00}) + (is5 ? bytes({0x00}) : Bytes{}) + str("a") + bytes({0x00}), v)
              .error == (is5 ? ReasonCode::protocol_error : ReasonCode::malformed_packet));
  }
  // No Local on a shared subscription [MQTT-3.8.3-4].
  CHECK(decode_body(0x82, sub_body(v5, str("$share/g/a") + bytes({0x04})), v5).error ==
        ReasonCode::protocol_error);
  CHECK(decode_body(0x82, sub_body(v5, str("$share/g/a") + bytes({0x01})), v5).ok());
}

TEST_CASE("subscribe: properties") {
  const auto err = [](const Bytes& props) {
    return decode_body(0x82, bytes({0x00, 0x01}) + props + str("a") + bytes({0x00}), v5).error;
  };
  CHECK(err(bytes({0x02, 0x0B, 0x07})) == ReasonCode::success);
  CHECK(err(bytes({0x04, 0x0B, 0x07, 0x0B, 0x08})) == ReasonCode::protocol_error);  // twice
  CHECK(err(bytes({0x02, 0x0B, 0x00})) == ReasonCode::protocol_error);              // zero
  CHECK(err(bytes({0x03, 0x23, 0x00, 0x01})) == ReasonCode::malformed_packet);      // alias
  CHECK(err(bytes({0x05, 0x26, 0x00, 0x00, 0x00, 0x00})) == ReasonCode::success);   // user
  const DecodeResult r =
      decode_body(0x82, bytes({0x00, 0x01, 0x03, 0x0B, 0x80, 0x01}) + str("a") + bytes({0x00}), v5);
  REQUIRE(r.ok());
  CHECK(std::get<Subscribe>(r.packet).properties.subscription_identifiers ==
        std::vector<uint32_t>{128});
}

TEST_CASE("suback: round trip, mapping and validation") {
  const Suback s311{5, {0, 1, 2, 0x80}, {}};
  CHECK(std::get<Suback>(roundtrip(s311, v311)) == s311);
  CHECK(encoded(s311, v311) == std::string("\x90\x06\x00\x05\x00\x01\x02\x80", 8));
  // v5 failure codes become 0x80 for 3.1.1.
  CHECK(encoded(Suback{5, {0x87, 0xA2, 1}, {}}, v311) ==
        std::string("\x90\x05\x00\x05\x80\x80\x01", 7));
  const Suback s5{6,
                  {0, 1, 2, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2},
                  allowed_properties(PropertyContext::suback)};
  CHECK(std::get<Suback>(roundtrip(s5, v5)) == s5);

  CHECK(decode_body(0x90, bytes({0x00, 0x01, 0x87}), v311).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0x90, bytes({0x00, 0x01, 0x03}), v311).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0x90, bytes({0x00, 0x01}), v311).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0x90, bytes({0x00, 0x01, 0x00, 0x10}), v5).error ==
        ReasonCode::malformed_packet);
  CHECK(decode_body(0x90, bytes({0x00, 0x01, 0x00}), v5).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0x92, bytes({0x00, 0x01, 0x00}), v311).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0x90, bytes({0x00, 0x00, 0x00}), v311).error == ReasonCode::malformed_packet);
}

TEST_CASE("unsubscribe: round trip and validation") {
  const Unsubscribe u{9, {"a/+", "#", "$share/g/x"}, {}};
  CHECK(std::get<Unsubscribe>(roundtrip(u, v311)) == u);
  CHECK(encoded(Unsubscribe{9, {"a"}, {}}, v311) == std::string("\xA2\x05\x00\x09\x00\x01"
                                                                "a",
                                                                7));
  Unsubscribe u5 = u;
  u5.properties = allowed_properties(PropertyContext::unsubscribe);
  CHECK(std::get<Unsubscribe>(roundtrip(u5, v5)) == u5);

  for (ProtocolVersion v : {v311, v5}) {
    const bool is5 = v == v5;
    const auto err = [v](const Bytes& payload) {
      return decode_body(0xA2, sub_body(v, payload), v).error;
    };
    CHECK(err({}) == (is5 ? ReasonCode::protocol_error : ReasonCode::malformed_packet));
    CHECK(err(str("a/#/b")) == ReasonCode::malformed_packet);
    CHECK(err(str("")) == ReasonCode::malformed_packet);
    CHECK(err(bytes({0x00, 0x03, 'a'})) == ReasonCode::malformed_packet);
    CHECK(err(str("a") + bytes({0x00})) == ReasonCode::malformed_packet);  // dangling byte
    CHECK(decode_body(0xA0, sub_body(v, str("a")), v).error == ReasonCode::malformed_packet);
    CHECK(decode_body(0xA2, bytes({0, 0}) + (is5 ? bytes({0}) : Bytes{}) + str("a"), v).error ==
          (is5 ? ReasonCode::protocol_error : ReasonCode::malformed_packet));
  }
  CHECK(decode_body(0xA2, bytes({0, 1, 0x02, 0x0B, 0x01}) + str("a"), v5).error ==
        ReasonCode::malformed_packet);  // no subscription identifier in UNSUBSCRIBE
}

TEST_CASE("unsuback: 3.1.1 has no payload, v5 has reason codes") {
  const Unsuback with_codes{
      4, {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91}, allowed_properties(PropertyContext::unsuback)};
  CHECK(encoded(with_codes, v311) == std::string("\xB0\x02\x00\x04", 4));
  CHECK(std::get<Unsuback>(roundtrip(with_codes, v5)) == with_codes);
  CHECK(std::get<Unsuback>(roundtrip(Unsuback{4, {}, {}}, v311)) == Unsuback{4, {}, {}});
  CHECK(decode_body(0xB0, bytes({0x00, 0x04, 0x00}), v311).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0xB0, bytes({0x00, 0x04, 0x00}), v5).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0xB0, bytes({0x00, 0x04, 0x00, 0x01}), v5).error ==
        ReasonCode::malformed_packet);
  CHECK(decode_body(0xB0, bytes({0x00, 0x04, 0x00, 0x11}), v5).ok());
  CHECK(decode_body(0xB1, bytes({0x00, 0x04}), v311).error == ReasonCode::malformed_packet);
}

}  // namespace codec_test
