#pragma once
// The services every connection uses, owned by the Broker and outliving every
// connection. Each member documents its own thread rules.
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "cache/queue_cache.hpp"
#include "gateway/bridge/bridge_status.hpp"
#include "gateway/cluster/cluster_stats.hpp"
#include "gateway/auth/access_control.hpp"
#include "gateway/config/config.hpp"
#include "gateway/config/live_limits.hpp"
#include "gateway/pipeline/ingest.hpp"
#include "gateway/ops/metrics.hpp"
#include "gateway/session/session_registry.hpp"
#include "storeclient/message.hpp"

namespace tidegate {

class PluginHost;
class AuthHttp;

struct BrokerContext {
  const Config& config;
  Ingest& ingest;
  cache::QueueCache& cache;
  SessionRegistry& registry;
  Metrics& metrics;
  std::atomic<bool> shutting_down{false};
  LiveLimits limits{config};  // the reloadable bounds; read these, not config, for them
  // Any thread: the memory of PUBLISH encodings shared by deliveries
  // (shared_publish.hpp), bounded by max_shared_publish_bytes (reloadable).
  // Held by every shared encoding, so it outlives the messages that carry them.
  std::shared_ptr<store::EncodingBudget> shared_publish_budget =
      std::make_shared<store::EncodingBudget>(config.max_shared_publish_bytes);
  const PluginHost* plugins = nullptr;  // the .so plugins (null: none); immutable
  AuthHttp* auth_http = nullptr;        // the HTTP auth hook (null: none); thread-safe
  // Any thread: every bridge's state, backlog included (set by the Broker).
  std::function<std::vector<BridgeStatus>()> bridge_status = [] { return std::vector<BridgeStatus>{}; };
  // Any thread: cluster mode's state (empty: not in a cluster; set by the Broker).
  std::function<std::optional<ClusterStats>()> cluster_stats = [] { return std::optional<ClusterStats>{}; };
  // Any thread: a client id is now connected here (cluster mode: the other
  // gateways close their older connection with it). Empty: one gateway.
  std::function<void(const std::string& client_id, std::int64_t connected_ms)> announce_connect{};
  // Any thread: the gateway holding a lookup key (empty: no lookup).
  std::function<std::string(const std::string& key)> lookup_owner = [](const std::string&) { return std::string(); };
  // Any thread: a connection given to announce_connect has ended (its
  // session parked here, or ended).
  std::function<void(const std::string& client_id, bool session_kept)> announce_disconnect{};
  // Any thread: cluster mode with the lookup; the persistent session of a
  // client id from the gateway that held it (nullptr: none), passed to `done`
  // on another thread (it must only post); retry_later: moving it failed
  // half-way, refuse the CONNECT (0x88). Empty: sessions stay where they are.
  std::function<void(const std::string& client_id, std::int64_t connected_ms,
                     std::function<void(std::unique_ptr<Session> session, bool retry_later)> done)>
      fetch_remote_session{};

  // Any thread. Replaced as a whole by a reload (main thread).
  std::shared_ptr<const AccessControl> access() const { return access_.load(); }
  void set_access(std::shared_ptr<const AccessControl> a) { access_.store(std::move(a)); }

  std::atomic<std::shared_ptr<const AccessControl>> access_{};  // use access()
};

}  // namespace tidegate
