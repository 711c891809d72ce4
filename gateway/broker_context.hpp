#pragma once
// The services every connection uses, owned by the Broker and outliving every
// connection. Each member documents its own thread rules.
#include <atomic>

#include "cache/queue_cache.hpp"
#include "gateway/access_control.hpp"
#include "gateway/config.hpp"
#include "gateway/ingest.hpp"
#include "gateway/metrics.hpp"
#include "gateway/session_registry.hpp"

namespace tidegate {

struct BrokerContext {
  const Config& config;
  const AccessControl& access;
  Ingest& ingest;
  cache::QueueCache& cache;
  SessionRegistry& registry;
  Metrics& metrics;
  std::atomic<bool> shutting_down{false};
};

}  // namespace tidegate
