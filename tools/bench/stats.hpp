// Latency histogram and the per-thread counters of a benchmark run.
//
// Each io thread owns one ThreadStats; only that thread records into it, so
// recording needs no lock. The few counters the coordinating thread polls
// while the run goes on (to know when deliveries have drained) are relaxed
// atomics; everything else is read after the io threads have joined.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace tidegate::bench {

// Log-linear histogram of nanosecond values: exact below 64 ns, then 32
// sub-buckets per power of two (relative error under 3.2%), up to 2^40 ns
// (about 18 minutes; larger values land in the last bucket). Fixed size, no
// allocation while recording.
class LatencyHistogram {
 public:
  static constexpr unsigned sub_bits = 5;
  static constexpr uint64_t sub_count = uint64_t{1} << sub_bits;  // 32
  static constexpr unsigned max_shift = 35;                        // 2^40 ns
  static constexpr std::size_t bucket_count = (max_shift + 2) * sub_count;

  void record(uint64_t ns);
  void merge(const LatencyHistogram& other);

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }
  // Smallest recorded value v such that at least q (0..1) of the values are
  // <= v, as the upper edge of its bucket (clamped to the maximum seen).
  uint64_t percentile(double q) const;

  static std::size_t bucket_of(uint64_t ns);
  static uint64_t bucket_upper(std::size_t bucket);

 private:
  std::array<uint64_t, bucket_count> buckets_{};
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

// Counters of the clients of one io thread. Aligned so two threads' hot
// counters never share a cache line.
struct alignas(64) ThreadStats {
  // Polled by the coordinator during the drain phase.
  std::atomic<uint64_t> delivered{0};  // PUBLISH received by subscribers (duplicates excluded)
  std::atomic<uint64_t> accepted{0};   // QoS 0: written to the socket; QoS 1/2: acknowledged
  std::atomic<uint64_t> inflight{0};   // published, not yet acknowledged (QoS 1/2)

  // Read after the io threads joined.
  uint64_t sent = 0;        // PUBLISH encoded by publishers
  uint64_t rejected = 0;    // v5 PUBACK/PUBREC with a failure reason code
  uint64_t duplicates = 0;  // received with DUP set (counted apart from delivered)
  uint64_t short_payloads = 0;  // received without a timestamp (not ours)
  uint64_t errors = 0;      // connections lost or refused outside an orderly close
  int64_t last_accept_ns = 0;    // steady clock of the last acceptance
  int64_t last_delivery_ns = 0;  // steady clock of the last delivery
  LatencyHistogram latency;
  std::vector<std::string> error_messages;  // the first few, for the report

  void add_error(std::string message);

  void relax_add(std::atomic<uint64_t>& counter, uint64_t n = 1) {
    // Single writer: a load and a store suffice, no locked read-modify-write.
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void relax_sub(std::atomic<uint64_t>& counter, uint64_t n = 1) {
    counter.store(counter.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
};

// Sum of every thread's counters.
struct Totals {
  uint64_t delivered = 0, accepted = 0, inflight = 0, sent = 0, rejected = 0, duplicates = 0,
           short_payloads = 0, errors = 0;
  int64_t last_accept_ns = 0, last_delivery_ns = 0;
  LatencyHistogram latency;
  std::vector<std::string> error_messages;
};

// Live counters only (safe while the io threads run).
Totals poll_totals(const std::vector<ThreadStats*>& threads);
// Everything (only after the io threads have stopped).
Totals final_totals(const std::vector<ThreadStats*>& threads);

}  // namespace tidegate::bench
