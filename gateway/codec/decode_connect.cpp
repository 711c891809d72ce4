// CONNECT (MQTT 3.1 section 3.1, 3.1.1 section 3.1, 5.0 section 3.1).
#include <string_view>

#include "gateway/codec/decode_fields.hpp"
#include "gateway/codec/utf8.hpp"

namespace tidegate::mqtt::detail {

namespace {

// Connect Flags bits.
constexpr uint8_t flag_reserved = 0x01;
constexpr uint8_t flag_clean_start = 0x02;
constexpr uint8_t flag_will = 0x04;
constexpr uint8_t flag_will_retain = 0x20;
constexpr uint8_t flag_password = 0x40;
constexpr uint8_t flag_username = 0x80;

bool supported(std::string_view name, uint8_t level) {
  if (name == "MQTT") return level == 4 || level == 5;
  if (name == "MQIsdp") return level == 3;
  return false;
}

struct ConnectFlags {
  bool clean_start, will, will_retain, password, username;
  uint8_t will_qos;
};

ConnectFlags connect_flags(uint8_t flags) {
  return {(flags & flag_clean_start) != 0, (flags & flag_will) != 0, (flags & flag_will_retain) != 0,
          (flags & flag_password) != 0,    (flags & flag_username) != 0, static_cast<uint8_t>((flags >> 3) & 0x3)};
}

// The combinations of connect flags the protocol forbids (false: `f` failed).
bool check_connect_flags(Fields& f, uint8_t flags, const ConnectFlags& cf) {
  // [MQTT-3.1.2-3]
  if (flags & flag_reserved) {
    f.fail(ReasonCode::malformed_packet, "reserved connect flag is set");
    return false;
  }
  // [MQTT-3.1.2-11], [MQTT-3.1.2-13]
  if (!cf.will && (cf.will_qos != 0 || cf.will_retain)) {
    f.fail(ReasonCode::malformed_packet, "will QoS or will retain set without the will flag");
    return false;
  }
  // [MQTT-3.1.2-12]
  if (cf.will_qos == 3) {
    f.fail(ReasonCode::malformed_packet, "will QoS is 3");
    return false;
  }
  // [MQTT-3.1.2-22] in 3.1.1; MQTT 5 allows a password without a user name.
  if (!f.v5() && cf.password && !cf.username) {
    f.fail(ReasonCode::malformed_packet, "password flag set without the user name flag");
    return false;
  }
  return true;
}

}  // namespace

DecodeStatus decode_connect(std::span<const uint8_t> body, Connect& out) {
  Fields f(body, "CONNECT", ProtocolVersion::v311);

  // The protocol name and level come first in every version; anything we do
  // not speak is unsupported_protocol_version, answered with CONNACK 0x84
  // (v5) or return code 1 (3.1.1) [MQTT-3.1.2-2].
  uint8_t level = 0;
  if (!f.utf8(out.protocol_name, "protocol name") || !f.u8(level, "protocol level")) {
    return f.take_status();
  }
  out.version = static_cast<ProtocolVersion>(level);
  if (!supported(out.protocol_name, level)) {
    f.fail(ReasonCode::unsupported_protocol_version,
           "unsupported protocol \"" + out.protocol_name + "\" level " + std::to_string(level));
    return f.take_status();
  }
  f.set_version(out.version);

  uint8_t flags = 0;
  if (!f.u8(flags, "connect flags") || !f.u16(out.keep_alive, "keep alive")) {
    return f.take_status();
  }
  const ConnectFlags cf = connect_flags(flags);
  out.clean_start = cf.clean_start;
  if (!check_connect_flags(f, flags, cf)) return f.take_status();
  const bool has_will = cf.will, has_username = cf.username, has_password = cf.password;
  const auto will_qos = cf.will_qos;
  const bool will_retain = cf.will_retain;

  if (f.v5()) {
    if (!f.properties(PropertyContext::connect, out.properties)) return f.take_status();
  }
  if (!f.utf8(out.client_id, "client identifier")) return f.take_status();

  if (has_will) {
    Will& will = out.will.emplace();
    will.qos = will_qos;
    will.retain = will_retain;
    if (f.v5() && !f.properties(PropertyContext::will, will.properties)) return f.take_status();
    if (!f.utf8(will.topic, "will topic") || !f.binary(will.payload, "will payload")) {
      return f.take_status();
    }
  }
  if (has_username) {
    if (!f.utf8(out.username.emplace(), "user name")) return f.take_status();
  }
  if (has_password) {
    if (!f.binary(out.password.emplace(), "password")) return f.take_status();
  }
  if (!f.finish()) return f.take_status();

  // Checks on well-formed values, after the whole packet parsed.
  if (out.will && !valid_topic_name(out.will->topic)) {
    f.fail(ReasonCode::topic_name_invalid, "will topic is empty or contains a wildcard");
  } else if (out.properties.authentication_data && !out.properties.authentication_method) {
    // MQTT 5.0 section 3.1.2.11.10.
    f.fail(ReasonCode::protocol_error, "authentication data without an authentication method");
  }
  return f.take_status();
}

}  // namespace tidegate::mqtt::detail
