#pragma once
// Cluster mode: what both sides of a session handover share (docs/cluster.md,
// "Sessions across gateways"): the parts of the gateway they use, their hooks
// into the cluster link, their counters, and the helpers of the
// request/reply exchange on `tg.s.<node>` (JSON requests, CBOR replies).
// The fetching side is cluster_session_fetch.hpp, the serving side
// cluster_session_serve.hpp, both run by SessionHandover (cluster_handover.hpp).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cache/queue_cache.hpp"
#include "gateway/pipeline/ingest.hpp"
#include "gateway/session/session.hpp"
#include "gateway/session/session_registry.hpp"
#include "lookup/lookup.hpp"
#include "storeclient/jetstream_client.hpp"

namespace tidegate {

// What the handover asks of the rest of the cluster link.
struct HandoverHooks {
  // The previous holder of `client_id` is asked for nothing (its session is
  // not persistent, or it has none): close an older connection there.
  std::function<void(const std::string& client_id, std::int64_t claimed_at, const std::string& origin)> takeover;
  // A session handed to another gateway is gone from here (lookup state).
  std::function<void(const std::string& client_id)> gone;
  // Waits (bounded) until the messages of other gateways whose notify has
  // arrived here are in this gateway's queues.
  std::function<void(std::chrono::milliseconds timeout)> drain_fetch;
  // A session is about to be snapshot for gateway `to`: for `hold`, what
  // this gateway receives late for its filters must reach `to` as well
  // (`to`'s own messages up to own_up_to only).
  std::function<void(const std::string& client_id, const std::string& to, std::vector<std::string> filters,
                     std::uint64_t own_up_to, std::chrono::milliseconds hold)>
      moving_out;
  // The session stays here after all (the move failed or was given up).
  std::function<void(const std::string& client_id)> stays;
  // The highest stream sequence this gateway has seen (own appends included).
  std::function<std::uint64_t()> stream_position;
};

struct SessionFetchResult {
  std::unique_ptr<Session> session;  // null: none to move (the client starts a new one)
  bool retry_later = false;          // the move failed half-way; the session stays where it was
};

// Any thread: the asking threads count fetches, the serving thread moves out.
class HandoverCounters {
 public:
  struct Counts {
    std::uint64_t fetched = 0;   // sessions received from another gateway
    std::uint64_t handed = 0;    // sessions given to another gateway ("done" heard)
    std::uint64_t returned = 0;  // handed over, no "done": parked here again
    std::uint64_t failed = 0;    // a fetch that asked and got nothing usable (a new session, or 0x88)
  };
  void add(std::uint64_t Counts::*field) {
    std::lock_guard guard(lock_);
    ++(counts_.*field);
  }
  Counts get() const {
    std::lock_guard guard(lock_);
    return counts_;
  }

 private:
  mutable std::mutex lock_;
  Counts counts_;
};

// The gateway's parts both sides use; owned by SessionHandover.
struct HandoverEnv {
  std::string node;
  store::JetStreamClient& client;
  lookup::Lookup& lookup;
  Ingest& ingest;
  cache::QueueCache& cache;
  SessionRegistry& registry;
  std::int64_t timeout_ms;
  // How long H keeps a session it handed over without hearing "done".
  std::chrono::milliseconds hold;
  // Waiting messages one handover carries at most (Message::footprint();
  // cluster.max_handover_bytes): a bound on the reply and on memory. A
  // session with more is not moved (the CONNECT elsewhere is refused with
  // 0x88): carrying part of it would lose the rest.
  std::size_t max_handover_bytes;
  HandoverHooks hooks;
  HandoverCounters counters;
};

namespace handover {

using json = nlohmann::json;

inline std::string request_subject(const std::string& node) { return "tg.s." + node; }

inline std::string cbor(const json& j) {
  auto bytes = json::to_cbor(j);
  return std::string(bytes.begin(), bytes.end());
}

// Waits for a completion on another thread (the asking and serving threads may block).
template <typename T>
T wait_result(std::future<T>& f, std::int64_t timeout_ms, T fallback) {
  if (f.wait_for(std::chrono::milliseconds(timeout_ms)) != std::future_status::ready) return fallback;
  return f.get();
}

}  // namespace handover

}  // namespace tidegate
