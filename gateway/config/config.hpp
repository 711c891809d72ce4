#pragma once
// The gateway's configuration: embedded defaults, or a JSON file whose keys are
// a contract (README.md, "Running"). Unknown keys and bad values are refused
// with the key path and the reason, before anything listens.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "gateway/bridge/bridge_config.hpp"
#include "gateway/events/rule_config.hpp"
#include "gateway/events/stream_config.hpp"

namespace tidegate {

// One problem ("key: reason"), or every problem a config has (each "key:
// reason", what() joins them with "; ").
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(const std::string& problem) : std::runtime_error(problem), problems_{problem} {}
  explicit ConfigError(const char* problem) : ConfigError(std::string(problem)) {}
  explicit ConfigError(std::vector<std::string> problems)
      : std::runtime_error(join(problems)), problems_(std::move(problems)) {}
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  static std::string join(const std::vector<std::string>& problems) {
    std::string out;
    for (const auto& p : problems) out += (out.empty() ? "" : "; ") + p;
    return out;
  }
  std::vector<std::string> problems_;
};

struct ListenerConfig {
  std::string protocol = "mqtt";  // mqtt, mqtts, ws, wss
  std::string bind = "0.0.0.0";
  std::uint16_t port = 1883;
  std::string path = "/mqtt";     // ws, wss: the upgrade path
  // mqtts, wss:
  std::optional<std::string> cert, key, ca;
  bool require_certificate = false;       // mutual TLS: no client certificate, no connection
  bool use_identity_as_username = false;  // the client certificate's CN is the user name
  std::string tls_version = "tlsv1.2";    // the lowest version accepted: tlsv1.2 or tlsv1.3
  std::optional<std::string> ciphers;       // TLS 1.2 cipher list (OpenSSL syntax)
  std::optional<std::string> ciphersuites;  // TLS 1.3 suites

  bool tls() const { return protocol == "mqtts" || protocol == "wss"; }
  bool websocket() const { return protocol == "ws" || protocol == "wss"; }
};

struct AclDenyRule {
  std::string filter;
  bool subscribe = true;
  bool publish = true;
};

// A .so plugin (docs/plugins.md): its path and its options, handed to its
// init as JSON text.
struct PluginConfig {
  std::string path;
  std::string options_json = "{}";
};

// The HTTP auth/ACL hook (docs/security.md).
struct AuthHttpConfig {
  std::string url;          // http://host:port/path
  std::string host, port, target;
  unsigned timeout_ms = 2000;
  unsigned cache_seconds = 60;  // 0: no cache
  std::size_t cache_entries = 10000;
  bool fail_open = false;   // "on_error": "deny" (default) or "allow"
};

struct AdminConfig {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 9883;
  std::optional<std::string> token_file;  // bearer token required when set
  bool enabled = true;                    // false: no admin listener at all (no API, no /metrics)
  // The rest is parsed in gateway/admin/admin_config.cpp (docs/security.md, "Admin API").
  std::optional<std::string> read_token_file;  // a second token, good for GET requests only
  std::optional<std::string> stream_token_file;  // a token that reads streams and commits their groups' offsets, only
  std::vector<std::string> allowed_hosts;      // Host names (lower case) or IP literals besides the listener's
  bool allow_insecure_remote = false;          // a non-loopback bind without token_file starts (with a warning)
  std::optional<std::string> cert, key;        // both: the listener speaks HTTPS (docs/console.md)
  std::size_t max_live_streams = 8;            // console live feeds at once; beyond: 503
  std::size_t max_logins = 32;                 // console logins held; beyond: the least recently used ends
  std::size_t history_seconds = 3600;          // the console's history ring (one sample a second)
};

// Cluster mode (docs/cluster.md): several gateways sharing a JetStream stream.
struct ClusterConfig {
  std::string node;                       // this gateway's id: [A-Za-z0-9_-], unique in the cluster
  std::vector<std::string> nats;          // nats://host:port of the NATS servers
  std::string stream = "TIDEGATE";
  int replicas = 1;                       // JetStream copies of every message (1, 3 or 5)
  std::int64_t request_timeout_ms = 5000; // connect, append ack, each read
  std::size_t max_pending_appends = 4096; // appends awaiting JetStream's ack; beyond: refused
  std::size_t max_handover_bytes = 64u << 20;  // waiting messages one session move carries; beyond: not moved
  bool lookup = true;                     // false: every notify and takeover is broadcast
  std::string lookup_bind = "127.0.0.1";  // the lookup's RPC listener (peer gateways connect)
  std::uint16_t lookup_port = 0;          // 0: any free port (announced in heartbeats)
  std::string lookup_advertise;           // the address peers use (empty: lookup_bind)
};

struct Config {
  std::string data_dir = "./tidegate-data";
  bool fsync = false;                        // "durability": "os" | "fsync"
  // Unset: anonymous clients from loopback only (docs/security.md, "Anonymous
  // clients"). true: from anywhere. false: from nowhere (credentials required).
  std::optional<bool> allow_anonymous;
  std::optional<std::uint16_t> max_keepalive;  // announced as Server Keep Alive
  // A client id's session belongs to the identity that created it; a CONNECT
  // under another identity is refused (docs/security.md). false: any client
  // may take any client id's session (mosquitto's behaviour).
  bool bind_sessions_to_identity = true;
  std::vector<ListenerConfig> listeners{ListenerConfig{}};
  unsigned workers = 0;                      // 0: one per core
  std::uint16_t receive_maximum = 64;        // inbound QoS 1/2 not yet acknowledged
  std::uint16_t max_inflight = 64;           // outbound window when the client states none
  std::uint32_t max_packet_size = 1 << 20;   // inbound limit, announced in CONNACK
  std::uint16_t topic_alias_maximum = 16;
  std::vector<AclDenyRule> acl_deny;
  std::optional<std::string> password_file;  // mosquitto_passwd format
  std::optional<std::string> acl_file;       // mosquitto acl_file format
  AdminConfig admin;
  unsigned connect_timeout = 10;             // seconds to wait for CONNECT
  // A closing connection (docs/durability.md, "Closing a connection"): the
  // final flush and the linger end within close_linger_ms; the linger reads
  // and discards at most close_linger_max_bytes (0: no linger).
  unsigned close_linger_ms = 2000;
  std::size_t close_linger_max_bytes = 1 << 20;
  std::size_t max_output_bytes = 1 << 20;    // per connection, encoded but unsent
  std::size_t max_connections = 10000;
  bool tcp_nodelay = true;                   // false: Nagle's algorithm on client sockets (benchmarks)
  std::size_t max_subscriptions_per_client = 1000;
  std::size_t max_topic_length = 65535;      // bytes, topic names and filters
  std::size_t max_topic_levels = 128;
  std::size_t queue_cache_entries = 1024;    // per live queue
  // All PUBLISH encodings shared by deliveries (fan-out), process-wide; at the
  // bound a delivery encodes its own bytes. 0: nothing is shared.
  std::size_t max_shared_publish_bytes = 8u << 20;
  std::size_t store_map_size = std::size_t(256) << 20;
  std::size_t max_store_bytes = 0;            // cap on the store; 0: until the disk is full
  std::size_t retention_bytes = std::size_t(1) << 30;
  std::uint64_t retention_seconds = 7 * 24 * 3600;
  std::size_t max_session_backlog = 100000;  // per persistent session and queue; 0: no limit
  std::size_t max_retained_messages = 100000;
  std::size_t max_retained_bytes = 64u << 20;
  std::string log_level = "info";
  std::string log_format = "text";          // "text" | "json" (one object per line)
  std::optional<std::string> log_file;      // appended to, reopened on reload; none: stderr
  unsigned sys_interval = 10;  // seconds between $SYS/broker/... updates; 0: none
  std::vector<BridgeConfig> bridges;
  std::vector<events::RuleConfig> rules;  // docs/events.md
  std::vector<events::StreamConfig> streams;
  // This gateway's name in CloudEvents ids and sources (docs/events.md); empty: the host name.
  std::string node_name;
  std::vector<PluginConfig> plugins;
  std::optional<AuthHttpConfig> auth_http;
  std::optional<ClusterConfig> cluster;
};

// Each throws ConfigError with every problem found ("key: reason"), not only
// the first. A file that cannot be read says why (the OS reason); text that is
// not JSON says where ("line L, column C: what").
Config parse_config(const std::string& json_text);
Config load_config_file(const std::string& path);
std::string read_config_text(const std::string& path);
// A file the config names, whole; ConfigError("KEY: cannot read PATH: REASON").
std::string read_text_file(const std::string& key, const std::string& path);
nlohmann::json read_config_json(const std::string& json_text);
// With `problems`: they are returned there instead of thrown, and the keys
// that failed keep their defaults (for --check-config's further checks).
Config config_from_json(const nlohmann::json& root, std::vector<std::string>* problems = nullptr);

}  // namespace tidegate
