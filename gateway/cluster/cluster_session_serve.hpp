#pragma once
// Cluster mode, on the gateway that holds a session (H): serving a move of
// it to the gateway its client connected to (docs/cluster.md, "Sessions
// across gateways"). The requests, in the order the other gateway sends them:
//  - "filters": the session's filters; nothing changes here. A session that
//    is not persistent is not moved; an older connection here gives way.
//  - "take": closes the client's connection here (DISCONNECT 0x8E, as a local
//    takeover does), passes on what arrives late for it from now on
//    (cluster_relays.hpp), lets the fetch and ingest threads finish what was
//    announced and published before, and replies with the session's snapshot
//    (cluster_session_snapshot.hpp), in parts ("part") when larger than a
//    NATS message may be, with a token naming the move.
//  - "done" with that token: the session ends here without a will (it goes
//    on there). Without "done" within the hold, or on "abort", it is parked
//    here again, with nothing lost.
//
// Threads: SessionHandover's serving thread only (requests and expire());
// it blocks on the client's worker, the fetch thread and the ingest thread.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "gateway/cluster/cluster_handover_common.hpp"

namespace tidegate {

class SessionServer {
 public:
  explicit SessionServer(HandoverEnv& env) : env_(env) {}

  // A request from another gateway: the reply (CBOR).
  std::string serve(const std::string& request);
  // Parks again what nobody confirmed within the hold; forgets old tokens.
  void expire();
  // stop(): sessions handed over and not confirmed stay here.
  void release_all();

 private:
  using json = handover::json;
  class Holder;  // the SessionOwner that takes the client's session here
  struct Serving {
    std::string to;  // the gateway it goes to
    std::shared_ptr<Holder> holder;
    std::unique_ptr<Session> session;
    std::string blob;  // what "take" replies, in parts
    std::chrono::steady_clock::time_point deadline;
    std::string token;  // names the move; "done" must carry it
  };

  std::string filters(const std::string& client_id, std::int64_t since, const std::string& from);
  std::string take(const std::string& client_id, const std::string& from, std::uint64_t own_up_to);
  std::string part(const std::string& client_id, const std::string& from, std::size_t offset);
  std::string done(const std::string& client_id, const std::string& from, const std::string& token);
  void abort(const std::string& client_id, const std::string& from);
  // "take": the session from its connection here; nullopt, or the reply refusing.
  std::optional<std::string> claim(const std::string& client_id, const std::string& from,
                                   const std::shared_ptr<Holder>& holder, std::unique_ptr<Session>& session);
  // "take": what was announced and published before is in its queues. False:
  // the ingest thread did not answer in time (the session is parked again).
  bool settle(const std::string& client_id, const std::string& from, std::uint64_t own_up_to,
              const std::shared_ptr<Holder>& holder, std::unique_ptr<Session>& session);
  // The session stays here after all: parked again, as it was.
  void park_again(const std::string& client_id, Holder* holder, std::unique_ptr<Session> session);

  HandoverEnv& env_;
  std::map<std::string, Serving> served_;
  // Tokens of moves done, until the hold passes: a repeated "done" is answered the same.
  std::map<std::string, std::chrono::steady_clock::time_point> completed_;
  std::uint64_t moves_ = 0;
};

}  // namespace tidegate
