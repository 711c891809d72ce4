#pragma once
// What one action of a rule has done, for the admin API and /metrics
// (docs/events.md, "Watching rules"). Counted on the events thread, read
// from any thread.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "gateway/ops/latency_histogram.hpp"

namespace tidegate::events {

inline constexpr std::size_t kBacklogCountCap = 1'000'000;

struct ActionCounters {
  std::atomic<std::uint64_t> matched{0};        // messages its where took
  std::atomic<std::uint64_t> delivered{0};      // acknowledged by the receiver (2xx) or published
  std::atomic<std::uint64_t> failed{0};         // attempts that failed (each is retried or dead-lettered)
  std::atomic<std::uint64_t> retries{0};        // attempts after the first
  std::atomic<std::uint64_t> dead_lettered{0};  // given up on: published to dead_letter_topic
  std::atomic<std::uint64_t> dropped{0};        // given up on with no dead_letter_topic (logged)
  std::atomic<std::uint64_t> lost_retention{0}; // removed by retention (or QoS 0 evicted) before it was read
  // Stored messages after the committed offset, matching or not (refreshed
  // each second by the events thread, counted up to kBacklogCountCap).
  std::atomic<std::uint64_t> backlog{0};
  LatencyHistogram latency;                     // from the message's arrival to its delivery

  void note_error(std::string error, std::int64_t at_ms) {
    std::lock_guard guard(lock_);
    last_error_ = std::move(error);
    last_error_ms_ = at_ms;
  }
  std::pair<std::string, std::int64_t> last_error() const {
    std::lock_guard guard(lock_);
    return {last_error_, last_error_ms_};
  }

 private:
  mutable std::mutex lock_;
  std::string last_error_;
  std::int64_t last_error_ms_ = 0;
};

inline void count(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }

}  // namespace tidegate::events
