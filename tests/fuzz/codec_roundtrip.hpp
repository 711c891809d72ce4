// The body of the two codec fuzz targets (fuzz_codec_v311.cpp, fuzz_codec_v5.cpp):
// arbitrary bytes are a client's stream, framed by FrameReader and decoded
// frame by frame under one protocol version, the way a connection does.
//
// What must hold, and is checked (a failure aborts, which libFuzzer records):
//  - Framing does not depend on how the stream was split into socket reads:
//    feeding it all at once and in small prepare()/commit() chunks yields the
//    same frames and the same final status; errors are sticky.
//  - No frame exceeds the maximum packet size; a decode error always has a
//    detail and success never has one; the decoded alternative matches the
//    packet type of the fixed header.
//  - Every packet that decodes OK re-encodes without throwing, to exactly
//    encoded_size() bytes, as one frame that decodes OK to an equal packet,
//    and encoding that packet again gives the same bytes.
//  - v5 only: such a packet also encodes for a 3.1.1 peer (check_as_v311).
// Deliberately not checked: that the re-encoding equals the original bytes.
// The encoder legitimately normalises (encoder.hpp): v5 PUBACK..PUBCOMP,
// DISCONNECT and AUTH with reason 0 and no properties take the short form,
// a v5 CONNACK always carries a Property Length (the decoder tolerates its
// absence), and properties are written in identifier order whatever order
// they arrived in. The other normalisations (v5 codes mapped for a 3.1.1
// CONNACK/SUBACK, DUP cleared at QoS 0, properties not allowed in the packet
// omitted, v5-only fields dropped before v5) concern packets the decoder
// refuses or fields it leaves at their defaults, so packet equality must hold.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "gateway/codec/decoder.hpp"
#include "gateway/codec/encoder.hpp"
#include "gateway/codec/frame_reader.hpp"
#include "tests/frame_reader_feed.hpp"

namespace tidegate::fuzz {

using namespace tidegate::mqtt;

// Small enough that the fuzzer reaches packet_too_large, large enough for
// packets with every property.
inline constexpr uint32_t max_packet_size = 2048;

inline void dump(const char* label, const uint8_t* data, std::size_t size) {
  std::fprintf(stderr, "%s (%zu bytes):", label, size);
  for (std::size_t i = 0; i < size; ++i) std::fprintf(stderr, " %02x", data[i]);
  std::fputc('\n', stderr);
}

[[noreturn]] inline void check_failed(const char* what, const char* file, int line) {
  std::fprintf(stderr, "fuzz check failed: %s at %s:%d\n", what, file, line);
  std::abort();
}

#define FUZZ_CHECK(cond) \
  do {                   \
    if (!(cond)) ::tidegate::fuzz::check_failed(#cond, __FILE__, __LINE__); \
  } while (0)

struct Framed {
  uint8_t first_byte;
  std::vector<uint8_t> body;
  std::size_t total_size;
  bool operator==(const Framed&) const = default;
};

struct Framing {
  std::vector<Framed> frames;
  FrameReader::Status end = FrameReader::Status::need_more;
  std::size_t buffered = 0;
};

// Takes every frame the reader has; returns the status that stopped it.
inline FrameReader::Status drain(FrameReader& reader, std::vector<Framed>& frames) {
  FrameReader::Frame f{};
  FrameReader::Status s;
  while ((s = reader.next(f)) == FrameReader::Status::frame) {
    frames.push_back({f.first_byte, {f.body.begin(), f.body.end()}, f.total_size});
  }
  return s;
}

inline Framing frame_at_once(const uint8_t* data, std::size_t size) {
  FrameReader reader(max_packet_size);
  feed(reader, {data, size});
  Framing out;
  out.end = drain(reader, out.frames);
  out.buffered = reader.buffered();
  return out;
}

// Socket reads of 1..16 bytes into a larger prepared span, the sizes drawn
// from the data itself so each input has one reproducible split.
inline Framing frame_in_chunks(const uint8_t* data, std::size_t size) {
  FrameReader reader(max_packet_size);
  Framing out;
  std::size_t pos = 0;
  for (std::size_t k = 0; pos < size; ++k) {
    const std::size_t want = 1 + ((data[(k * 31) % size] ^ k) & 0xF);
    const std::size_t n = std::min(want, size - pos);
    const std::span<uint8_t> space = reader.prepare(n + (k & 3));
    FUZZ_CHECK(space.size() == n + (k & 3));
    std::memcpy(space.data(), data + pos, n);
    reader.commit(n);
    pos += n;
    out.end = drain(reader, out.frames);
    if (out.end != FrameReader::Status::need_more) break;
  }
  if (out.end != FrameReader::Status::need_more && pos < size) {
    // Sticky: more bytes change nothing.
    const FrameReader::Status seen = out.end;
    feed(reader, {data + pos, size - pos});
    out.end = drain(reader, out.frames);
    FUZZ_CHECK(out.end == seen);
  }
  out.buffered = reader.buffered();
  return out;
}

inline bool type_known(uint8_t first_byte, ProtocolVersion version) {
  const uint8_t t = first_byte >> 4;
  return t >= 1 && (t <= 14 || version == ProtocolVersion::v5);
}

// Encodes a packet that decoded OK, checks the re-encoding decodes to the
// same packet, and returns the re-encoding.
inline std::string round_trip(const Packet& packet, ProtocolVersion version) {
  std::string wire = "prefix";  // encode() appends
  encode(packet, version, wire);
  wire.erase(0, 6);
  FUZZ_CHECK(wire.size() == encoded_size(packet, version));
  if (const auto* publish = std::get_if<Publish>(&packet)) {
    FUZZ_CHECK(wire.size() == encoded_size(*publish, version));
  }

  FrameReader reader(0);  // the re-encoding may be larger (CONNACK property length)
  feed(reader, {reinterpret_cast<const uint8_t*>(wire.data()), wire.size()});
  FrameReader::Frame f{};
  FUZZ_CHECK(reader.next(f) == FrameReader::Status::frame);
  FUZZ_CHECK(f.total_size == wire.size());
  FUZZ_CHECK(reader.buffered() == 0);

  const DecodeResult again = decode(f, version);
  if (!again.ok()) {
    std::fprintf(stderr, "re-encoding does not decode: %s\n", again.detail.c_str());
    dump("re-encoding", reinterpret_cast<const uint8_t*>(wire.data()), wire.size());
  }
  FUZZ_CHECK(again.ok());
  if (!(again.packet == packet)) {
    dump("re-encoding", reinterpret_cast<const uint8_t*>(wire.data()), wire.size());
  }
  FUZZ_CHECK(again.packet == packet);

  std::string twice;
  encode(again.packet, version, twice);
  FUZZ_CHECK(twice == wire);
  return wire;
}

// A v5 packet as a 3.1.1 peer receives it when the broker encodes it for
// v4 (encoder.hpp, packet.hpp): no properties, no v5-only subscription
// options, v5 reason codes mapped or dropped.
inline Packet as_v311(Packet packet) {
  std::visit(
      [](auto& p) {
        using P = std::decay_t<decltype(p)>;
        if constexpr (requires { p.properties; }) p.properties = {};
        if constexpr (std::is_same_v<P, Connack>) {
          if (p.reason_code >= 0x80) {
            p.reason_code = static_cast<uint8_t>(to_v311_connack(static_cast<ReasonCode>(p.reason_code)));
          }
        } else if constexpr (std::is_same_v<P, Suback>) {
          for (uint8_t& rc : p.reason_codes) rc = rc >= 0x80 ? uint8_t{0x80} : rc;
        } else if constexpr (std::is_same_v<P, Unsuback>) {
          p.reason_codes.clear();
        } else if constexpr (std::is_same_v<P, PubResponse> || std::is_same_v<P, Disconnect>) {
          p.reason_code = 0;
        } else if constexpr (std::is_same_v<P, Subscribe>) {
          for (SubscriptionRequest& s : p.subscriptions) s = {s.filter, s.qos};
        }
      },
      packet);
  return packet;
}

// The broker decodes a v5 client's packets and encodes them for 3.1.1
// clients (a PUBLISH above all). Every packet a v5 peer may send has a 3.1.1
// encoding, except AUTH (throws by contract) and CONNECT (always encoded at
// its own level); it decodes as 3.1.1 to the packet without its v5 parts,
// unless it is a PUBLISH whose topic is only a Topic Alias, which 3.1.1
// cannot express.
inline void check_as_v311(const Packet& packet) {
  if (std::holds_alternative<Auth>(packet) || std::holds_alternative<Connect>(packet)) return;
  std::string wire;
  encode(packet, ProtocolVersion::v311, wire);
  FUZZ_CHECK(wire.size() == encoded_size(packet, ProtocolVersion::v311));
  FrameReader reader(0);
  feed(reader, {reinterpret_cast<const uint8_t*>(wire.data()), wire.size()});
  FrameReader::Frame f{};
  FUZZ_CHECK(reader.next(f) == FrameReader::Status::frame);
  FUZZ_CHECK(reader.buffered() == 0);
  const DecodeResult r = decode(f, ProtocolVersion::v311);
  if (const auto* publish = std::get_if<Publish>(&packet); publish && publish->topic.empty()) {
    FUZZ_CHECK(!r.ok());
    return;
  }
  if (!r.ok()) {
    std::fprintf(stderr, "3.1.1 encoding of a v5 packet does not decode: %s\n", r.detail.c_str());
    dump("3.1.1 encoding", reinterpret_cast<const uint8_t*>(wire.data()), wire.size());
  }
  FUZZ_CHECK(r.ok());
  FUZZ_CHECK(r.packet == as_v311(packet));
}

inline void check_stream(const uint8_t* data, std::size_t size, ProtocolVersion version) {
  const Framing whole = frame_at_once(data, size);
  const Framing chunked = frame_in_chunks(data, size);
  FUZZ_CHECK(whole.frames == chunked.frames);
  FUZZ_CHECK(whole.end == chunked.end);
  FUZZ_CHECK(whole.buffered == chunked.buffered);

  std::size_t consumed = 0;
  for (const Framed& frame : whole.frames) {
    FUZZ_CHECK(frame.total_size <= max_packet_size);
    FUZZ_CHECK(frame.total_size > frame.body.size());
    consumed += frame.total_size;

    const DecodeResult r = decode(frame.first_byte, frame.body, version);
    FUZZ_CHECK(r.ok() == r.detail.empty());
    if (type_known(frame.first_byte, version)) {
      FUZZ_CHECK(static_cast<uint8_t>(packet_type(r.packet)) == frame.first_byte >> 4);
    }
    if (!r.ok()) continue;
    if (std::holds_alternative<Auth>(r.packet)) FUZZ_CHECK(version == ProtocolVersion::v5);
    round_trip(r.packet, version);
    if (version == ProtocolVersion::v5) check_as_v311(r.packet);
  }
  FUZZ_CHECK(consumed + whole.buffered == size);
}

}  // namespace tidegate::fuzz
