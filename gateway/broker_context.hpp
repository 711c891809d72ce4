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
#include "gateway/cluster/cluster.hpp"
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
namespace events {
class EventsEngine;
class Streams;
}

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
  events::EventsEngine* events = nullptr;  // the rules (docs/events.md); thread-safe where it says so
  events::Streams* streams = nullptr;      // the streams (docs/events.md); main thread
  // Any thread: every bridge's state, backlog included (set by the Broker).
  std::function<std::vector<BridgeStatus>()> bridge_status = [] { return std::vector<BridgeStatus>{}; };
  // Any thread: cluster mode (gateway/cluster/cluster.hpp); one gateway has
  // a SingleGateway. Set by the Broker's constructor, before anything runs.
  Cluster& cluster() const { return *cluster_; }
  Cluster* cluster_ = nullptr;  // use cluster()

  // Any thread. Replaced as a whole by a reload (main thread).
  std::shared_ptr<const AccessControl> access() const { return access_.load(); }
  void set_access(std::shared_ptr<const AccessControl> a) { access_.store(std::move(a)); }

  std::atomic<std::shared_ptr<const AccessControl>> access_{};  // use access()
};

}  // namespace tidegate
