#pragma once
// Cluster mode, on the gateway a client connects to (B): one move of its
// session from the gateway that holds it (H), steps 1 to 4 of
// docs/cluster.md, "Sessions across gateways":
//  1. asks the lookup who holds the client id (asked, not claimed), then H
//     for the session's filters ("filters"; nothing changes on H);
//  2. subscribes to them here for the client: from now on every new message
//     for them reaches B's queues as well;
//  3. asks H for the session ("take", then "part" while the reply is larger
//     than one NATS message);
//  4. stores it here, then tells H "done", naming the move by its token.
// A move that fails after step 1 is undone: the subscriptions and a copy
// stored here go, and H parks the session again at once ("abort").
//
// Threads: one of SessionHandover's asking threads, from start to end; it
// blocks on NATS requests and on ingest round trips.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "gateway/cluster/cluster_handover_common.hpp"

namespace tidegate {

class SessionFetch {
 public:
  SessionFetch(HandoverEnv& env, std::string client_id, std::int64_t connected_ms)
      : env_(env), client_id_(std::move(client_id)), connected_ms_(connected_ms) {}
  SessionFetch(const SessionFetch&) = delete;
  SessionFetch& operator=(const SessionFetch&) = delete;
  // Whatever way run() ended without the session (an exception included),
  // once filters were asked for: the move is undone.
  ~SessionFetch();

  SessionFetchResult run();

 private:
  using json = handover::json;
  // Each step: nullopt to go on, or how the fetch ends.
  std::optional<SessionFetchResult> find_holder();
  std::optional<SessionFetchResult> ask_filters(json& filters);
  // `taken_at`: when H answered "take" (it holds the session for the hold from then).
  std::optional<SessionFetchResult> take(std::string& blob, std::string& token,
                                         std::chrono::steady_clock::time_point& taken_at);
  std::unique_ptr<Session> decode(const std::string& blob);
  bool follow_subscriptions(Session& session);
  Ingest::SessionProgress positions(Session& session);
  std::string store(Session& session, Ingest::SessionProgress progress);  // empty, or why not
  std::optional<SessionFetchResult> confirm(const std::string& token);

  std::optional<json> ask(json request, std::int64_t timeout_ms);  // H's answer, or nullopt (ec_)
  bool subscribe(const std::string& filter);
  void count_failure(const std::string& why);
  SessionFetchResult abort(const std::string& why);  // counted; the client comes back later
  void undo();

  HandoverEnv& env_;
  const std::string client_id_;
  const std::int64_t connected_ms_;
  std::string holder_;   // H, once the lookup named it
  std::string subject_;  // H's request subject
  std::error_code ec_;   // of the last request
  std::map<std::string, Ingest::SubscribeResult> subscribed_;  // filter -> queue, start
  bool armed_ = false;       // undo() at the end unless the session is here
  bool stored_here_ = false;
  Ingest::SessionProgress unstore_;  // what storing it here wrote besides the record
};

}  // namespace tidegate
