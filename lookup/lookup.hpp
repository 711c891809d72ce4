#pragma once
// The cluster's lookup (docs/cluster.md, "The lookup"): an in-memory KV
// sharded across the gateways, telling which gateways care about a topic
// (their subscriptions' filters) and which gateway a client id is connected
// to.
//
// - Members: every gateway sends a heartbeat (on NATS, through the `publish`
//   callback) with its node id, its RPC endpoint, its incarnation (start
//   time), the epoch of its slot table and whether every owner has its state
//   (complete). A gateway not heard for member_timeout is gone.
// - Slots: SlotTable over the members; its epoch names the member list.
// - Owners hold their slots' keys in a Shard, filled by the gateways'
//   announcements: in full after every epoch change (that is how a restarted
//   gateway's shard is rebuilt), then one change at a time.
// - Questions (nodes_for, claim_client) are answered only when every member
//   is on this gateway's epoch and complete, and every owner asked answers in
//   rpc_timeout on the same epoch. Otherwise nullopt: the caller broadcasts.
//
// Threads: the RPC server runs on its own thread; heartbeats, expiry and
// announcements on the lookup's ticker thread. route_added(), nodes_for() and
// claim_client() block their caller for RPCs (at most rpc_timeout each):
// call them from the ingest thread or the cluster link's threads, never from
// a gateway worker or a libnats thread. Everything else may be called from
// any thread.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "lookup/peer_rpc.hpp"
#include "lookup/shard.hpp"
#include "lookup/slot_table.hpp"

namespace tidegate::lookup {

struct LookupOptions {
  std::string node;
  std::string bind = "127.0.0.1";
  std::uint16_t port = 0;          // 0: any free port (announced in heartbeats)
  std::string advertise;           // the address other gateways connect to (empty: bind)
  std::chrono::milliseconds heartbeat{250};
  std::chrono::milliseconds member_timeout{1500};
  std::chrono::milliseconds rpc_timeout{500};
};

struct LookupStats {
  std::uint64_t epoch = 0;
  std::vector<std::string> members;  // "node@host:port", sorted
  bool stable = false;               // every member on this epoch and complete: questions are answered
  bool complete = false;             // every owner has this gateway's state
  std::size_t slots_owned = 0;
  std::size_t entries = 0;           // keys held here
  std::uint64_t answered = 0;        // questions answered from the lookup
  std::uint64_t fallback_unstable = 0;     // not answered: members disagree or are incomplete
  std::uint64_t fallback_unreachable = 0;  // not answered: an owner did not answer in time
  std::uint64_t fallback_epoch = 0;        // not answered: an owner was on another epoch
  std::uint64_t epoch_changes = 0;
};

class Lookup {
  using Clock = std::chrono::steady_clock;

 public:
  using Publish = std::function<void(const std::string& heartbeat)>;
  // A client connected here is held by another gateway with a newer
  // connection (connected at since_ms): close ours. Runs on the ticker thread.
  using Superseded = std::function<void(const std::string& client_id, std::int64_t since_ms)>;
  // Listens at once; throws std::runtime_error when it cannot.
  Lookup(LookupOptions options, Shard::Matcher matcher, Publish publish, Superseded superseded);
  ~Lookup();
  void start();
  void stop();

  // Any thread: another gateway's heartbeat.
  void on_heartbeat(std::string_view payload);

  // This gateway's own state. route_added blocks until the owner has it
  // (false: it did not answer; this gateway counts as incomplete, so nobody
  // trusts the lookup until a full announcement succeeds).
  bool route_added(const std::string& filter);
  void route_removed(const std::string& filter);
  // The client connected here at since_ms: returns the gateway that held it
  // before (an empty optional inside: nowhere else), or nullopt when the
  // lookup cannot say.
  std::optional<std::optional<std::string>> claim_client(const std::string& client_id, std::int64_t since_ms);
  void client_gone(const std::string& client_id);
  // A session held here without a connection since start (restored from the
  // store): in this gateway's full announcements with connect time `since_ms`
  // (0: any gateway that holds it with a connection wins, and this gateway
  // hears that as a takeover). No RPC.
  void note_client(const std::string& client_id, std::int64_t since_ms);
  // The gateway that holds `client_id` (an empty optional inside: none, or
  // this one), without claiming it; nullopt when the lookup cannot say. While
  // the lookup settles (after start, while members change) it waits up to
  // `settle_wait` for it to answer.
  std::optional<std::optional<std::string>> holder_of(const std::string& client_id,
                                                      std::chrono::milliseconds settle_wait = {});

  // True when every gateway that asks the lookup from now on finds this
  // gateway's current state: this gateway has listened for member_timeout,
  // every owner has its state (complete), and every other member's latest
  // heartbeat is on this gateway's epoch (a member on another epoch would ask
  // owners that may not have it). A question answered before this was true
  // may have left this gateway out; what it was about is in the stream.
  bool state_visible() const;

  // The gateways (this one included) with a subscription matching each
  // topic; nullopt: ask everybody.
  std::optional<std::map<std::string, std::set<std::string>>> nodes_for(const std::vector<std::string>& topics);

  LookupStats stats() const;
  std::uint16_t port() const { return server_.port(); }
  // The owner of a key in this gateway's current table (admin).
  std::string owner_of(std::string_view key) const;

 private:
  struct Peer {
    std::string host;
    std::uint16_t port = 0;
    std::uint64_t incarnation = 0;
    std::uint64_t epoch = 0;
    bool complete = false;
    std::chrono::steady_clock::time_point heard;
  };
  struct Change {
    bool add;
    bool client;  // else a filter
    std::string value;
  };
  nlohmann::json handle(const nlohmann::json& request);  // the RPC server's thread
  void tick();                                           // the ticker thread
  void heartbeat_if_due(Clock::time_point& next);        // the ticker thread, lock_ not held
  void rebuild_table_locked();
  NodeState state_for_owner_locked(const std::string& owner) const;
  std::string key_of(const Change& c) const;
  // Sends `request` to `owner` (this gateway: handled here). nullopt: no answer.
  std::optional<nlohmann::json> ask(const std::string& owner, const nlohmann::json& request);
  // This gateway's state is visible to every member (state_visible()).
  bool visible_locked() const;
  // ...and every member's is visible too: questions may be answered.
  bool stable_locked() const;
  // False, the fallback counted, when an owner did not answer or answered on
  // another epoch.
  bool answer_usable_locked(const std::optional<nlohmann::json>& answer);
  // The gateway an owner's usable answer names in `field` (this one: none);
  // nullopt when the answer is not usable.
  std::optional<std::optional<std::string>> gateway_named_locked(const std::optional<nlohmann::json>& answer,
                                                                 const char* field);
  std::string heartbeat_locked() const;

  LookupOptions options_;
  std::uint64_t incarnation_;
  Shard shard_;
  Publish publish_;
  Superseded superseded_;
  RpcServer server_;

  mutable std::mutex lock_;
  std::map<std::string, Peer> peers_;  // other gateways, by node id
  SlotTable table_;
  std::set<std::string> dirty_owners_;              // owners that need this gateway's full state
  // Bumped by every change of this gateway's own state: a full announcement
  // built before a change does not make its owner clean.
  std::uint64_t state_generation_ = 0;
  std::map<std::string, std::int64_t> local_clients_;  // held here (online or parked), with their connect time
  std::set<std::string> local_filters_;             // live (non-shared) filters here
  std::vector<Change> changes_;                     // to send, in order
  bool stopping_ = false;
  // A gateway does not know who else is there until it has listened for
  // member_timeout: it answers nothing before.
  Clock::time_point started_{};
  std::condition_variable wake_;
  std::condition_variable settled_;  // a heartbeat or a round of announcements: stability may have changed
  std::thread ticker_;
  LookupStats counters_;
};

}  // namespace tidegate::lookup
