#pragma once
// A fixed-bucket histogram of durations for Prometheus (`_bucket{le}`, `_sum`,
// `_count`). One thread observes (the ingest thread times its group commits);
// any thread reads. Relaxed atomics: observe() costs a few increments, never a
// lock. A reader may see an observation in a bucket before it reaches the sum;
// the count is the sum of the buckets, so `_count` always equals `+Inf`.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace tidegate {

class LatencyHistogram {
 public:
  // Upper bounds in seconds, from 100 µs (a commit to the page cache) to 1 s
  // (an fsync on a busy SD card); slower ones land in +Inf only.
  static constexpr std::array<double, 13> bounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                     0.025,  0.05,    0.1,    0.25,  0.5,    1.0};

  void observe(std::chrono::nanoseconds d) {
    double seconds = std::chrono::duration<double>(d).count();
    std::size_t i = 0;
    while (i < bounds.size() && seconds > bounds[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<std::uint64_t>(d.count() > 0 ? d.count() : 0), std::memory_order_relaxed);
  }

  struct Snapshot {
    std::array<std::uint64_t, bounds.size() + 1> cumulative{};  // per bound, then +Inf
    std::uint64_t count = 0;
    double sum_seconds = 0;
  };
  Snapshot snapshot() const {
    Snapshot s;
    std::uint64_t running = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      running += counts_[i].load(std::memory_order_relaxed);
      s.cumulative[i] = running;
    }
    s.count = running;
    s.sum_seconds = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
    return s;
  }

 private:
  std::array<std::atomic<std::uint64_t>, bounds.size() + 1> counts_{};  // not cumulative; last: above 1 s
  std::atomic<std::uint64_t> sum_ns_{0};
};

}  // namespace tidegate
