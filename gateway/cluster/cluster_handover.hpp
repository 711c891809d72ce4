#pragma once
// Cluster mode: a persistent session follows its client to another gateway
// (docs/cluster.md, "Sessions across gateways"). Only with the lookup: it
// names the gateway that holds a client id.
//
// A client connects to gateway B without Clean Start, and B holds no session
// for it: B fetches it from the gateway that holds it, H
// (cluster_session_fetch.hpp), which serves the move
// (cluster_session_serve.hpp). B claims the client id in the lookup only
// when the CONNACK goes out, as any gateway does, so a move that fails leaves
// the lookup naming H.
// - H not running (nobody listens on its subject): the client starts a new
//   session here.
// - A move that fails half-way: B sends "abort" (H parks the session again at
//   once) and the CONNECT is refused with 0x88 (3.1.1: server unavailable);
//   the client's next attempt moves it.
// - The lookup cannot say (it has not settled within request_timeout_ms, at
//   least 5 s): the CONNECT is refused with 0x88, and the session stays
//   where it is.
// A message published during the move reaches both gateways: B sends it once
// (Session::handed_stream_seqs).
//
// Threads: fetch() queues onto an asking thread, which blocks on NATS
// requests and ingest round trips; requests from other gateways run on the
// serving thread (a separate one: two gateways fetching from each other must
// not wait on each other); libnats callbacks only queue work.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gateway/cluster/cluster_handover_common.hpp"
#include "gateway/cluster/cluster_session_serve.hpp"
#include "gateway/cluster/cluster_task_thread.hpp"

namespace tidegate {

class SessionHandover {
 public:
  using Hooks = HandoverHooks;
  using FetchResult = SessionFetchResult;
  using Fetched = std::function<void(FetchResult)>;
  using Counters = HandoverCounters::Counts;

  SessionHandover(std::string node, std::shared_ptr<store::JetStreamClient> client, lookup::Lookup& lookup,
                  Ingest& ingest, cache::QueueCache& cache, SessionRegistry& registry, std::int64_t timeout_ms,
                  std::size_t max_handover_bytes, Hooks hooks);
  ~SessionHandover();

  // Subscribes to this gateway's request subject and starts the threads.
  void start();
  void stop();

  // Any thread: the session of `client_id` from the gateway that held it.
  // `done` runs on an asking thread (it must only post).
  void fetch(const std::string& client_id, std::int64_t connected_ms, Fetched done);

  // How long a gateway keeps a session it handed over without hearing "done"
  // (at least; longer with a long request_timeout_ms).
  static constexpr std::chrono::milliseconds kMinHold{30000};

  Counters counters() const { return env_.counters.get(); }

 private:
  void on_request(std::string data, std::string reply);  // the serving thread

  HandoverEnv env_;
  SessionServer server_;  // the serving thread's
  // Asking threads: a client id always asks on the same one (its requests in
  // order); several, so that many clients moving at once (the clients of a
  // gateway that died, reconnecting elsewhere) do not queue behind each
  // other's round trips for longer than their connect_timeout.
  static constexpr std::size_t kAskingThreads = 4;
  std::vector<std::unique_ptr<HandoverTaskThread>> asking_;
  std::unique_ptr<HandoverTaskThread> serving_;
  std::uint64_t request_subscription_ = 0;  // tg.s.<node>, unsubscribed by stop()
  // Last, so destroyed first: no libnats callback outlives the threads it posts to.
  std::shared_ptr<store::JetStreamClient> client_;
};

}  // namespace tidegate
