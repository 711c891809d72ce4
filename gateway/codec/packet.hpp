// The decoded form of every MQTT control packet, for MQTT 3.1, 3.1.1 and 5.0.
// Fields that a version does not carry keep their defaults when decoding that
// version and are ignored when encoding it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "gateway/codec/properties.hpp"
#include "gateway/codec/reason_code.hpp"

namespace tidegate::mqtt {

struct Will {
  std::string topic;
  std::string payload;
  uint8_t qos = 0;
  bool retain = false;
  Properties properties;
  bool operator==(const Will&) const = default;
};

// `version` is the protocol level byte. The decoder only produces named
// enumerators, except with unsupported_protocol_version, where it holds the
// raw level byte so the broker can pick the CONNACK format.
// The encoder writes CONNECT with `version` as its level, and `protocol_name`
// as its name, or "MQIsdp"/"MQTT" for v31/others when protocol_name is empty.
struct Connect {
  ProtocolVersion version = ProtocolVersion::v311;
  std::string protocol_name;
  bool clean_start = true;
  uint16_t keep_alive = 0;
  std::string client_id;
  std::optional<Will> will;
  std::optional<std::string> username;
  std::optional<std::string> password;  // binary data
  Properties properties;
  bool operator==(const Connect&) const = default;
};

// v3/v4: reason_code holds the 3.1.1 return code (0..5). The encoder maps a
// v5 reason code (>= 0x80) given for v3/v4 through to_v311_connack().
struct Connack {
  bool session_present = false;
  uint8_t reason_code = 0;
  Properties properties;
  bool operator==(const Connack&) const = default;
};

struct Publish {
  std::string topic;
  std::string payload;
  uint8_t qos = 0;
  bool retain = false;
  bool dup = false;
  uint16_t packet_id = 0;  // only on the wire for QoS 1 and 2
  Properties properties;
  bool operator==(const Publish&) const = default;
};

// PUBACK/PUBREC/PUBREL/PUBCOMP; `type` says which.
struct PubResponse {
  PacketType type = PacketType::puback;
  uint16_t packet_id = 0;
  uint8_t reason_code = 0;
  Properties properties;
  bool operator==(const PubResponse&) const = default;
};

// no_local, retain_as_published and retain_handling exist only in v5.
struct SubscriptionRequest {
  std::string filter;
  uint8_t qos = 0;
  bool no_local = false;
  bool retain_as_published = false;
  uint8_t retain_handling = 0;
  bool operator==(const SubscriptionRequest&) const = default;
};

struct Subscribe {
  uint16_t packet_id = 0;
  std::vector<SubscriptionRequest> subscriptions;
  Properties properties;
  bool operator==(const Subscribe&) const = default;
};

// v3/v4: return codes 0, 1, 2 or 0x80; the encoder turns any v5 failure code
// (>= 0x80) into 0x80.
struct Suback {
  uint16_t packet_id = 0;
  std::vector<uint8_t> reason_codes;
  Properties properties;
  bool operator==(const Suback&) const = default;
};

struct Unsubscribe {
  uint16_t packet_id = 0;
  std::vector<std::string> filters;
  Properties properties;
  bool operator==(const Unsubscribe&) const = default;
};

struct Unsuback {
  uint16_t packet_id = 0;
  std::vector<uint8_t> reason_codes;  // v3/v4: reason_codes empty on the wire
  Properties properties;
  bool operator==(const Unsuback&) const = default;
};

struct Pingreq {
  bool operator==(const Pingreq&) const = default;
};
struct Pingresp {
  bool operator==(const Pingresp&) const = default;
};

struct Disconnect {
  uint8_t reason_code = 0;
  Properties properties;
  bool operator==(const Disconnect&) const = default;
};

// MQTT 5 only.
struct Auth {
  uint8_t reason_code = 0;
  Properties properties;
  bool operator==(const Auth&) const = default;
};

using Packet = std::variant<Connect, Connack, Publish, PubResponse, Subscribe, Suback, Unsubscribe,
                            Unsuback, Pingreq, Pingresp, Disconnect, Auth>;

// The control packet type of a packet.
inline PacketType packet_type(const Packet& packet) {
  struct Visitor {
    PacketType operator()(const Connect&) const { return PacketType::connect; }
    PacketType operator()(const Connack&) const { return PacketType::connack; }
    PacketType operator()(const Publish&) const { return PacketType::publish; }
    PacketType operator()(const PubResponse& p) const { return p.type; }
    PacketType operator()(const Subscribe&) const { return PacketType::subscribe; }
    PacketType operator()(const Suback&) const { return PacketType::suback; }
    PacketType operator()(const Unsubscribe&) const { return PacketType::unsubscribe; }
    PacketType operator()(const Unsuback&) const { return PacketType::unsuback; }
    PacketType operator()(const Pingreq&) const { return PacketType::pingreq; }
    PacketType operator()(const Pingresp&) const { return PacketType::pingresp; }
    PacketType operator()(const Disconnect&) const { return PacketType::disconnect; }
    PacketType operator()(const Auth&) const { return PacketType::auth; }
  };
  return std::visit(Visitor{}, packet);
}

}  // namespace tidegate::mqtt
