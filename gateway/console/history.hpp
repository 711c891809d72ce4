#pragma once
// The gateway's own recent past for the console's plots: one sample a second
// (counts, and rates from counter differences) in a ring of fixed size, so a
// page opened now shows the last hour at once. Memory is fixed at start:
// capacity x sizeof(HistorySample) (64 bytes; 3600 samples = 225 KiB).
// Main thread only (the sampler writes, the admin listener reads).
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace tidegate::console {

// The series, in the order of HistorySample::values and of GET /api/v1/history's columns.
inline constexpr std::array<std::string_view, 12> kHistorySeries = {
    "connections",        "sessions_online",   "sessions_offline",  "subscriptions",
    "messages_in_per_s",  "messages_out_per_s", "bytes_in_per_s",   "bytes_out_per_s",
    "drops_per_s",        "store_bytes",        "retained",          "backlog"};

struct HistorySample {
  std::uint64_t seq = 0;  // 1, 2, ...: readers follow this, not the wall clock, which may step back
  std::int64_t t_ms = 0;  // wall clock, for display
  std::array<float, kHistorySeries.size()> values{};  // float: plots need no more, and it halves the ring
};

class History {
 public:
  explicit History(std::size_t capacity);
  // Numbers the sample (seq) and keeps it, the oldest going when full.
  void push(HistorySample sample);
  // The samples taken after `seq`, oldest first (walks back from the newest:
  // a live feed asking each second costs one sample).
  std::vector<HistorySample> after(std::uint64_t seq) const;
  // The samples whose wall-clock time is after `since_ms`, oldest first.
  std::vector<HistorySample> since(std::int64_t since_ms) const;
  std::uint64_t last_seq() const { return next_seq_ - 1; }
  std::size_t capacity() const { return ring_.size(); }
  std::size_t size() const { return count_; }

 private:
  std::vector<HistorySample> ring_;
  std::size_t next_ = 0;   // where the next sample goes
  std::size_t count_ = 0;  // samples held, up to capacity
  std::uint64_t next_seq_ = 1;
  const HistorySample& newest(std::size_t back) const { return ring_[(next_ + ring_.size() - 1 - back) % ring_.size()]; }
};

}  // namespace tidegate::console
