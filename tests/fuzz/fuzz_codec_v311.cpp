// libFuzzer target: an MQTT 3.1.1 client's byte stream through FrameReader,
// decode() and the encoder round trip. The checks are in codec_roundtrip.hpp.
#include "tests/fuzz/codec_roundtrip.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  tidegate::fuzz::check_stream(data, size, tidegate::mqtt::ProtocolVersion::v311);
  return 0;
}
