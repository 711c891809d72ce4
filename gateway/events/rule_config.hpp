#pragma once
// The config of rules (config key `rules`, docs/events.md): what each reads,
// which messages it keeps (`where`) and what it does with them (`actions`).
// Parsed and checked at start and on reload (main thread); every problem
// names its key.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "gateway/bridge/bridge_config.hpp"
#include "gateway/events/conditions.hpp"
#include "gateway/events/topic_template.hpp"

namespace tidegate::events {

// The CloudEvents HTTP binding's modes (docs/events.md, "Webhooks").
enum class EventMode { binary, structured, batched };

struct WebhookConfig {
  std::string url;  // as written
  bool https = false;
  std::string host;
  std::uint16_t port = 80;
  std::string target = "/";  // path and query
  std::optional<BridgeTls> tls;  // https: CA, client certificate, verify (on unless turned off)
  EventMode mode = EventMode::binary;
  std::size_t batch_size = 100;         // batched: events per request at most
  unsigned batch_linger_ms = 50;        // batched: how long a partial batch waits for more
  std::map<std::string, std::string> headers;
  unsigned timeout_ms = 10000;          // one request, connect included
  unsigned max_in_flight = 1;           // requests at once (1: delivery in order, one at a time)
  unsigned max_attempts = 10;           // then the event goes to dead_letter_topic (or is dropped, counted)
  unsigned retry_min_ms = 500;          // backoff: first delay,
  unsigned retry_max_ms = 60000;        // doubling up to this, with jitter; a Retry-After up to it is honoured
  std::optional<std::string> dead_letter_topic;
  std::optional<std::string> source;    // CloudEvents source; default tidegate://<node>
  std::string type = "io.tidegate.mqtt.message";
  bool operator==(const WebhookConfig&) const = default;
};

struct RepublishConfig {
  TopicTemplate topic;
  std::optional<TopicTemplate> payload;  // none: the message's payload unchanged
  std::uint8_t qos = 1;
  bool retain = false;
  bool operator==(const RepublishConfig&) const = default;
};

struct RuleAction {
  std::optional<WebhookConfig> webhook;
  std::optional<RepublishConfig> republish;
  bool operator==(const RuleAction&) const = default;
  const char* kind() const { return webhook ? "webhook" : "republish"; }
};

struct RuleConfig {
  std::string name;
  std::string from;  // an MQTT topic filter
  std::vector<Condition> where;
  std::vector<RuleAction> actions;
  bool operator==(const RuleConfig&) const = default;
};

// The reader id of a rule's action in the store's offsets table: its
// committed offset is kept there like a persistent session's. No MQTT client
// may use a client id that starts with '$' (docs/security.md).
inline std::string action_reader_id(const std::string& rule, std::size_t action) {
  return "$rule/" + rule + "/" + std::to_string(action);
}

// Throws ConfigError ("rules[i].key: reason").
std::vector<RuleConfig> parse_rules(const nlohmann::json& j);

}  // namespace tidegate::events
