// FrameReader: framing across partial reads, remaining length rules, limits.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "gateway/codec/decoder.hpp"
#include "gateway/codec/encoder.hpp"
#include "gateway/codec/frame_reader.hpp"
#include "tests/frame_reader_feed.hpp"

#include "codec_samples.hpp"

namespace codec_test {

namespace {

using Status = FrameReader::Status;

void feed(FrameReader& reader, std::string_view data) {
  feed(reader, {reinterpret_cast<const uint8_t*>(data.data()), data.size()});
}

// Drains every complete frame, decoding each.
void drain(FrameReader& reader, ProtocolVersion v, std::vector<Packet>& out) {
  FrameReader::Frame frame{};
  Status s;
  while ((s = reader.next(frame)) == Status::frame) {
    DecodeResult r = decode(frame, v);
    REQUIRE_MESSAGE(r.ok(), r.detail);
    out.push_back(std::move(r.packet));
  }
  REQUIRE(s == Status::need_more);
}

std::string stream_of(const std::vector<Packet>& packets, ProtocolVersion v) {
  std::string wire;
  for (const Packet& p : packets) encode(p, v, wire);
  return wire;
}

}  // namespace

TEST_CASE("framing: one frame, then need_more") {
  FrameReader reader(1024);
  FrameReader::Frame frame{};
  CHECK(reader.next(frame) == Status::need_more);
  feed(reader, bytes({0xC0, 0x00}));
  CHECK(reader.buffered() == 2);
  REQUIRE(reader.next(frame) == Status::frame);
  CHECK(frame.first_byte == 0xC0);
  CHECK(frame.body.empty());
  CHECK(frame.total_size == 2);
  CHECK(reader.buffered() == 0);
  CHECK(reader.next(frame) == Status::need_more);
}

TEST_CASE("framing: several frames in one read") {
  FrameReader reader(1024);
  feed(reader, bytes({0xC0, 0x00, 0x40, 0x02, 0x00, 0x07, 0xD0, 0x00, 0x30}));
  FrameReader::Frame frame{};
  REQUIRE(reader.next(frame) == Status::frame);
  CHECK(frame.first_byte == 0xC0);
  REQUIRE(reader.next(frame) == Status::frame);
  CHECK(frame.first_byte == 0x40);
  CHECK(frame.body.size() == 2);
  CHECK(frame.body[1] == 0x07);
  CHECK(frame.total_size == 4);
  REQUIRE(reader.next(frame) == Status::frame);
  CHECK(frame.first_byte == 0xD0);
  CHECK(reader.next(frame) == Status::need_more);
  CHECK(reader.buffered() == 1);
  feed(reader, bytes({0x03, 0x00, 0x01, 'a'}));
  REQUIRE(reader.next(frame) == Status::frame);
  CHECK(frame.first_byte == 0x30);
  CHECK(frame.total_size == 5);
}

TEST_CASE("framing: a stream of every packet split at every byte position") {
  for (ProtocolVersion v : {ProtocolVersion::v311, ProtocolVersion::v5}) {
    CAPTURE(static_cast<int>(v));
    const std::vector<Packet> packets = sample_packets(v);
    const std::string wire = stream_of(packets, v);
    for (std::size_t split = 0; split <= wire.size(); ++split) {
      CAPTURE(split);
      FrameReader reader(0);
      std::vector<Packet> got;
      feed(reader, std::string_view(wire).substr(0, split));
      drain(reader, v, got);
      feed(reader, std::string_view(wire).substr(split));
      drain(reader, v, got);
      REQUIRE(got == packets);
      REQUIRE(reader.buffered() == 0);
    }
  }
}

TEST_CASE("framing: a stream fed one byte at a time through prepare/commit") {
  const ProtocolVersion v = ProtocolVersion::v5;
  const std::vector<Packet> packets = sample_packets(v);
  const std::string wire = stream_of(packets, v);
  FrameReader reader(0);
  std::vector<Packet> got;
  for (char c : wire) {
    std::span<uint8_t> space = reader.prepare(16);
    REQUIRE(space.size() == 16);
    space[0] = static_cast<uint8_t>(c);
    reader.commit(1);
    drain(reader, v, got);
  }
  CHECK(got == packets);
}

TEST_CASE("framing: reads of arbitrary sizes through prepare/commit") {
  const ProtocolVersion v = ProtocolVersion::v311;
  const std::vector<Packet> packets = sample_packets(v);
  const std::string wire = stream_of(packets, v);
  for (std::size_t chunk : {2u, 3u, 7u, 64u, 1000u}) {
    CAPTURE(chunk);
    FrameReader reader(0);
    std::vector<Packet> got;
    for (std::size_t pos = 0; pos < wire.size(); pos += chunk) {
      const std::size_t n = std::min(chunk, wire.size() - pos);
      std::span<uint8_t> space = reader.prepare(chunk);
      std::memcpy(space.data(), wire.data() + pos, n);
      reader.commit(n);
      drain(reader, v, got);
    }
    CHECK(got == packets);
  }
}

TEST_CASE("framing: commit beyond prepare is a programming error") {
  FrameReader reader(0);
  (void)reader.prepare(4);
  CHECK_THROWS_AS(reader.commit(5), std::logic_error);
}

TEST_CASE("framing: remaining length boundaries") {
  struct Case {
    Bytes header;
    std::size_t remaining;
  };
  const Case cases[] = {
      {bytes({0x30, 0x00}), 0},
      {bytes({0x30, 0x7F}), 127},
      {bytes({0x30, 0x80, 0x01}), 128},
      {bytes({0x30, 0xFF, 0x7F}), 16383},
      {bytes({0x30, 0x80, 0x80, 0x01}), 16384},
      {bytes({0x30, 0xFF, 0xFF, 0x7F}), 2097151},
      {bytes({0x30, 0x80, 0x80, 0x80, 0x01}), 2097152},
      {bytes({0x30, 0xFF, 0xFF, 0xFF, 0x7F}), 268435455},
  };
  for (const Case& c : cases) {
    CAPTURE(c.remaining);
    // Too large is reported from the header alone, so no body is needed.
    FrameReader limited(static_cast<uint32_t>(c.header.size() + c.remaining - 1));
    feed(limited, c.header);
    FrameReader::Frame frame{};
    if (c.remaining > 0) CHECK(limited.next(frame) == Status::packet_too_large);

    if (c.remaining <= 16384) {
      FrameReader reader(static_cast<uint32_t>(c.header.size() + c.remaining));
      feed(reader, c.header);
      if (c.remaining > 0) CHECK(reader.next(frame) == Status::need_more);
      feed(reader, Bytes(c.remaining, 'x'));
      REQUIRE(reader.next(frame) == Status::frame);
      CHECK(frame.body.size() == c.remaining);
      CHECK(frame.total_size == c.header.size() + c.remaining);
    } else {
      FrameReader reader(0);
      feed(reader, c.header);
      CHECK(reader.next(frame) == Status::need_more);
    }
  }
}

TEST_CASE("framing: malformed remaining length") {
  FrameReader::Frame frame{};
  SUBCASE("five bytes") {
    FrameReader reader(0);
    feed(reader, bytes({0x30, 0xFF, 0xFF, 0xFF, 0xFF}));
    CHECK(reader.next(frame) == Status::malformed_remaining_length);
    CHECK(reader.next(frame) == Status::malformed_remaining_length);  // sticky
  }
  SUBCASE("five bytes detected before the fifth arrives") {
    FrameReader reader(0);
    feed(reader, bytes({0x30, 0x80, 0x80, 0x80}));
    CHECK(reader.next(frame) == Status::need_more);
    feed(reader, bytes({0x80}));
    CHECK(reader.next(frame) == Status::malformed_remaining_length);
  }
  SUBCASE("non-minimal encodings") {
    for (const Bytes& b :
         {bytes({0x30, 0x80, 0x00}), bytes({0x30, 0x81, 0x00}), bytes({0x30, 0xFF, 0x80, 0x00}),
          bytes({0x30, 0x80, 0x80, 0x80, 0x00})}) {
      FrameReader reader(0);
      feed(reader, b);
      CHECK(reader.next(frame) == Status::malformed_remaining_length);
    }
  }
}

TEST_CASE("framing: packet too large counts the fixed header") {
  FrameReader::Frame frame{};
  const Bytes publish = bytes({0x30, 0x08}) + bytes({0x00, 0x01, 't'}) + raw("hello");  // 10 bytes
  {
    FrameReader reader(10);
    feed(reader, publish);
    CHECK(reader.next(frame) == Status::frame);
  }
  {
    FrameReader reader(9);
    feed(reader, bytes({0x30, 0x08}));  // header only
    CHECK(reader.next(frame) == Status::packet_too_large);
  }
}

TEST_CASE("framing: a large frame then small ones reuse the buffer") {
  const std::string big = encoded(Publish{"big", std::string(200000, 'b'), 0, false, false, 0, {}},
                                  ProtocolVersion::v311);
  FrameReader reader(0);
  feed(reader, big);
  FrameReader::Frame frame{};
  REQUIRE(reader.next(frame) == Status::frame);
  CHECK(frame.total_size == big.size());
  CHECK(reader.next(frame) == Status::need_more);
  feed(reader, bytes({0xC0, 0x00}));
  REQUIRE(reader.next(frame) == Status::frame);
  CHECK(frame.first_byte == 0xC0);
}

}  // namespace codec_test

namespace codec_test {

TEST_CASE("FrameReader: release_if_empty frees an empty buffer and keeps a partial frame") {
  FrameReader reader(0);
  std::vector<Packet> got;
  std::string wire = stream_of({Pingreq{}, Pingreq{}}, ProtocolVersion::v5);

  SUBCASE("everything read: the next prepare() starts afresh and frames keep coming") {
    feed(reader, wire);
    drain(reader, ProtocolVersion::v5, got);
    reader.release_if_empty();
    CHECK(reader.buffered() == 0);
    feed(reader, wire);
    drain(reader, ProtocolVersion::v5, got);
    CHECK(got.size() == 4);
  }
  SUBCASE("half a packet buffered: nothing is dropped") {
    feed(reader, wire.substr(0, 3));  // one PINGREQ and the first byte of the next
    drain(reader, ProtocolVersion::v5, got);
    reader.release_if_empty();
    CHECK(reader.buffered() == 1);
    feed(reader, wire.substr(3));
    drain(reader, ProtocolVersion::v5, got);
    CHECK(got.size() == 2);
  }
}

TEST_CASE("FrameReader: incomplete_frame_size tells how large the packet being read is") {
  FrameReader reader(0);
  Publish p;
  p.topic = "t";
  p.payload = std::string(5000, 'x');
  std::string wire = stream_of({p}, ProtocolVersion::v311);
  FrameReader::Frame frame{};
  feed(reader, wire.substr(0, 1));  // the remaining length has not arrived
  CHECK(reader.next(frame) == Status::need_more);
  CHECK(reader.incomplete_frame_size() == 0);
  feed(reader, wire.substr(1, 100));
  CHECK(reader.next(frame) == Status::need_more);
  CHECK(reader.incomplete_frame_size() == wire.size());
  feed(reader, wire.substr(101));
  CHECK(reader.next(frame) == Status::frame);
  CHECK(reader.next(frame) == Status::need_more);
  CHECK(reader.incomplete_frame_size() == 0);
}

}  // namespace codec_test
