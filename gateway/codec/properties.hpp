// MQTT 5 properties (MQTT 5.0 section 2.2.2): the decoded form shared by all
// packets, and the encoding/decoding of a property block. Pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "gateway/codec/reason_code.hpp"

namespace tidegate::mqtt {

struct UserProperty {
  std::string key, value;
  bool operator==(const UserProperty&) const = default;
};

// Every MQTT 5 property; absent = nullopt / empty. Binary Data properties are
// held in std::string as raw bytes.
struct Properties {
  std::optional<uint8_t> payload_format_indicator;
  std::optional<uint32_t> message_expiry_interval;
  std::optional<std::string> content_type;
  std::optional<std::string> response_topic;
  std::optional<std::string> correlation_data;     // binary data
  std::vector<uint32_t> subscription_identifiers;  // may repeat only in PUBLISH (server->client)
  std::optional<uint32_t> session_expiry_interval;
  std::optional<std::string> assigned_client_identifier;
  std::optional<uint16_t> server_keep_alive;
  std::optional<std::string> authentication_method;
  std::optional<std::string> authentication_data;  // binary
  std::optional<uint8_t> request_problem_information;
  std::optional<uint32_t> will_delay_interval;
  std::optional<uint8_t> request_response_information;
  std::optional<std::string> response_information;
  std::optional<std::string> server_reference;
  std::optional<std::string> reason_string;
  std::optional<uint16_t> receive_maximum;
  std::optional<uint16_t> topic_alias_maximum;
  std::optional<uint16_t> topic_alias;
  std::optional<uint8_t> maximum_qos;
  std::optional<uint8_t> retain_available;
  std::vector<UserProperty> user_properties;  // order preserved
  std::optional<uint32_t> maximum_packet_size;
  std::optional<uint8_t> wildcard_subscription_available;
  std::optional<uint8_t> subscription_identifier_available;
  std::optional<uint8_t> shared_subscription_available;

  bool operator==(const Properties&) const = default;
  // No property set at all.
  bool empty() const { return *this == Properties{}; }
};

// Property identifiers (MQTT 5.0 table 2-4).
enum class PropertyId : uint8_t {
  payload_format_indicator = 0x01,
  message_expiry_interval = 0x02,
  content_type = 0x03,
  response_topic = 0x08,
  correlation_data = 0x09,
  subscription_identifier = 0x0B,
  session_expiry_interval = 0x11,
  assigned_client_identifier = 0x12,
  server_keep_alive = 0x13,
  authentication_method = 0x15,
  authentication_data = 0x16,
  request_problem_information = 0x17,
  will_delay_interval = 0x18,
  request_response_information = 0x19,
  response_information = 0x1A,
  server_reference = 0x1C,
  reason_string = 0x1F,
  receive_maximum = 0x21,
  topic_alias_maximum = 0x22,
  topic_alias = 0x23,
  maximum_qos = 0x24,
  retain_available = 0x25,
  user_property = 0x26,
  maximum_packet_size = 0x27,
  wildcard_subscription_available = 0x28,
  subscription_identifier_available = 0x29,
  shared_subscription_available = 0x2A,
};

// The spec's name of a property, for diagnostics.
const char* to_string(PropertyId id);

// Where a property block sits. `will` is the Will Properties block in the
// CONNECT payload; the others are the packet's own block.
enum class PropertyContext : uint8_t {
  connect,
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
  disconnect,
  auth,
  will,
};

// The context of a packet type's own property block (PINGREQ and PINGRESP have
// none; they map to `disconnect`, never used).
PropertyContext property_context(PacketType type);

// MQTT 5.0 table 2-4, "Used in".
bool property_allowed(PropertyId id, PropertyContext ctx);

// Decodes one property block (Property Length, then the properties) from the
// front of `in`; on success `in` is advanced past the block. Returns
//  - malformed_packet: truncated block, bad variable byte integer, unknown
//    identifier or one not allowed in `ctx` (spec 2.2.2.2), invalid UTF-8;
//  - protocol_error: a property repeated that may appear once, or a value the
//    spec calls a protocol error (subscription identifier 0, receive maximum
//    0, maximum packet size 0, topic alias 0, a 0/1 flag with another value,
//    maximum QoS above 1, a response topic that is not a valid topic name).
// `detail` is set to a human-readable explanation on error.
ReasonCode decode_properties(std::span<const uint8_t>& in, PropertyContext ctx, Properties& out,
                             std::string& detail);

// Appends the property block (Property Length included) holding the properties
// of `props` that are set and allowed in `ctx`; the others are omitted so a
// packet built from another packet's properties stays valid.
// Throws std::length_error when a string exceeds 65535 bytes.
void encode_properties(const Properties& props, PropertyContext ctx, std::string& out);

// Bytes encode_properties() would append (Property Length included).
std::size_t encoded_properties_size(const Properties& props, PropertyContext ctx);

}  // namespace tidegate::mqtt
