#pragma once
// An application message as it is stored once and then shared, immutable, by
// every queue, cache slot and session that delivers it (docs/design.md, "Queues
// and sequences" and "Pulling and pushing").
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tidegate::store {

struct UserProperty {
  std::string key;
  std::string value;
  bool operator==(const UserProperty&) const = default;
};

// The memory of every shared PUBLISH encoding (EncodedPublish) of every
// message, against one limit (config max_shared_publish_bytes). An encoding is
// charged when it is built and given back when it is freed with its message.
//
// Why one budget and not Message::footprint(): an encoding is built after its
// message entered the queue cache (by a worker, at the message's second
// delivery), so a footprint that grew afterwards would not match what the
// cache added for the message; and the cache is not the only holder: retained
// messages (whose quota counts topic and payload) and inflight lists keep
// messages, and so their encodings, alive. One budget bounds them all with one
// key, and its policy costs CPU, not messages: at the limit a delivery encodes
// its own bytes, as every delivery did before the sharing.
//
// Threads: any (atomics). A limit lowered below what is held refuses new
// encodings until messages are freed.
class EncodingBudget {
 public:
  explicit EncodingBudget(std::size_t limit) : limit_(limit) {}
  EncodingBudget(const EncodingBudget&) = delete;
  EncodingBudget& operator=(const EncodingBudget&) = delete;

  // Charges n bytes unless the total would pass the limit (false: nothing
  // charged, and the refusal is counted).
  bool try_charge(std::size_t n);
  void release(std::size_t n) { bytes_.fetch_sub(n, std::memory_order_relaxed); }
  void set_limit(std::size_t limit) { limit_.store(limit, std::memory_order_relaxed); }

  std::size_t limit() const { return limit_.load(std::memory_order_relaxed); }
  std::size_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  std::uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::size_t> limit_;
  std::atomic<std::size_t> bytes_{0};
  std::atomic<std::uint64_t> refused_{0};
};

// A PUBLISH packet encoded once for every delivery of one variant of a
// message (gateway/pipeline/shared_publish.hpp decides the variants and the bytes).
struct EncodedPublish {
  std::string bytes;               // the whole packet, fixed header included
  std::size_t packet_id_at = 0;    // offset of the 2-byte packet id; 0: none (QoS 0)
  // What building it charged, given back when it is freed (on whichever thread
  // drops the message's last MessagePtr; the budget lives as long as that).
  std::shared_ptr<EncodingBudget> budget;
  std::size_t charged = 0;

  EncodedPublish() = default;
  EncodedPublish(const EncodedPublish&) = delete;
  EncodedPublish& operator=(const EncodedPublish&) = delete;
  ~EncodedPublish() {
    if (budget) budget->release(charged);
  }
};

// Lazily built encodings, one slot per variant, on an otherwise immutable
// Message shared by several worker threads.
// Threads: any worker reads a slot (acquire load); the first worker that needs
// an empty slot builds the bytes privately and publishes them with one
// compare-exchange (release); a worker that loses the race frees its own copy
// and uses the winner's. A published EncodedPublish is never modified and is
// freed by ~EncodedPublishSlots, i.e. by whoever drops the last MessagePtr
// (after every reader, through the shared_ptr count).
// A copy of a Message starts with empty slots: its bytes may differ.
class EncodedPublishSlots {
 public:
  static constexpr std::size_t kSlots = 4;
  EncodedPublishSlots() = default;
  EncodedPublishSlots(const EncodedPublishSlots&) {}
  EncodedPublishSlots& operator=(const EncodedPublishSlots&) { return *this; }
  ~EncodedPublishSlots();

  const EncodedPublish* get(std::size_t slot) const { return slots_[slot].load(std::memory_order_acquire); }
  // Publishes `built` unless another thread was first; returns the slot's content.
  const EncodedPublish* install(std::size_t slot, std::unique_ptr<EncodedPublish> built) const;
  // True for the first call only (any thread): a message delivered once (p2p,
  // fan-in) is encoded per delivery and builds no slot, which would only cost
  // an allocation and a copy.
  bool first_use() const { return uses_.fetch_add(1, std::memory_order_relaxed) == 0; }

 private:
  mutable std::array<std::atomic<const EncodedPublish*>, kSlots> slots_{};
  mutable std::atomic<std::uint32_t> uses_{0};  // calls of first_use()
};

struct Message {
  std::uint64_t seq = 0;  // global sequence, assigned by the ingest thread; 0 = not appended
  // Cluster mode: its sequence in the shared JetStream stream (0: unknown).
  // In memory only (not in the message codec): it tells a session handed over
  // from another gateway which messages it already holds (cluster_handover.hpp).
  std::uint64_t stream_seq = 0;
  std::string topic;
  std::string payload;
  std::uint8_t qos = 0;
  bool retain = false;
  std::string origin_client_id;            // the publisher, for No Local
  std::int64_t created_ms = 0;             // wall clock at ingress, ms since epoch
  std::optional<std::int64_t> expires_at_ms;  // from Message Expiry Interval; wall clock
  // MQTT 5 properties forwarded unchanged to subscribers (MQTT-3.3.2-*).
  std::optional<std::uint8_t> payload_format_indicator;
  std::optional<std::string> content_type;
  std::optional<std::string> response_topic;
  std::optional<std::string> correlation_data;
  std::vector<UserProperty> user_properties;
  // Not part of the message: encoded PUBLISH bytes shared by its deliveries
  // (counted against an EncodingBudget, not by footprint(): see there).
  EncodedPublishSlots encoded;

  bool expired_at(std::int64_t now_ms) const { return expires_at_ms && *expires_at_ms <= now_ms; }
  // Approximate bytes held in memory, for cache and queue byte bounds.
  std::size_t footprint() const;
};

using MessagePtr = std::shared_ptr<const Message>;

std::int64_t wall_clock_ms();

}  // namespace tidegate::store
