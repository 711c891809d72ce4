#pragma once
// An application message as it is stored once and then shared, immutable, by
// every queue, cache slot and session that delivers it (DESIGN §1.2, §1.5).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tidegate::store {

struct UserProperty {
  std::string key;
  std::string value;
  bool operator==(const UserProperty&) const = default;
};

struct Message {
  std::uint64_t seq = 0;  // global sequence, assigned by the ingest thread; 0 = not appended
  std::string topic;
  std::string payload;
  std::uint8_t qos = 0;
  bool retain = false;
  std::string origin_client_id;            // the publisher, for No Local
  std::int64_t created_ms = 0;             // wall clock at ingress, ms since epoch
  std::optional<std::int64_t> expires_at_ms;  // from Message Expiry Interval; wall clock
  // MQTT 5 properties forwarded unchanged to subscribers (MQTT-3.3.2-*).
  std::optional<std::uint8_t> payload_format_indicator;
  std::optional<std::string> content_type;
  std::optional<std::string> response_topic;
  std::optional<std::string> correlation_data;
  std::vector<UserProperty> user_properties;

  bool expired_at(std::int64_t now_ms) const { return expires_at_ms && *expires_at_ms <= now_ms; }
  // Approximate bytes held in memory, for cache and queue byte bounds.
  std::size_t footprint() const;
};

using MessagePtr = std::shared_ptr<const Message>;

std::int64_t wall_clock_ms();

}  // namespace tidegate::store
