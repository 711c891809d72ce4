#include "tools/bench/stats.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace tidegate::bench {

std::size_t LatencyHistogram::bucket_of(uint64_t ns) {
  if (ns < 2 * sub_count) return static_cast<std::size_t>(ns);
  const unsigned exponent = static_cast<unsigned>(std::bit_width(ns)) - 1;  // >= sub_bits + 1
  const unsigned shift = exponent - sub_bits;
  if (shift > max_shift) return bucket_count - 1;
  const uint64_t mantissa = ns >> shift;  // in [sub_count, 2 * sub_count)
  return static_cast<std::size_t>(shift * sub_count + mantissa);
}

uint64_t LatencyHistogram::bucket_upper(std::size_t bucket) {
  if (bucket < 2 * sub_count) return bucket;
  const unsigned shift = static_cast<unsigned>(bucket / sub_count) - 1;
  const uint64_t mantissa = bucket % sub_count + sub_count;
  return ((mantissa + 1) << shift) - 1;
}

void LatencyHistogram::record(uint64_t ns) {
  ++buckets_[bucket_of(ns)];
  ++count_;
  sum_ += ns;
  min_ = std::min(min_, ns);
  max_ = std::max(max_, ns);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < bucket_count; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

uint64_t LatencyHistogram::percentile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::clamp(bucket_upper(i), min(), max_);
  }
  return max_;
}

void ThreadStats::add_error(std::string message) {
  ++errors;
  if (error_messages.size() < 5) error_messages.push_back(std::move(message));
}

Totals poll_totals(const std::vector<ThreadStats*>& threads) {
  Totals t;
  for (const ThreadStats* s : threads) {
    t.delivered += s->delivered.load(std::memory_order_relaxed);
    t.accepted += s->accepted.load(std::memory_order_relaxed);
    t.inflight += s->inflight.load(std::memory_order_relaxed);
  }
  return t;
}

Totals final_totals(const std::vector<ThreadStats*>& threads) {
  Totals t = poll_totals(threads);
  for (const ThreadStats* s : threads) {
    t.sent += s->sent;
    t.rejected += s->rejected;
    t.duplicates += s->duplicates;
    t.short_payloads += s->short_payloads;
    t.errors += s->errors;
    t.last_accept_ns = std::max(t.last_accept_ns, s->last_accept_ns);
    t.last_delivery_ns = std::max(t.last_delivery_ns, s->last_delivery_ns);
    t.latency.merge(s->latency);
    for (const auto& m : s->error_messages)
      if (t.error_messages.size() < 5) t.error_messages.push_back(m);
  }
  return t;
}

}  // namespace tidegate::bench
