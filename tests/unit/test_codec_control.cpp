// PINGREQ, PINGRESP, DISCONNECT, AUTH, and the fixed header of every type.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "gateway/codec/decoder.hpp"
#include "gateway/codec/encoder.hpp"

#include "codec_samples.hpp"

namespace codec_test {

TEST_CASE("ping: exact bytes and no body") {
  for (ProtocolVersion v : {ProtocolVersion::v31, v311, v5}) {
    CHECK(encoded(Pingreq{}, v) == std::string("\xC0\x00", 2));
    CHECK(encoded(Pingresp{}, v) == std::string("\xD0\x00", 2));
    CHECK(std::holds_alternative<Pingreq>(roundtrip(Pingreq{}, v)));
    CHECK(std::holds_alternative<Pingresp>(roundtrip(Pingresp{}, v)));
    CHECK(decode_body(0xC0, bytes({0x00}), v).error == ReasonCode::malformed_packet);
    CHECK(decode_body(0xD0, bytes({0x00}), v).error == ReasonCode::malformed_packet);
    CHECK(decode_body(0xC1, bytes({}), v).error == ReasonCode::malformed_packet);
    CHECK(decode_body(0xD8, bytes({}), v).error == ReasonCode::malformed_packet);
  }
}

TEST_CASE("disconnect: forms per version") {
  CHECK(encoded(Disconnect{}, v311) == std::string("\xE0\x00", 2));
  CHECK(encoded(Disconnect{0x8E, allowed_properties(PropertyContext::disconnect)}, v311) ==
        std::string("\xE0\x00", 2));
  CHECK(encoded(Disconnect{}, v5) == std::string("\xE0\x00", 2));
  CHECK(encoded(Disconnect{0x04, {}}, v5) == std::string("\xE0\x01\x04", 3));
  Disconnect with_reason_string{0, {}};
  with_reason_string.properties.reason_string = "r";
  CHECK(encoded(with_reason_string, v5) == std::string("\xE0\x06\x00\x04\x1F\x00\x01r", 8));
  const Disconnect full{0x8B, allowed_properties(PropertyContext::disconnect)};
  CHECK(std::get<Disconnect>(roundtrip(full, v5)) == full);
  CHECK(std::get<Disconnect>(roundtrip(Disconnect{0x04, {}}, v5)) == Disconnect{0x04, {}});
  CHECK(std::get<Disconnect>(roundtrip(Disconnect{}, v311)) == Disconnect{});

  CHECK(decode_body(0xE0, bytes({0x00}), v311).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0xE1, bytes({}), v5).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0xE0, bytes({0x00, 0x00}), v5).ok());
  CHECK(decode_body(0xE0, bytes({0x00, 0x00, 0x00}), v5).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0xE0, bytes({0x05}), v5).error == ReasonCode::malformed_packet);  // not a code
  CHECK(decode_body(0xE0, bytes({0x84}), v5).error ==
        ReasonCode::malformed_packet);  // CONNACK-only
  CHECK(decode_body(0xE0, bytes({0x00, 0x02, 0x01, 0x01}), v5).error ==
        ReasonCode::malformed_packet);  // payload format indicator not allowed here
  CHECK(decode_body(0xE0, bytes({0x00, 0x05}), v5).error == ReasonCode::malformed_packet);
}

TEST_CASE("auth: MQTT 5 only") {
  CHECK(encoded(Auth{}, v5) == std::string("\xF0\x00", 2));
  CHECK(encoded(Auth{0x18, {}}, v5) == std::string("\xF0\x01\x18", 3));
  const Auth full{0x18, allowed_properties(PropertyContext::auth)};
  CHECK(std::get<Auth>(roundtrip(full, v5)) == full);
  CHECK(std::get<Auth>(roundtrip(Auth{0x19, {}}, v5)) == Auth{0x19, {}});
  CHECK(std::get<Auth>(roundtrip(Auth{}, v5)) == Auth{});
  CHECK_THROWS_AS(encoded(Auth{}, v311), std::invalid_argument);

  for (ProtocolVersion v : {ProtocolVersion::v31, v311}) {
    const DecodeResult r = decode_body(0xF0, bytes({}), v);
    CHECK(r.error == ReasonCode::malformed_packet);
    CHECK_FALSE(r.detail.empty());
  }
  CHECK(decode_body(0xF1, bytes({}), v5).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0xF0, bytes({0x87}), v5).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0xF0, bytes({0x18, 0x03, 0x11, 0, 0}), v5).error ==
        ReasonCode::malformed_packet);  // truncated session expiry, and not allowed
  CHECK(decode_body(0xF0, bytes({0x18, 0x04, 0x16, 0x00, 0x01, 0xFF}), v5).ok());
  CHECK(decode_body(0xF0, bytes({0x18, 0x00, 0x00}), v5).error == ReasonCode::malformed_packet);
}

TEST_CASE("fixed header: reserved packet type 0") {
  for (ProtocolVersion v : {ProtocolVersion::v31, v311, v5}) {
    for (int flags = 0; flags < 16; ++flags) {
      const DecodeResult r = decode_body(static_cast<uint8_t>(flags), bytes({}), v);
      CHECK(r.error == ReasonCode::malformed_packet);
      CHECK_FALSE(r.detail.empty());
    }
  }
}

TEST_CASE("fixed header: reserved flags of every type except PUBLISH") {
  for (int type = 1; type <= 15; ++type) {
    if (type == 3) continue;
    const int required = (type == 6 || type == 8 || type == 10) ? 2 : 0;
    for (int flags = 0; flags < 16; ++flags) {
      if (flags == required) continue;
      CAPTURE(type);
      CAPTURE(flags);
      // Whatever the body, wrong flags are malformed, and the packet is typed.
      const DecodeResult r =
          decode_body(static_cast<uint8_t>(type << 4 | flags), bytes({0, 1}), v5);
      CHECK(r.error == ReasonCode::malformed_packet);
      CHECK(static_cast<int>(packet_type(r.packet)) == type);
    }
  }
}

TEST_CASE("packet_type and encoded_size of every packet") {
  CHECK(packet_type(Packet{PubResponse{PacketType::pubcomp, 1, 0, {}}}) == PacketType::pubcomp);
  CHECK(packet_type(Packet{Unsuback{}}) == PacketType::unsuback);
  CHECK(packet_type(Packet{Auth{}}) == PacketType::auth);
  CHECK(encoded_size(Packet{Pingreq{}}, v311) == 2);
  CHECK(encoded_size(Packet{Disconnect{0x04, {}}}, v5) == 3);
}

}  // namespace codec_test
