#pragma once
// Which connection owns which session, across worker threads (MQTT 3.1.4-3
// takeover, 4.1 session lifetime).
//
// Threads: every function may be called from any worker; the registry's own
// state is guarded by one mutex taken only at connect, disconnect and on the
// once-a-second sweep — never on the message path. A parked (offline) session
// is owned by the registry; an online one by its connection's worker.
#include <cstdint>
#include <functional>
#include <optional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway/session/session.hpp"

namespace tidegate {

// What the admin API shows of one session. For an online one it is read on
// the connection's worker (inspect()); for a parked one under the registry lock.
struct SessionView {
  std::string client_id;
  bool online = false;
  std::optional<std::string> address;
  std::optional<std::string> username;  // the identity the session belongs to; none: anonymous
  std::optional<int> protocol;
  std::optional<std::int64_t> connected_since_ms;
  std::optional<int> keep_alive;
  bool persistent = false;
  std::uint32_t expiry_interval = 0;
  struct Sub {
    std::string filter;
    SubscriptionOptions options;
  };
  std::vector<Sub> subscriptions;  // filled by details only
  std::size_t inflight = 0;
  struct Queue {
    std::string queue;
    std::uint64_t position = 0;
  };
  std::vector<Queue> queues;
  Session::Traffic traffic;  // filled by details only
  struct WillView {
    std::string topic;
    std::uint8_t qos = 0;
    bool retain = false;
    std::size_t bytes = 0;
    std::uint32_t delay_interval = 0;
    std::optional<std::int64_t> publish_at_ms;  // offline, Will Delay running: when it goes out
  };
  std::optional<WillView> will;  // filled by details only
};

// Fills a view from a session (the owner's thread, or under the registry lock).
void describe_session(const Session& session, bool details, SessionView& view);

// Implemented by a connection; each call must only post to its own worker.
class SessionOwner {
 public:
  virtual ~SessionOwner() = default;
  // Fixed at CONNECT, before the connection owns its id: readable from any
  // thread once the registry has handed it out.
  virtual SessionView summary() const = 0;
  // Fills `view` with the attached session's details on the owner's worker,
  // then calls `done` there.
  virtual void inspect(std::function<void(SessionView)> done) = 0;
  // Admin: disconnect (v5: DISCONNECT 0x98); with end_session, the session
  // ends with the connection even if it is persistent.
  virtual void kick(bool end_session) = 0;
  // Another connection claims this client id: close (v5: DISCONNECT 0x8E)
  // and then call SessionRegistry::release().
  virtual void take_over() = 0;
  // A claim that was waiting has been overtaken by a newer one.
  virtual void superseded() = 0;
  // Cluster mode: the client id connected on another gateway at claimed_at_ms
  // (wall clock). If this connection is the older one (on a tie: if
  // lose_ties), close it (v5: DISCONNECT 0x8E) and end its session: the
  // client lives on the other gateway now. If it is the newer one, call
  // `keep` (on the owner's worker) with its own connect time: the other
  // gateway's connection is the one to close.
  virtual void taken_over_elsewhere(std::int64_t claimed_at_ms, bool lose_ties,
                                    std::function<void(std::int64_t connected_ms)> keep) = 0;
  // The session (or nullptr: none is present) now belongs to this connection.
  virtual void session_handed(std::unique_ptr<Session> session) = 0;
};

class SessionRegistry {
 public:
  // Called by the registry, under its lock (so they may only queue work), for
  // parked sessions whose will is due, and for sessions that expire (the will,
  // if still pending, first).
  struct Hooks {
    std::function<void(const std::string& client_id, mqtt::Will will)> publish_will;
    std::function<void(std::unique_ptr<Session> session)> end_session;
  };
  explicit SessionRegistry(Hooks hooks) : hooks_(std::move(hooks)) {}

  // A new connection for `client_id`. When nobody is connected with it, the
  // parked session (or nullptr) is returned at once and `owner` owns the id.
  // Otherwise the current owner is told to take_over(), and `owner` later gets
  // session_handed() on its own worker; `*waiting` is then set to true.
  std::unique_ptr<Session> claim(const std::string& client_id, const std::shared_ptr<SessionOwner>& owner,
                                 bool& waiting);
  // As claim(), for a client that authenticated as `*identity` (nullptr: no
  // check, as claim()). When the id's session, online or parked, belongs to
  // another identity, nothing changes: `refused` is set and nullptr returned
  // (docs/security.md). A session with no recorded owner may be claimed by anyone.
  std::unique_ptr<Session> claim_as(const std::string& client_id, const SessionIdentity* identity,
                                    const std::shared_ptr<SessionOwner>& owner, bool& waiting, bool& refused);
  // The owner's connection has ended. `session` is the session to keep (a
  // persistent one) or nullptr when it ended with the connection.
  void release(const std::string& client_id, const SessionOwner* owner, std::unique_ptr<Session> session);
  // Restores a session loaded from the store at start-up.
  void park(std::unique_ptr<Session> session);
  // Takes a parked session out (nullptr when none is parked under the id);
  // start-up only, to reconcile a bridge's session with its config.
  std::unique_ptr<Session> unpark(const std::string& client_id);

  // Publishes due wills and ends expired sessions; call about once a second.
  void sweep(std::int64_t now_ms);

  std::size_t online() const;
  std::size_t parked() const;

  // Admin API. list(): summaries of every session, sorted by client id.
  std::vector<SessionView> list() const;
  // The owner of an online session (to inspect or kick), else nullptr; for
  // a parked one `view` is filled with its details.
  std::shared_ptr<SessionOwner> find(const std::string& client_id, std::optional<SessionView>& parked_view) const;
  // Ends a parked session (under the lock, as sweep() does); false if there is none.
  bool end_parked(const std::string& client_id);

 private:
  struct Entry {
    std::weak_ptr<SessionOwner> owner;
    std::weak_ptr<SessionOwner> pending;
    std::unique_ptr<Session> parked;
    // Whom the online owner authenticated as (claim_as); a parked session
    // carries its own (Session::owner).
    std::optional<SessionIdentity> owner_identity, pending_identity;
  };
  Hooks hooks_;
  mutable std::mutex lock_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace tidegate
