#pragma once
// Fixtures shared by the codec unit tests, defined in test_codec_samples.cpp.
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/codec/decoder.hpp"
#include "gateway/codec/encoder.hpp"
#include "gateway/codec/properties.hpp"

namespace codec_test {
using namespace tidegate::mqtt;
using Bytes = std::vector<uint8_t>;
inline constexpr auto v31 = ProtocolVersion::v31;
inline constexpr auto v311 = ProtocolVersion::v311;
inline constexpr auto v5 = ProtocolVersion::v5;
Bytes bytes(std::initializer_list<int> values);
Bytes raw(std::string_view s);
Bytes str(std::string_view s);
Bytes operator+(Bytes a, const Bytes& b);
std::string encoded(const Packet& packet, ProtocolVersion version);
DecodeResult decode_body(uint8_t first_byte, const Bytes& body, ProtocolVersion version);
Packet roundtrip(const Packet& packet, ProtocolVersion version);
Properties allowed_properties(PropertyContext ctx);
std::vector<Packet> sample_packets(ProtocolVersion version);
Properties every_property();
}  // namespace codec_test
