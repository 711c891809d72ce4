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
  // [MQTT-3.1.2-3]
  if (flags & flag_reserved) {
    f.fail(ReasonCode::malformed_packet, "reserved connect flag is set");
    return f.take_status();
  }
  out.clean_start = (flags & flag_clean_start) != 0;
  const bool has_will = (flags & flag_will) != 0;
  const auto will_qos = static_cast<uint8_t>((flags >> 3) & 0x3);
  const bool will_retain = (flags & flag_will_retain) != 0;
  const bool has_password = (flags & flag_password) != 0;
  const bool has_username = (flags & flag_username) != 0;

  // [MQTT-3.1.2-11], [MQTT-3.1.2-13]
  if (!has_will && (will_qos != 0 || will_retain)) {
    f.fail(ReasonCode::malformed_packet, "will QoS or will retain set without the will flag");
    return f.take_status();
  }
  // [MQTT-3.1.2-12]
  if (will_qos == 3) {
    f.fail(ReasonCode::malformed_packet, "will QoS is 3");
    return f.take_status();
  }
  // [MQTT-3.1.2-22] in 3.1.1; MQTT 5 allows a password without a user name.
  if (!f.v5() && has_password && !has_username) {
    f.fail(ReasonCode::malformed_packet, "password flag set without the user name flag");
    return f.take_status();
  }

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
