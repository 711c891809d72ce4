#pragma once
// Cluster mode: a persistent session follows its client to another gateway
// (docs/cluster.md, "Sessions across gateways").
//
// A client connects to gateway B without Clean Start, and B holds no session
// for it. B asks the lookup which gateway holds the client id (H; asked, not
// claimed), and then:
//  1. asks H for the session's filters ("filters"; nothing changes on H);
//  2. subscribes to them here for the client: from now on every new message
//     for them reaches B's queues as well (the interest is live here and in
//     the lookup before the subscribe completes);
//  3. asks H for the session ("take"). H closes the client's connection there
//     (DISCONNECT 0x8E, as a local takeover does), lets its fetch and ingest
//     threads finish what was announced and published before, and replies
//     with the session record, the messages in flight (with their packet
//     ids) and the messages queued but not sent yet, each with its stream
//     sequence (in parts when larger than a NATS message may be);
//  4. stores all of it (record, positions, inflight records) and then tells
//     H "done" (a request: H answers once its copy has ended, without a will:
//     the session goes on). Without "done" within hold_ H parks the session
//     again: B died or gave up, and nothing was lost.
// B claims the client id in the lookup only when the CONNACK goes out, as
// any gateway does, so a move that fails leaves the lookup naming H.
// - H not running (nobody listens on its subject): the client starts a new
//   session here.
// - A move that fails half-way: B sends "abort" (H parks the session again at
//   once) and the CONNECT is refused with 0x88 (3.1.1: server unavailable);
//   the client's next attempt moves it.
// - The lookup cannot say (it has not settled within settle_wait()): the
//   CONNECT is refused with 0x88, and the session stays where it is.
// A message published between 2 and 3 reaches both gateways: B sends it once
// (Session::handed_stream_seqs).
//
// Threads: fetch() queues onto an asking thread, which blocks on NATS
// requests and ingest round trips; requests from other gateways run on the
// serving thread (a separate one: two gateways fetching from each other must
// not wait on each other); libnats callbacks only queue work.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cache/queue_cache.hpp"
#include "gateway/pipeline/ingest.hpp"
#include "gateway/session/session_registry.hpp"
#include "lookup/lookup.hpp"
#include "storeclient/jetstream_client.hpp"

namespace tidegate {

class SessionHandover {
 public:
  struct Hooks {
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
  SessionHandover(std::string node, std::shared_ptr<store::JetStreamClient> client, lookup::Lookup& lookup,
                  Ingest& ingest, cache::QueueCache& cache, SessionRegistry& registry, std::int64_t timeout_ms,
                  std::size_t max_handover_bytes, Hooks hooks);
  ~SessionHandover();

  // Subscribes to this gateway's request subject and starts both threads.
  void start();
  void stop();

  struct FetchResult {
    std::unique_ptr<Session> session;  // null: none to move (the client starts a new one)
    bool retry_later = false;          // the move failed half-way; the session stays where it was
  };
  using Fetched = std::function<void(FetchResult)>;
  // Any thread: the session of `client_id` from the gateway that held it.
  // `done` runs on an asking thread (it must only post).
  void fetch(const std::string& client_id, std::int64_t connected_ms, Fetched done);

  static std::string request_subject(const std::string& node) { return "tg.s." + node; }
  // How long a CONNECT waits for the lookup to settle before it is refused
  // (0x88, come back later): request_timeout_ms, at least kMinSettleWait.
  static constexpr std::chrono::milliseconds kMinSettleWait{5000};
  std::chrono::milliseconds settle_wait() const {
    return std::max(kMinSettleWait, std::chrono::milliseconds(timeout_ms_));
  }
  // How long a gateway keeps a session it handed over without hearing "done"
  // (at least; longer with a long request_timeout_ms).
  static constexpr std::chrono::milliseconds kMinHold{30000};

  struct Counters {
    std::uint64_t fetched = 0;       // sessions received from another gateway
    std::uint64_t handed = 0;        // sessions given to another gateway ("done" heard)
    std::uint64_t returned = 0;      // handed over, no "done": parked here again
    std::uint64_t failed = 0;        // a fetch that asked and got nothing usable (a new session, or 0x88)
  };
  Counters counters() const;

 private:
  class Holder;  // the SessionOwner that takes the client's session on H
  struct Serving {
    std::string to;  // the gateway it goes to
    std::shared_ptr<Holder> holder;
    std::unique_ptr<Session> session;
    std::string blob;  // what "take" replies, in parts
    std::chrono::steady_clock::time_point deadline;
    std::string token;  // names the move; "done" must carry it
  };
  class TaskThread;

  FetchResult fetch_now(const std::string& client_id, std::int64_t connected_ms);  // asking thread
  std::string serve(const std::string& request);  // serving thread: the reply
  std::string serve_filters(const std::string& client_id, std::int64_t since, const std::string& from);
  std::string serve_take(const std::string& client_id, const std::string& from, std::uint64_t own_up_to);
  std::string serve_part(const std::string& client_id, const std::string& from, std::size_t offset);
  std::string serve_done(const std::string& client_id, const std::string& from, const std::string& token);
  void serve_abort(const std::string& client_id, const std::string& from);
  void expire_served();  // serving thread: parks again what nobody confirmed
  // The session's record with everything waiting for it appended to its
  // handed messages, and its inflight messages: the reply to "take".
  // `too_large`: the waiting messages exceed max_handover_bytes_ (nothing returned).
  std::string snapshot(Session& session, bool& too_large);

  std::string node_;
  lookup::Lookup& lookup_;
  Ingest& ingest_;
  cache::QueueCache& cache_;
  SessionRegistry& registry_;
  std::int64_t timeout_ms_;
  std::chrono::milliseconds hold_;
  // Waiting messages one handover carries at most (Message::footprint();
  // cluster.max_handover_bytes): a bound on the reply and on memory. A
  // session with more is not moved (the CONNECT elsewhere is refused with
  // 0x88): carrying part of it would lose the rest.
  std::size_t max_handover_bytes_;
  Hooks hooks_;
  // Asking threads: a client id always asks on the same one (its requests in
  // order); several, so that many clients moving at once (the clients of a
  // gateway that died, reconnecting elsewhere) do not queue behind each
  // other's round trips for longer than their connect_timeout.
  static constexpr std::size_t kAskingThreads = 4;
  std::vector<std::unique_ptr<TaskThread>> asking_;
  std::unique_ptr<TaskThread> serving_;
  std::map<std::string, Serving> served_;  // the serving thread's
  std::map<std::string, std::chrono::steady_clock::time_point> completed_;  // tokens of moves done, until hold_ passes
  std::uint64_t moves_ = 0;
  std::uint64_t request_subscription_ = 0;  // tg.s.<node>, unsubscribed by stop()
  mutable std::mutex counters_lock_;
  Counters counters_;
  // Last, so destroyed first: no libnats callback outlives the threads it posts to.
  std::shared_ptr<store::JetStreamClient> client_;
};

}  // namespace tidegate
