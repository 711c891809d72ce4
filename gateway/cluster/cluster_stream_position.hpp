#pragma once
// Cluster mode: the highest stream sequence this gateway has seen, its own
// appends included. A catch-up after a reconnect starts a little before it
// (docs/cluster.md, "How a message travels"), and a session handover tells
// the holder up to where this gateway's own messages are already here
// ("Sessions across gateways").
//
// Threads: any (an atomic maximum): libnats threads note acknowledged
// appends, the fetch thread notes what it reads, the handover's asking
// threads read it.
#include <atomic>
#include <cstdint>

namespace tidegate {

class StreamPosition {
 public:
  void note(std::uint64_t seq) {
    auto seen = last_.load(std::memory_order_relaxed);
    while (seq > seen && !last_.compare_exchange_weak(seen, seq, std::memory_order_relaxed)) {
    }
  }
  std::uint64_t last() const { return last_.load(); }

 private:
  std::atomic<std::uint64_t> last_{0};
};

}  // namespace tidegate
