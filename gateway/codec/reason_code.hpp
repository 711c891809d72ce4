// MQTT protocol constants shared by the codec and the broker: protocol
// versions, packet types, MQTT 5 reason codes and MQTT 3.1.1 CONNACK return
// codes. Header-only so that any module can name a reason code without linking
// the codec.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>

namespace tidegate::mqtt {

// The protocol level byte of CONNECT.
enum class ProtocolVersion : uint8_t { v31 = 3, v311 = 4, v5 = 5 };

enum class PacketType : uint8_t {
  connect = 1,
  connack,
  publish,
  puback,
  pubrec,
  pubrel,
  pubcomp,
  subscribe,
  suback,
  unsubscribe,
  unsuback,
  pingreq,
  pingresp,
  disconnect,
  auth
};

// MQTT 5.0 section 2.4. Several codes share a value (0x00 means success,
// normal disconnection or granted QoS 0 depending on the packet); to_string()
// prints the generic name for those.
enum class ReasonCode : uint8_t {
  success = 0x00,
  normal_disconnection = 0x00,
  granted_qos_0 = 0x00,
  granted_qos_1 = 0x01,
  granted_qos_2 = 0x02,
  disconnect_with_will_message = 0x04,
  no_matching_subscribers = 0x10,
  no_subscription_existed = 0x11,
  continue_authentication = 0x18,
  re_authenticate = 0x19,
  unspecified_error = 0x80,
  malformed_packet = 0x81,
  protocol_error = 0x82,
  implementation_specific_error = 0x83,
  unsupported_protocol_version = 0x84,
  client_identifier_not_valid = 0x85,
  bad_user_name_or_password = 0x86,
  not_authorized = 0x87,
  server_unavailable = 0x88,
  server_busy = 0x89,
  banned = 0x8A,
  server_shutting_down = 0x8B,
  bad_authentication_method = 0x8C,
  keep_alive_timeout = 0x8D,
  session_taken_over = 0x8E,
  topic_filter_invalid = 0x8F,
  topic_name_invalid = 0x90,
  packet_identifier_in_use = 0x91,
  packet_identifier_not_found = 0x92,
  receive_maximum_exceeded = 0x93,
  topic_alias_invalid = 0x94,
  packet_too_large = 0x95,
  message_rate_too_high = 0x96,
  quota_exceeded = 0x97,
  administrative_action = 0x98,
  payload_format_invalid = 0x99,
  retain_not_supported = 0x9A,
  qos_not_supported = 0x9B,
  use_another_server = 0x9C,
  server_moved = 0x9D,
  shared_subscriptions_not_supported = 0x9E,
  connection_rate_exceeded = 0x9F,
  maximum_connect_time = 0xA0,
  subscription_identifiers_not_supported = 0xA1,
  wildcard_subscriptions_not_supported = 0xA2,
};

// MQTT 3.1.1 section 3.2.2.3 (also used for MQTT 3.1).
enum class ConnectReturnCode : uint8_t {
  accepted = 0,
  unacceptable_protocol_version = 1,
  identifier_rejected = 2,
  server_unavailable = 3,
  bad_user_name_or_password = 4,
  not_authorized = 5,
};

inline const char* to_string(ReasonCode rc) {
  switch (rc) {
    case ReasonCode::success: return "success";
    case ReasonCode::granted_qos_1: return "granted_qos_1";
    case ReasonCode::granted_qos_2: return "granted_qos_2";
    case ReasonCode::disconnect_with_will_message: return "disconnect_with_will_message";
    case ReasonCode::no_matching_subscribers: return "no_matching_subscribers";
    case ReasonCode::no_subscription_existed: return "no_subscription_existed";
    case ReasonCode::continue_authentication: return "continue_authentication";
    case ReasonCode::re_authenticate: return "re_authenticate";
    case ReasonCode::unspecified_error: return "unspecified_error";
    case ReasonCode::malformed_packet: return "malformed_packet";
    case ReasonCode::protocol_error: return "protocol_error";
    case ReasonCode::implementation_specific_error: return "implementation_specific_error";
    case ReasonCode::unsupported_protocol_version: return "unsupported_protocol_version";
    case ReasonCode::client_identifier_not_valid: return "client_identifier_not_valid";
    case ReasonCode::bad_user_name_or_password: return "bad_user_name_or_password";
    case ReasonCode::not_authorized: return "not_authorized";
    case ReasonCode::server_unavailable: return "server_unavailable";
    case ReasonCode::server_busy: return "server_busy";
    case ReasonCode::banned: return "banned";
    case ReasonCode::server_shutting_down: return "server_shutting_down";
    case ReasonCode::bad_authentication_method: return "bad_authentication_method";
    case ReasonCode::keep_alive_timeout: return "keep_alive_timeout";
    case ReasonCode::session_taken_over: return "session_taken_over";
    case ReasonCode::topic_filter_invalid: return "topic_filter_invalid";
    case ReasonCode::topic_name_invalid: return "topic_name_invalid";
    case ReasonCode::packet_identifier_in_use: return "packet_identifier_in_use";
    case ReasonCode::packet_identifier_not_found: return "packet_identifier_not_found";
    case ReasonCode::receive_maximum_exceeded: return "receive_maximum_exceeded";
    case ReasonCode::topic_alias_invalid: return "topic_alias_invalid";
    case ReasonCode::packet_too_large: return "packet_too_large";
    case ReasonCode::message_rate_too_high: return "message_rate_too_high";
    case ReasonCode::quota_exceeded: return "quota_exceeded";
    case ReasonCode::administrative_action: return "administrative_action";
    case ReasonCode::payload_format_invalid: return "payload_format_invalid";
    case ReasonCode::retain_not_supported: return "retain_not_supported";
    case ReasonCode::qos_not_supported: return "qos_not_supported";
    case ReasonCode::use_another_server: return "use_another_server";
    case ReasonCode::server_moved: return "server_moved";
    case ReasonCode::shared_subscriptions_not_supported:
      return "shared_subscriptions_not_supported";
    case ReasonCode::connection_rate_exceeded: return "connection_rate_exceeded";
    case ReasonCode::maximum_connect_time: return "maximum_connect_time";
    case ReasonCode::subscription_identifiers_not_supported:
      return "subscription_identifiers_not_supported";
    case ReasonCode::wildcard_subscriptions_not_supported:
      return "wildcard_subscriptions_not_supported";
  }
  return "unknown_reason_code";
}

inline const char* to_string(ConnectReturnCode rc) {
  switch (rc) {
    case ConnectReturnCode::accepted: return "accepted";
    case ConnectReturnCode::unacceptable_protocol_version: return "unacceptable_protocol_version";
    case ConnectReturnCode::identifier_rejected: return "identifier_rejected";
    case ConnectReturnCode::server_unavailable: return "server_unavailable";
    case ConnectReturnCode::bad_user_name_or_password: return "bad_user_name_or_password";
    case ConnectReturnCode::not_authorized: return "not_authorized";
  }
  return "unknown_connect_return_code";
}

inline const char* to_string(PacketType t) {
  switch (t) {
    case PacketType::connect: return "CONNECT";
    case PacketType::connack: return "CONNACK";
    case PacketType::publish: return "PUBLISH";
    case PacketType::puback: return "PUBACK";
    case PacketType::pubrec: return "PUBREC";
    case PacketType::pubrel: return "PUBREL";
    case PacketType::pubcomp: return "PUBCOMP";
    case PacketType::subscribe: return "SUBSCRIBE";
    case PacketType::suback: return "SUBACK";
    case PacketType::unsubscribe: return "UNSUBSCRIBE";
    case PacketType::unsuback: return "UNSUBACK";
    case PacketType::pingreq: return "PINGREQ";
    case PacketType::pingresp: return "PINGRESP";
    case PacketType::disconnect: return "DISCONNECT";
    case PacketType::auth: return "AUTH";
  }
  return "UNKNOWN";
}

// Maps a CONNACK reason code of MQTT 5 to the nearest MQTT 3.1.1 return code,
// so the broker can decide in v5 terms and answer a 3.1.1 client.
inline ConnectReturnCode to_v311_connack(ReasonCode rc) {
  switch (rc) {
    case ReasonCode::success: return ConnectReturnCode::accepted;
    case ReasonCode::unsupported_protocol_version:
      return ConnectReturnCode::unacceptable_protocol_version;
    case ReasonCode::client_identifier_not_valid: return ConnectReturnCode::identifier_rejected;
    case ReasonCode::server_unavailable:
    case ReasonCode::server_busy: return ConnectReturnCode::server_unavailable;
    case ReasonCode::bad_user_name_or_password: return ConnectReturnCode::bad_user_name_or_password;
    case ReasonCode::not_authorized: return ConnectReturnCode::not_authorized;
    default: return ConnectReturnCode::server_unavailable;
  }
}

// Whether MQTT 3.1/3.1.1 define a CONNACK return code for a CONNECT the
// decoder refused with `rc`: only an unacceptable protocol level (1) and a
// rejected identifier (2). Every other fault in a 3.1.x CONNECT is a protocol
// violation, closed without a CONNACK (MQTT 3.1.1 section 4.8).
inline bool has_v311_connack_for_bad_connect(ReasonCode rc) {
  return rc == ReasonCode::unsupported_protocol_version || rc == ReasonCode::client_identifier_not_valid;
}

// Reason codes as a std::error_code category ("mqtt"): value 0 (success) is
// "no error", every other value is the wire reason code.
class ReasonCodeCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "mqtt"; }
  std::string message(int value) const override {
    return to_string(static_cast<ReasonCode>(static_cast<uint8_t>(value)));
  }
};

inline const std::error_category& reason_code_category() {
  static const ReasonCodeCategory category;
  return category;
}

inline std::error_code make_error_code(ReasonCode rc) {
  return {static_cast<int>(rc), reason_code_category()};
}

}  // namespace tidegate::mqtt

template <>
struct std::is_error_code_enum<tidegate::mqtt::ReasonCode> : std::true_type {};
