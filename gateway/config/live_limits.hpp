#pragma once
// The bounds that a reload (SIGHUP, POST /api/v1/reload) changes while the
// gateway runs (docs/operations.md). Read on every worker with relaxed loads
// (a bound read a moment late is fine: each is a policy, not a correctness
// invariant); written by the main thread on reload.
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "gateway/config/config.hpp"

namespace tidegate {

struct LiveLimits {
  std::atomic<std::size_t> max_connections{0};
  std::atomic<std::size_t> max_output_bytes{0};
  std::atomic<std::size_t> max_subscriptions_per_client{0};
  std::atomic<std::size_t> max_topic_length{0};
  std::atomic<std::size_t> max_topic_levels{0};
  std::atomic<std::uint16_t> max_inflight{0};
  // Enforced by the ingest thread (Ingest::set_limits); here for the admin API to show.
  std::atomic<std::size_t> retention_bytes{0};
  std::atomic<std::uint64_t> retention_seconds{0};
  std::atomic<std::size_t> max_session_backlog{0};

  explicit LiveLimits(const Config& c) { apply(c); }
  void apply(const Config& c) {
    max_connections.store(c.max_connections, std::memory_order_relaxed);
    max_output_bytes.store(c.max_output_bytes, std::memory_order_relaxed);
    max_subscriptions_per_client.store(c.max_subscriptions_per_client, std::memory_order_relaxed);
    max_topic_length.store(c.max_topic_length, std::memory_order_relaxed);
    max_topic_levels.store(c.max_topic_levels, std::memory_order_relaxed);
    max_inflight.store(c.max_inflight, std::memory_order_relaxed);
    retention_bytes.store(c.retention_bytes, std::memory_order_relaxed);
    retention_seconds.store(c.retention_seconds, std::memory_order_relaxed);
    max_session_backlog.store(c.max_session_backlog, std::memory_order_relaxed);
  }
  template <typename T>
  static T get(const std::atomic<T>& v) { return v.load(std::memory_order_relaxed); }
};

}  // namespace tidegate
