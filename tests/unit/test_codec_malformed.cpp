// Robustness across all packet types: left-over bytes, truncation at every
// length and byte mutations never crash and always explain an error.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "gateway/codec/decoder.hpp"
#include "gateway/codec/encoder.hpp"

#include "codec_samples.hpp"

namespace codec_test {

namespace {

struct Split {
  uint8_t first_byte;
  Bytes body;
};

Split split(const std::string& wire) {
  std::size_t i = 1;
  while (static_cast<uint8_t>(wire[i]) & 0x80) ++i;
  return {static_cast<uint8_t>(wire[0]),
          Bytes(wire.begin() + static_cast<std::ptrdiff_t>(i + 1), wire.end())};
}

void check_explained(const DecodeResult& r) {
  if (!r.ok()) CHECK_FALSE(r.detail.empty());
  if (r.ok()) CHECK(r.detail.empty());
}

const ProtocolVersion versions[] = {ProtocolVersion::v31, ProtocolVersion::v311,
                                    ProtocolVersion::v5};

}  // namespace

TEST_CASE("malformed: bytes left over after any packet but PUBLISH") {
  for (ProtocolVersion v : versions) {
    for (const Packet& p : sample_packets(v)) {
      if (std::holds_alternative<Publish>(p)) continue;  // the payload takes the rest
      Split s = split(encoded(p, v));
      s.body.push_back(0xFF);
      CAPTURE(to_string(packet_type(p)));
      CAPTURE(static_cast<int>(v));
      const DecodeResult r = decode(s.first_byte, s.body, v);
      CHECK(r.error == ReasonCode::malformed_packet);
      CHECK_FALSE(r.detail.empty());
    }
  }
}

TEST_CASE("malformed: every truncation of every packet is handled") {
  for (ProtocolVersion v : versions) {
    for (const Packet& p : sample_packets(v)) {
      const Split s = split(encoded(p, v));
      for (std::size_t n = 0; n < s.body.size(); ++n) {
        const Bytes prefix(s.body.begin(), s.body.begin() + static_cast<std::ptrdiff_t>(n));
        const DecodeResult r = decode(s.first_byte, prefix, v);
        check_explained(r);
        // Only abbreviated forms, PUBLISH payloads and lists cut at an
        // element boundary may decode when cut.
        if (r.ok()) {
          const PacketType t = packet_type(r.packet);
          const bool list = t == PacketType::subscribe || t == PacketType::suback ||
                            t == PacketType::unsubscribe || t == PacketType::unsuback;
          const bool abbreviated = t == PacketType::disconnect || t == PacketType::auth ||
                                   t == PacketType::connack ||
                                   (t >= PacketType::puback && t <= PacketType::pubcomp);
          const bool may =
              t == PacketType::publish || list || (v == ProtocolVersion::v5 && abbreviated);
          CAPTURE(std::string(to_string(t)));
          CAPTURE(n);
          CHECK(may);
        }
      }
    }
  }
}

TEST_CASE("malformed: byte mutations never crash") {
  // Deterministic, so failures reproduce.
  uint32_t seed = 12345;
  const auto rnd = [&seed]() {
    seed = seed * 1664525u + 1013904223u;
    return seed >> 8;
  };
  for (ProtocolVersion v : versions) {
    for (const Packet& p : sample_packets(v)) {
      const Split s = split(encoded(p, v));
      for (std::size_t i = 0; i < s.body.size(); ++i) {
        for (uint8_t value : {uint8_t(0x00), uint8_t(0xFF), uint8_t(s.body[i] ^ 0x80),
                              uint8_t(s.body[i] + 1), static_cast<uint8_t>(rnd())}) {
          Bytes mutated = s.body;
          mutated[i] = value;
          check_explained(decode(s.first_byte, mutated, v));
        }
      }
      for (int k = 0; k < 16; ++k) {
        const auto first = static_cast<uint8_t>((s.first_byte & 0xF0) | (rnd() & 0x0F));
        check_explained(decode(first, s.body, v));
      }
    }
  }
}

}  // namespace codec_test
