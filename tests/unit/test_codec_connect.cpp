// CONNECT and CONNACK for MQTT 3.1, 3.1.1 and 5.0; reason code helpers.
#include <doctest/doctest.h>

#include <string>
#include <system_error>
#include <vector>

#include "gateway/codec/decoder.hpp"
#include "gateway/codec/encoder.hpp"

#include "codec_samples.hpp"

namespace codec_test {

namespace {


// A CONNECT body: protocol name, level, flags, keep alive 60, [v5 properties],
// then `payload`.
Bytes connect_body(std::string_view name, int level, int flags, const Bytes& payload) {
  Bytes b = str(name) + bytes({level, flags, 0x00, 0x3C});
  if (level == 5) b = b + bytes({0x00});
  return b + payload;
}

ReasonCode connect_error(const Bytes& body) { return decode_body(0x10, body, v311).error; }

}  // namespace

TEST_CASE("connect: round trip in every version") {
  for (ProtocolVersion v : {v31, v311, v5}) {
    CAPTURE(static_cast<int>(v));
    const bool is_v5 = v == v5;
    Connect c;
    c.version = v;
    c.protocol_name = v == v31 ? "MQIsdp" : "MQTT";
    c.clean_start = true;
    c.keep_alive = 0xFFFF;
    c.client_id = "dev-\xC3\xA9";
    c.will = Will{"w/t", std::string("\0\xFF", 2), 1, false,
                  is_v5 ? allowed_properties(PropertyContext::will) : Properties{}};
    c.username = "";
    c.password = "";
    if (is_v5) c.properties = allowed_properties(PropertyContext::connect);
    // CONNECT carries its own version: the argument is ignored both ways.
    const Packet back = roundtrip(c, v == v5 ? v311 : v5);
    CHECK(std::get<Connect>(back) == c);

    Connect bare;
    bare.version = v;
    bare.protocol_name = c.protocol_name;
    bare.clean_start = false;
    CHECK(std::get<Connect>(roundtrip(bare, v)) == bare);

    for (uint8_t qos : {0, 1, 2}) {
      for (bool retain : {false, true}) {
        Connect w = bare;
        w.will = Will{"t", "p", qos, retain, {}};
        CHECK(std::get<Connect>(roundtrip(w, v)) == w);
      }
    }
  }
}

TEST_CASE("connect: encoder fills in the protocol name") {
  Connect c;
  c.version = v31;
  CHECK(std::get<Connect>(roundtrip(c, v31)).protocol_name == "MQIsdp");
  c.version = v5;
  CHECK(std::get<Connect>(roundtrip(c, v5)).protocol_name == "MQTT");
}

TEST_CASE("connect: exact 3.1.1 bytes") {
  Connect c;
  c.version = v311;
  c.client_id = "id";
  c.keep_alive = 10;
  c.username = "u";
  c.password = "p";
  c.will = Will{"w", "x", 1, true, {}};
  const std::string expected = std::string("\x10\x1A\x00\x04MQTT\x04\xEE\x00\x0A", 12) +
                               std::string("\x00\x02id\x00\x01w\x00\x01x\x00\x01u\x00\x01p", 16);
  CHECK(encoded(c, v311) == expected);
}

TEST_CASE("connect: unsupported protocol name or level") {
  struct Case {
    const char* name;
    int level;
  };
  for (const Case& c : {Case{"MQTT", 3}, Case{"MQTT", 6}, Case{"MQTT", 0}, Case{"MQIsdp", 4},
                        Case{"MQIsdp", 5}, Case{"mqtt", 4}, Case{"MQTX", 5}, Case{"", 4}}) {
    CAPTURE(c.name);
    CAPTURE(c.level);
    const DecodeResult r =
        decode_body(0x10, str(c.name) + bytes({c.level, 0x02, 0, 0}) + str("id"), v5);
    CHECK(r.error == ReasonCode::unsupported_protocol_version);
    const auto& p = std::get<Connect>(r.packet);
    CHECK(static_cast<int>(p.version) == c.level);  // raw level, to pick the CONNACK format
    CHECK(p.protocol_name == c.name);
    CHECK(to_v311_connack(r.error) == ConnectReturnCode::unacceptable_protocol_version);
  }
  // Truncated before the level: malformed, not unsupported.
  CHECK(connect_error(str("MQTT")) == ReasonCode::malformed_packet);
  CHECK(connect_error(bytes({0x00, 0x04, 'M', 'Q'})) == ReasonCode::malformed_packet);
  CHECK(connect_error(bytes({0x00, 0x02, 0xC0, 0x80, 4})) == ReasonCode::malformed_packet);
}

TEST_CASE("connect: flag rules") {
  const Bytes id = str("c");
  for (int level : {3, 4, 5}) {
    CAPTURE(level);
    const char* name = level == 3 ? "MQIsdp" : "MQTT";
    const auto err = [&](int flags, const Bytes& payload) {
      return connect_error(connect_body(name, level, flags, payload));
    };
    CHECK(err(0x02, id) == ReasonCode::success);
    CHECK(err(0x03, id) == ReasonCode::malformed_packet);  // reserved bit
    CHECK(err(0x01, id) == ReasonCode::malformed_packet);
    CHECK(err(0x08, id) == ReasonCode::malformed_packet);  // will QoS 1, no will
    CHECK(err(0x10, id) == ReasonCode::malformed_packet);  // will QoS 2, no will
    CHECK(err(0x20, id) == ReasonCode::malformed_packet);  // will retain, no will
    const Bytes will = level == 5 ? bytes({0x00}) + str("w") + str("x") : str("w") + str("x");
    CHECK(err(0x04 | 0x18, id + will) == ReasonCode::malformed_packet);  // will QoS 3
    CHECK(err(0x04 | 0x10 | 0x20, id + will) == ReasonCode::success);
    // Password without user name: 3.1 and 3.1.1 forbid it, MQTT 5 allows it.
    const ReasonCode pw_only = err(0x40, id + str("pw"));
    CHECK(pw_only == (level == 5 ? ReasonCode::success : ReasonCode::malformed_packet));
    CHECK(err(0xC0, id + str("u") + str("pw")) == ReasonCode::success);
    // Flags promise fields that are missing, or bytes are left over.
    CHECK(err(0x80, id) == ReasonCode::malformed_packet);
    CHECK(err(0x04, id) == ReasonCode::malformed_packet);
    CHECK(err(0x02, id + bytes({0})) == ReasonCode::malformed_packet);
  }
}

TEST_CASE("connect: strings and topics") {
  const auto err = [](const Bytes& payload, int flags = 0x02) {
    return connect_error(connect_body("MQTT", 4, flags, payload));
  };
  CHECK(err(str("")) == ReasonCode::success);  // empty client id: the server decides
  CHECK(err(bytes({0x00, 0x01, 0x00})) == ReasonCode::malformed_packet);
  CHECK(err(bytes({0x00, 0x02, 0xC3, 0x28})) == ReasonCode::malformed_packet);
  CHECK(err(str("c") + bytes({0x00, 0x01, 0xFF}), 0x80) == ReasonCode::malformed_packet);
  CHECK(err(str("c") + bytes({0x00, 0x01, 0x00}) + str("x"), 0x04) == ReasonCode::malformed_packet);
  // Binary password and will payload take any byte.
  CHECK(err(str("c") + str("u") + bytes({0x00, 0x02, 0x00, 0xFF}), 0xC0) == ReasonCode::success);
  CHECK(err(str("c") + str("w") + bytes({0x00, 0x01, 0x00}), 0x04) == ReasonCode::success);
  // Will topic must be a valid topic name.
  CHECK(err(str("c") + str("w/+") + str("x"), 0x04) == ReasonCode::topic_name_invalid);
  CHECK(err(str("c") + str("#") + str("x"), 0x04) == ReasonCode::topic_name_invalid);
  CHECK(err(str("c") + str("") + str("x"), 0x04) == ReasonCode::topic_name_invalid);
}

TEST_CASE("connect: MQTT 5 properties") {
  const auto err = [](const Bytes& props, const Bytes& will_props = {}) {
    Bytes body =
        str("MQTT") + bytes({5, will_props.empty() ? 0x02 : 0x06, 0, 0}) + props + str("c");
    if (!will_props.empty()) body = body + will_props + str("w") + str("x");
    return connect_error(body);
  };
  CHECK(err(bytes({0x00})) == ReasonCode::success);
  CHECK(err(bytes({0x03, 0x21, 0x00, 0x10})) == ReasonCode::success);
  CHECK(err(bytes({0x03, 0x23, 0x00, 0x01})) == ReasonCode::malformed_packet);  // topic alias
  CHECK(err(bytes({0x05, 0x18, 0, 0, 0, 1})) == ReasonCode::malformed_packet);  // will delay
  CHECK(err(bytes({0x03, 0x21, 0x00, 0x00})) == ReasonCode::protocol_error);    // receive max 0
  CHECK(err(bytes({0x04, 0x16, 0x00, 0x01, 'x'})) ==
        ReasonCode::protocol_error);  // data, no method
  CHECK(err(bytes({0x08, 0x15, 0x00, 0x01, 'm', 0x16, 0x00, 0x01, 'x'})) == ReasonCode::success);
  CHECK(err(bytes({0x04, 0x11, 0, 0})) == ReasonCode::malformed_packet);  // truncated value
  CHECK(err(bytes({0x00}), bytes({0x05, 0x18, 0, 0, 0, 1})) == ReasonCode::success);
  CHECK(err(bytes({0x00}), bytes({0x03, 0x23, 0, 1})) == ReasonCode::malformed_packet);
  CHECK(err(bytes({0x00}), bytes({0x02, 0x01, 0x02})) == ReasonCode::protocol_error);
  CHECK(err(bytes({0x00}), bytes({0x04, 0x08, 0, 1, '#'})) == ReasonCode::protocol_error);
}

TEST_CASE("connect: every truncation of a full CONNECT is malformed") {
  for (ProtocolVersion v : {v311, v5}) {
    Connect c;
    c.version = v;
    c.client_id = "cid";
    c.will = Will{"w", "payload", 1, false,
                  v == v5 ? allowed_properties(PropertyContext::will) : Properties{}};
    c.username = "u";
    c.password = "p";
    if (v == v5) c.properties = allowed_properties(PropertyContext::connect);
    const std::string wire = encoded(c, v);
    // Body = everything after the fixed header.
    const std::size_t fixed = (static_cast<uint8_t>(wire[1]) & 0x80) ? 3 : 2;
    const Bytes full(wire.begin() + static_cast<std::ptrdiff_t>(fixed), wire.end());
    REQUIRE(decode_body(0x10, full, v).ok());
    for (std::size_t n = 0; n < full.size(); ++n) {
      CAPTURE(n);
      const Bytes prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
      const DecodeResult r = decode_body(0x10, prefix, v);
      CHECK(r.error == ReasonCode::malformed_packet);
      CHECK_FALSE(r.detail.empty());
    }
  }
}

TEST_CASE("connect: fixed header flags must be 0") {
  const Bytes body = connect_body("MQTT", 4, 0x02, str("c"));
  for (int flags = 1; flags < 16; ++flags) {
    CHECK(decode_body(static_cast<uint8_t>(0x10 | flags), body, v311).error ==
          ReasonCode::malformed_packet);
  }
}

TEST_CASE("connack: round trip and exact bytes") {
  CHECK(encoded(Connack{true, 0, {}}, v311) == std::string("\x20\x02\x01\x00", 4));
  CHECK(encoded(Connack{false, 5, {}}, v311) == std::string("\x20\x02\x00\x05", 4));
  CHECK(encoded(Connack{false, 0x85, {}}, v5) == std::string("\x20\x03\x00\x85\x00", 5));
  for (uint8_t rc = 0; rc <= 5; ++rc) {
    const Connack c{rc == 0, rc, {}};
    CHECK(std::get<Connack>(roundtrip(c, v311)) == c);
    CHECK(std::get<Connack>(roundtrip(c, v31)) == c);
  }
  const Connack full{true, 0, allowed_properties(PropertyContext::connack)};
  CHECK(std::get<Connack>(roundtrip(full, v5)) == full);
  // v5 properties are not written for 3.1.1.
  CHECK(encoded(full, v311) == std::string("\x20\x02\x01\x00", 4));
}

TEST_CASE("connack: v5 reason codes are mapped for 3.1.1 clients") {
  const auto wire_rc = [](uint8_t rc) {
    return static_cast<int>(static_cast<uint8_t>(encoded(Connack{false, rc, {}}, v311)[3]));
  };
  CHECK(wire_rc(0x84) == 1);
  CHECK(wire_rc(0x85) == 2);
  CHECK(wire_rc(0x88) == 3);
  CHECK(wire_rc(0x89) == 3);
  CHECK(wire_rc(0x86) == 4);
  CHECK(wire_rc(0x87) == 5);
  CHECK(wire_rc(0x80) == 3);
  CHECK(wire_rc(0x9F) == 3);
}

TEST_CASE("connack: malformed") {
  CHECK(decode_body(0x20, bytes({0x02, 0x00}), v311).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0x20, bytes({0x00, 0x06}), v311).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0x20, bytes({0x00}), v311).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0x20, bytes({0x00, 0x00, 0x00}), v311).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0x21, bytes({0x00, 0x00}), v311).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0x20, bytes({0x00, 0x01, 0x00}), v5).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0x20, bytes({0x00, 0x8B, 0x00}), v5).error == ReasonCode::malformed_packet);
  CHECK(decode_body(0x20, bytes({0x00, 0x00, 0x03, 0x23, 0, 1}), v5).error ==
        ReasonCode::malformed_packet);
  // Tolerated: a v5 CONNACK without a property length.
  CHECK(decode_body(0x20, bytes({0x01, 0x00}), v5).ok());
  CHECK(decode_body(0x20, bytes({0x00, 0x9F, 0x00}), v5).ok());
}

TEST_CASE("reason codes: names, 3.1.1 mapping and error_code") {
  CHECK(std::string(to_string(ReasonCode::malformed_packet)) == "malformed_packet");
  CHECK(std::string(to_string(ReasonCode::normal_disconnection)) == "success");
  CHECK(std::string(to_string(ReasonCode::wildcard_subscriptions_not_supported)) ==
        "wildcard_subscriptions_not_supported");
  CHECK(std::string(to_string(static_cast<ReasonCode>(0x42))) == "unknown_reason_code");
  CHECK(std::string(to_string(ConnectReturnCode::identifier_rejected)) == "identifier_rejected");
  CHECK(std::string(to_string(PacketType::unsuback)) == "UNSUBACK");
  CHECK(to_v311_connack(ReasonCode::success) == ConnectReturnCode::accepted);
  CHECK(to_v311_connack(ReasonCode::bad_user_name_or_password) ==
        ConnectReturnCode::bad_user_name_or_password);
  CHECK(to_v311_connack(ReasonCode::banned) == ConnectReturnCode::server_unavailable);
  CHECK(static_cast<int>(ReasonCode::re_authenticate) == 0x19);
  CHECK(static_cast<int>(ReasonCode::maximum_connect_time) == 0xA0);
  const std::error_code ec = ReasonCode::protocol_error;
  CHECK(static_cast<bool>(ec));
  CHECK(ec.value() == 0x82);
  CHECK(ec.message() == "protocol_error");
  CHECK(std::string(ec.category().name()) == "mqtt");
  CHECK_FALSE(static_cast<bool>(std::error_code(ReasonCode::success)));
}

}  // namespace codec_test
