#pragma once
// Prometheus text exposition of the gateway's counters and gauges (/metrics).
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "cache/queue_cache.hpp"
#include "gateway/broker_context.hpp"
#include "storeclient/lmdb_store.hpp"

namespace tidegate::admin {

struct GatewayStats {
  std::uint64_t uptime_seconds = 0;
  std::size_t online = 0, parked = 0;
  IngestStats ingest;
  store::StoreUsage usage;
  cache::QueueCacheStats cache;
};

// Messages not delivered or refused, by reason (GET /api/v1/stats "drops";
// the console's drops per second sum them).
std::vector<std::pair<const char*, std::uint64_t>> drop_counts(const Metrics& metrics, const GatewayStats& stats);

GatewayStats collect_stats(BrokerContext& broker, const store::LmdbStore& store,
                           std::chrono::steady_clock::time_point started);
std::string render_prometheus(BrokerContext& broker, const GatewayStats& stats);

}  // namespace tidegate::admin
