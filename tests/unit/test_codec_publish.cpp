// PUBLISH and its acknowledgements PUBACK, PUBREC, PUBREL, PUBCOMP.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "gateway/codec/decoder.hpp"
#include "gateway/codec/encoder.hpp"

#include "codec_samples.hpp"

namespace codec_test {

TEST_CASE("publish: round trip of every flag combination") {
  for (ProtocolVersion v : {ProtocolVersion::v31, v311, v5}) {
    for (uint8_t qos : {0, 1, 2}) {
      for (bool retain : {false, true}) {
        for (bool dup : {false, true}) {
          if (dup && qos == 0) continue;
          CAPTURE(static_cast<int>(v));
          CAPTURE(static_cast<int>(qos));
          Publish p{"a/b", "payload", qos, retain, dup, uint16_t(qos ? 1234 : 0), {}};
          if (v == v5) p.properties = allowed_properties(PropertyContext::publish);
          CHECK(std::get<Publish>(roundtrip(p, v)) == p);
        }
      }
    }
  }
}

TEST_CASE("publish: payloads of every remaining-length size class") {
  for (std::size_t n : {0u, 1u, 100u, 16384u, 2100000u}) {
    CAPTURE(n);
    std::string payload(n, '\0');
    for (std::size_t i = 0; i < n; i += 97) payload[i] = static_cast<char>(i);
    const Publish p{"t", payload, 1, false, false, 1, {}};
    CHECK(std::get<Publish>(roundtrip(p, v5)) == p);
    CHECK(encoded_size(p, v5) == encoded(p, v5).size());
    CHECK(encoded_size(p, v311) == encoded(p, v311).size());
  }
}

TEST_CASE("publish: exact bytes and encoded_size") {
  const Publish q1{"a/b", "hi", 1, false, false, 10, {}};
  CHECK(encoded(q1, v311) == std::string("\x32\x09\x00\x03"
                                         "a/b\x00\x0Ahi",
                                         11));
  CHECK(encoded(q1, v5) == std::string("\x32\x0A\x00\x03"
                                       "a/b\x00\x0A\x00hi",
                                       12));
  CHECK(encoded_size(q1, v311) == 11);
  CHECK(encoded_size(q1, v5) == 12);
  const Publish q0{"t", "", 0, true, false, 99, {}};  // packet id not written at QoS 0
  CHECK(encoded(q0, v311) == std::string("\x31\x03\x00\x01t", 5));
  Publish with_props = q0;
  with_props.properties.topic_alias = 1;
  with_props.properties.message_expiry_interval = 5;
  CHECK(encoded(with_props, v5) ==
        std::string("\x31\x0C\x00\x01t\x08\x02\x00\x00\x00\x05\x23\x00\x01", 14));
  CHECK(encoded_size(with_props, v5) == 14);
  CHECK(encoded_size(with_props, v311) == 5);  // properties dropped for 3.1.1
  // DUP is never written on QoS 0.
  CHECK(encoded(Publish{"t", "", 0, false, true, 0, {}}, v311)[0] == '\x30');
  CHECK_THROWS_AS(encoded(Publish{"t", "", 3, false, false, 1, {}}, v311), std::invalid_argument);
  CHECK_THROWS_AS(encoded(Publish{std::string(65536, 't'), "", 0, false, false, 0, {}}, v311),
                  std::length_error);
}

TEST_CASE("publish: fixed header flags") {
  const Bytes q0 = str("t") + raw("x");
  const Bytes q1 = str("t") + bytes({0, 1}) + raw("x");
  CHECK(decode_body(0x36, q1, v311).error == ReasonCode::malformed_packet);  // QoS 3
  CHECK(decode_body(0x37, q1, v5).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0x38, q0, v311).error == ReasonCode::malformed_packet);  // DUP on QoS 0
  CHECK(decode_body(0x39, q0, v311).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0x3A, q1, v311).ok());
  CHECK(decode_body(0x3D, q1, v311).ok());
}

TEST_CASE("publish: topic name rules") {
  for (ProtocolVersion v : {v311, v5}) {
    CAPTURE(static_cast<int>(v));
    const Bytes props = v == v5 ? bytes({0x00}) : Bytes{};
    for (const char* topic : {"a/+", "+", "#", "a/#", "a+b", "x#"}) {
      CAPTURE(topic);
      CHECK(decode_body(0x30, str(topic) + props, v).error == ReasonCode::topic_name_invalid);
    }
    CHECK(decode_body(0x30, bytes({0x00, 0x02, 'a', 0x00}) + props, v).error ==
          ReasonCode::malformed_packet);
    CHECK(decode_body(0x30, bytes({0x00, 0x02, 0xED, 0xA0}) + props, v).error ==
          ReasonCode::malformed_packet);
    CHECK(decode_body(0x30, str("$SYS/x") + props, v).ok());
  }
  // Empty topic: 3.1.1 never, v5 only with a Topic Alias.
  CHECK(decode_body(0x30, str("") + raw("x"), v311).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0x30, str("") + bytes({0x00}), v5).error == ReasonCode::protocol_error);
  const DecodeResult aliased = decode_body(0x30, str("") + bytes({0x03, 0x23, 0x00, 0x05}), v5);
  REQUIRE(aliased.ok());
  CHECK(std::get<Publish>(aliased.packet).properties.topic_alias == 5);
  const Publish by_alias{"", "data", 1, false, false, 3, [] {
                           Properties p;
                           p.topic_alias = 9;
                           return p;
                         }()};
  CHECK(std::get<Publish>(roundtrip(by_alias, v5)) == by_alias);
}

TEST_CASE("publish: packet identifier") {
  CHECK(decode_body(0x32, str("t") + bytes({0, 0}), v311).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0x34, str("t") + bytes({0, 0, 0}), v5).error == ReasonCode::protocol_error);
  CHECK(decode_body(0x32, str("t") + bytes({0}), v311).error == ReasonCode::malformed_packet);
  const DecodeResult r = decode_body(0x32, str("t") + bytes({0xFF, 0xFF}), v311);
  REQUIRE(r.ok());
  CHECK(std::get<Publish>(r.packet).packet_id == 0xFFFF);
}

TEST_CASE("publish: truncated and malformed bodies") {
  CHECK(decode_body(0x30, bytes({}), v311).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0x30, bytes({0x00}), v311).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0x30, bytes({0x00, 0x05, 'a'}), v311).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0x30, str("t"), v5).error == ReasonCode::malformed_packet);  // no props
  CHECK(decode_body(0x30, str("t") + bytes({0x05, 0x02}), v5).error ==
        ReasonCode::malformed_packet);
  CHECK(decode_body(0x30, str("t") + bytes({0x03, 0x11, 0, 0, 0, 0}), v5).error ==
        ReasonCode::malformed_packet);  // session expiry is not a PUBLISH property
  CHECK(decode_body(0x30, str("t") + bytes({0x03, 0x23, 0, 0}), v5).error ==
        ReasonCode::protocol_error);  // topic alias 0
  CHECK(decode_body(0x30, str("t") + bytes({0x04, 0x23, 0, 1, 0x23, 0, 2}), v5).error ==
        ReasonCode::malformed_packet);  // length 4 cuts the second alias
  CHECK(decode_body(0x30, str("t") + bytes({0x06, 0x23, 0, 1, 0x23, 0, 2}), v5).error ==
        ReasonCode::protocol_error);  // topic alias twice
  // In 3.1.1 the bytes after the topic are all payload.
  const DecodeResult r = decode_body(0x30, str("t") + bytes({0x03, 0x23, 0, 0}), v311);
  REQUIRE(r.ok());
  CHECK(std::get<Publish>(r.packet).payload == std::string("\x03\x23\x00\x00", 4));
}

TEST_CASE("pub responses: round trip and short forms") {
  const std::vector<PacketType> types = {PacketType::puback, PacketType::pubrec, PacketType::pubrel,
                                         PacketType::pubcomp};
  for (PacketType t : types) {
    CAPTURE(to_string(t));
    const uint8_t first =
        static_cast<uint8_t>((static_cast<uint8_t>(t) << 4) | (t == PacketType::pubrel ? 2 : 0));
    const PubResponse plain{t, 0x1234, 0, {}};
    const std::string short_form{static_cast<char>(first), 0x02, 0x12, 0x34};
    CHECK(encoded(plain, v311) == short_form);
    CHECK(encoded(plain, v5) == short_form);
    CHECK(std::get<PubResponse>(roundtrip(plain, v311)) == plain);
    CHECK(std::get<PubResponse>(roundtrip(plain, v5)) == plain);

    const uint8_t failure = (t == PacketType::pubrel || t == PacketType::pubcomp) ? 0x92 : 0x97;
    const PubResponse with_code{t, 1, failure, {}};
    CHECK(encoded(with_code, v5) ==
          std::string{static_cast<char>(first), 0x03, 0x00, 0x01, static_cast<char>(failure)});
    CHECK(std::get<PubResponse>(roundtrip(with_code, v5)) == with_code);
    CHECK(encoded(with_code, v311).size() == 4);  // 3.1.1 has no reason code

    const PubResponse with_props{t, 2, 0, allowed_properties(property_context(t))};
    CHECK(std::get<PubResponse>(roundtrip(with_props, v5)) == with_props);
    CHECK(encoded(with_props, v5)[4] == 0);  // reason code written before properties

    // Properties the type may not carry are dropped, so the short form stays.
    PubResponse stray{t, 3, 0, {}};
    stray.properties.topic_alias = 1;
    CHECK(encoded(stray, v5).size() == 4);

    // Decoding.
    CHECK(decode_body(first, bytes({0x00, 0x01, 0x00}), v311).error ==
          ReasonCode::malformed_packet);  // 3.1.1 is exactly 2 bytes
    CHECK(decode_body(first, bytes({0x00}), v5).error == ReasonCode::malformed_packet);
    CHECK(decode_body(first, bytes({0x00, 0x00}), v311).error == ReasonCode::malformed_packet);
    CHECK(decode_body(first, bytes({0x00, 0x00}), v5).error == ReasonCode::protocol_error);
    CHECK(decode_body(first, bytes({0x00, 0x01, 0x00, 0x00}), v5).ok());
    CHECK(decode_body(first, bytes({0x00, 0x01, 0x00, 0x00, 0x00}), v5).error ==
          ReasonCode::malformed_packet);  // left over
    CHECK(decode_body(first, bytes({0x00, 0x01, 0x00, 0x01}), v5).error ==
          ReasonCode::malformed_packet);  // property length beyond the packet
    CHECK(decode_body(first, bytes({0x00, 0x01, 0x00, 0x03, 0x23, 0x00, 0x01}), v5).error ==
          ReasonCode::malformed_packet);  // topic alias not allowed here
    CHECK(decode_body(first, bytes({0x00, 0x01, 0x01}), v5).error ==
          ReasonCode::malformed_packet);  // not a reason code of this packet
    CHECK(decode_body(static_cast<uint8_t>(first ^ 0x02), bytes({0x00, 0x01}), v311).error ==
          ReasonCode::malformed_packet);  // reserved flags
    CHECK(decode_body(static_cast<uint8_t>(first | 0x01), bytes({0x00, 0x01}), v5).error ==
          ReasonCode::malformed_packet);
  }
  // Reason codes specific to each pair.
  CHECK(decode_body(0x40, bytes({0x00, 0x01, 0x10}), v5).ok());
  CHECK(decode_body(0x40, bytes({0x00, 0x01, 0x92}), v5).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0x62, bytes({0x00, 0x01, 0x92}), v5).ok());
  CHECK(decode_body(0x62, bytes({0x00, 0x01, 0x10}), v5).error == ReasonCode::malformed_packet);
  CHECK_THROWS_AS(encoded(PubResponse{PacketType::suback, 1, 0, {}}, v5), std::invalid_argument);
}

}  // namespace codec_test

namespace codec_test {

TEST_CASE("publish view: the same bytes and size as the equivalent Publish") {
  for (ProtocolVersion v : {ProtocolVersion::v31, v311, v5}) {
    for (uint8_t qos : {0, 1, 2}) {
      for (bool with_props : {false, true}) {
        CAPTURE(static_cast<int>(v));
        CAPTURE(static_cast<int>(qos));
        CAPTURE(with_props);
        Publish p{"sensors/room-17/temperature", std::string(300, 'x'), qos, true, qos > 0, uint16_t(qos ? 77 : 0), {}};
        if (with_props) p.properties = allowed_properties(PropertyContext::publish);
        const PublishView view{p.topic, p.payload, p.qos, p.retain, p.dup, p.packet_id,
                               with_props ? &p.properties : nullptr};
        std::string out = "prefix";  // appends, like encode(Packet)
        encode(view, v, out);
        CHECK(out == "prefix" + encoded(p, v));
        CHECK(encoded_size(view, v) == encoded(p, v).size());
      }
    }
  }
}

TEST_CASE("pub response: direct encode matches the Packet encode") {
  for (ProtocolVersion v : {v311, v5}) {
    for (uint8_t rc : {0, 0x97}) {
      const PubResponse r{PacketType::pubrec, 0x1234, rc, {}};
      std::string out;
      encode(r, v, out);
      CHECK(out == encoded(r, v));
      CHECK(encoded_size(r, v) == out.size());
    }
  }
}

}  // namespace codec_test
