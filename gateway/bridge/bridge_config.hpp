#pragma once
// The "bridges" section of the config (docs/bridge.md, "Configuration"): links
// to cloud brokers, each a persistent local session whose transport is an MQTT
// client connection (docs/bridge.md, "How it works"). Rules map topics between
// the two sides.
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace tidegate {

// One topic rule. out: local `filter` → remote topic; in: remote `filter`
// (subscribed upstream) → local topic. The topic loses `strip_prefix` when it
// starts with it, then gains `add_prefix` (remote_prefix for out rules,
// local_prefix for in rules).
struct BridgeRule {
  std::string filter;
  std::string strip_prefix;
  std::string add_prefix;
  std::uint8_t qos = 1;
  bool operator==(const BridgeRule&) const = default;
};

struct BridgeTls {
  std::optional<std::string> ca;    // default: the system's trusted CAs
  std::optional<std::string> cert;  // client certificate (mutual TLS)
  std::optional<std::string> key;
  std::optional<std::string> server_name;  // SNI and the name verified; default: the address's host
  bool verify = true;                      // false only for testing: the server is not authenticated
  bool operator==(const BridgeTls&) const = default;
};

struct BridgeConfig {
  std::string name;
  std::string host;
  std::uint16_t port = 1883;
  int protocol_version = 4;  // 4: MQTT 3.1.1, 5: MQTT 5.0
  std::string client_id;     // at the remote broker; default "tidegate-<name>"
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::optional<BridgeTls> tls;
  std::uint16_t keep_alive = 60;               // seconds; a silent link is dead after about twice this
  std::uint32_t session_expiry = 86400;        // v5: how long the remote keeps our session
  unsigned reconnect_min_ms = 1000;            // backoff: first delay,
  unsigned reconnect_max_ms = 60000;           // doubling up to this, with jitter
  std::vector<BridgeRule> out;
  std::vector<BridgeRule> in;

  bool operator==(const BridgeConfig&) const = default;

  // The local session of the bridge ("$bridge/<name>"): no device may use it.
  std::string local_client_id() const { return "$bridge/" + name; }
};

inline constexpr std::string_view kBridgeClientIdPrefix = "$bridge/";

// Throws ConfigError("bridges[i].key: reason").
std::vector<BridgeConfig> parse_bridges(const nlohmann::json& j);
// A client's TLS settings (a bridge's link, a rule's webhook), read at `where`.
BridgeTls parse_client_tls(const nlohmann::json& j, const std::string& where);

}  // namespace tidegate
