#pragma once
// One place in the count of open connections (Metrics::connections_open),
// taken before a socket is kept and given back exactly once, when the slot
// is destroyed: with the Connection that holds it, or with an accepted socket
// whose Connection was never made. The acceptor (main thread) takes slots;
// they are given back on any thread. Taking a slot is increment-then-check,
// so a burst of accepts cannot pass max_connections while earlier
// connections are still being set up on their workers (docs/design.md).
#include <atomic>
#include <cstdint>
#include <optional>
#include <utility>

namespace tidegate {

class ConnectionSlot {
 public:
  // A slot within `limit`, or nullopt when `limit` slots are taken already.
  static std::optional<ConnectionSlot> try_take(std::atomic<std::int64_t>& open, std::size_t limit) {
    if (open.fetch_add(1, std::memory_order_relaxed) >= static_cast<std::int64_t>(limit)) {
      open.fetch_sub(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    return ConnectionSlot(open);
  }
  // A slot regardless of the limit: a bridge's own outgoing link.
  static ConnectionSlot take(std::atomic<std::int64_t>& open) {
    open.fetch_add(1, std::memory_order_relaxed);
    return ConnectionSlot(open);
  }

  ConnectionSlot(ConnectionSlot&& other) noexcept : open_(std::exchange(other.open_, nullptr)) {}
  ConnectionSlot& operator=(ConnectionSlot&& other) noexcept {
    if (this != &other) {
      release();
      open_ = std::exchange(other.open_, nullptr);
    }
    return *this;
  }
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;
  ~ConnectionSlot() { release(); }

 private:
  explicit ConnectionSlot(std::atomic<std::int64_t>& open) : open_(&open) {}
  void release() {
    if (open_) open_->fetch_sub(1, std::memory_order_relaxed);
    open_ = nullptr;
  }

  std::atomic<std::int64_t>* open_;
};

}  // namespace tidegate
