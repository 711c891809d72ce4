#pragma once
// Cluster mode (docs/cluster.md): this gateway's link to the
// shared JetStream store and to the other gateways.
//
// Publish path: every message a client publishes here is appended to the
// stream first (Ingest::Replicator); only when JetStream has acknowledged a
// connection's whole batch does the batch go on to this node's ingest thread
// (so a device's PUBACK always follows JetStream's), and one notify event per
// batch tells the other gateways the stream sequences and topics it added.
// A message JetStream refuses or does not acknowledge in time completes with
// the error: refused to the device, delivered to nobody.
//
// Notify path: events go to the gateways the lookup names (`tg.n.<node>`),
// or to all on `tg.n.all` when it cannot answer (lookup/lookup.hpp). The fetch
// thread keeps those whose topic matches a filter with live queues here
// (retained messages always: a later subscriber here needs them), reads each
// from the stream by sequence, and hands them to the ingest thread in the
// order they were published. A filter that went live here while another
// gateway's lookup may still answer without it is "settling": its messages
// are read from the stream once the lookup shows it (settle_routes()).
//
// Takeover: a client that connects here is announced to the gateway the
// lookup names as its previous holder (`tg.c.<node>`; `tg.c.all` when it
// cannot say); the gateway that holds an older connection with the same
// client id closes it (v5 0x8E) and ends its session there; a session parked
// there ends too.
//
// Shared subscriptions: gateway/cluster/cluster_groups.hpp. Sessions moving to
// another gateway: gateway/cluster/cluster_handover.hpp (and cluster_relays.hpp).
//
// Threads: replicate() is called by workers; ack and notify handlers run on
// libnats threads and only complete batches or queue events; reads from the
// stream block the fetch thread; filter_live() runs on the ingest thread,
// and while the lookup does not show this gateway everywhere it asks the
// stream for its last sequence (one request, skipped for a second after one
// failed).
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <functional>
#include <unordered_set>
#include <set>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "gateway/cluster/cluster_groups.hpp"
#include "gateway/cluster/cluster_handover.hpp"
#include "gateway/cluster/cluster_notify_codec.hpp"
#include "gateway/cluster/cluster_relays.hpp"
#include "gateway/cluster/cluster_stats.hpp"
#include "gateway/config/config.hpp"
#include "gateway/pipeline/ingest.hpp"
#include "gateway/session/session_registry.hpp"
#include "gateway/pipeline/subscription_trie.hpp"
#include "lookup/lookup.hpp"
#include "storeclient/jetstream_client.hpp"

namespace tidegate {


class ClusterLink final : public Ingest::Replicator {
 public:
  // Connects and creates the stream; throws store::StoreOpenError.
  ClusterLink(const ClusterConfig& config, Ingest& ingest, cache::QueueCache& cache, SessionRegistry& registry);
  ~ClusterLink() override;

  // Subscribes to the other gateways' events and starts the fetch thread.
  void start();
  // Waits (bounded) for appends in flight, then stops fetching.
  void stop();

  void replicate(std::vector<Ingest::PublishRequest> requests) override;
  void filter_live(std::string_view filter, const std::string& name, bool live) override;

  // Any thread: `client_id` connected here; the gateway that held it closes
  // its connection (the lookup names it; broadcast when it cannot).
  void announce_connect(const std::string& client_id, std::int64_t connected_ms);
  // Any thread: a connection announced above has ended; `session_kept`: its
  // session stays here (parked), so the lookup still names this gateway.
  void announce_disconnect(const std::string& client_id, bool session_kept);

  // Any thread: the persistent session of `client_id` from the gateway that
  // held it (cluster_handover.hpp); nullptr when there is none to move.
  // `done` runs on the handover's asking thread (it must only post).
  // Only with the lookup: without it, nobody can say who held the client.
  bool moves_sessions() const { return handover_ != nullptr; }
  void fetch_session(const std::string& client_id, std::int64_t connected_ms, SessionHandover::Fetched done) {
    handover_->fetch(client_id, connected_ms, std::move(done));
  }

  // The serving thread of a handover, before it takes the session's
  // snapshot: for `hold`, whatever this gateway's fetch thread passes on that
  // matches `filters` (a notify that was still on its way, a catch-up) is
  // announced to `to` as well, which delivers what it has not had (by stream
  // sequence) to the moved session. Messages that `to` itself appended are
  // passed on only up to `own_up_to` (the last sequence it had seen before
  // it subscribed for the session: later ones are in its queues already).
  void relay_moved(const std::string& client_id, const std::string& to, std::vector<std::string> filters,
                   std::uint64_t own_up_to, std::chrono::milliseconds hold) {
    relays_.add(client_id, to, std::move(filters), own_up_to, hold);
  }
  // Any thread: the move did not happen (the session stays here).
  void relay_ended(const std::string& client_id) { relays_.end(client_id); }
  // The highest stream sequence this gateway has seen (its own appends
  // included); for a handover's own_up_to.
  std::uint64_t last_seen() const { return last_seen_.load(); }

  ClusterStats stats() const;
  std::string lookup_owner(const std::string& key) const { return lookup_ ? lookup_->owner_of(key) : std::string(); }
  const ClusterConfig& config() const { return config_; }

  // The notify subject every gateway listens on.
  static constexpr const char* kBroadcastSubject = "tg.n.all";
  // Client connections, for takeover across gateways (broadcast).
  static constexpr const char* kConnectSubject = "tg.c.all";
  static constexpr const char* kHeartbeatSubject = "tg.hb";  // lookup membership
  // Per node: tg.n.<node> (targeted notify), tg.c.<node> (targeted takeover).
  static std::string notify_subject(const std::string& node) { return "tg.n." + node; }
  static std::string connect_subject(const std::string& node) { return "tg.c." + node; }
  // A catch-up starts this many sequences before the last one seen (events
  // of other nodes can arrive after later acknowledgements of our own) and
  // reads at most kCatchUpMax messages a round, then goes on in the next.
  static constexpr std::uint64_t kCatchUpMargin = 4096;
  static constexpr std::uint64_t kCatchUpMax = 65536;
  // At least kCatchUpMax: one catch-up round repeats nothing. A catch-up of
  // several rounds can repeat a message a notify delivered meanwhile.
  static constexpr std::size_t kRecentDelivered = 65536;

 private:
  struct Event {
    std::uint64_t seq;
    bool retain;
    std::string topic;
  };
  struct PendingBatch;
  void batch_appended(const std::shared_ptr<PendingBatch>& batch);  // a libnats thread
  // The control thread: work that asks the lookup (blocking RPCs).
  void post_task(std::function<void()> task);
  void control_loop();
  void send_notify_syncs();  // the control thread, every kNotifySyncInterval
  void send_notify(const std::vector<Event>& events);           // the control thread
  // The control thread: one notify message to one gateway (targeted channel).
  void send_notify_to(const std::string& node, const std::vector<const Event*>& events);
  void publish_notify(const std::string& subject, std::uint64_t counter, const std::vector<const Event*>& events);
  // The control thread. `to`: the gateway to tell (empty: whoever the lookup names).
  void send_takeover(const std::string& client_id, std::int64_t connected_ms, const std::string& to = {});
  void on_events(std::string_view subject, std::string_view data);   // a libnats thread
  void on_connect_announced(std::string_view data);                  // a libnats thread
  // Another gateway holds `client_id` since claimed_at: close ours if older.
  void takeover_notice(const std::string& client_id, std::int64_t claimed_at, const std::string& origin);
  void fetch_loop();                                                 // the fetch thread
  // Any thread but the fetch thread: waits (bounded) until the events received
  // so far have gone to the ingest thread. False: timed out.
  bool drain_fetch(std::chrono::milliseconds timeout);
  // The fetch thread, after a lost notify (a gap in an origin's counter, or
  // a reconnect): reads the stream from a little before the last sequence
  // seen and delivers what this node missed.
  void catch_up(std::uint64_t from);
  void note_seen(std::uint64_t seq);  // any thread: last_seen_ = max(last_seen_, seq)
  bool remember_delivered(std::uint64_t seq);  // the fetch thread; false if already delivered
  bool interested(const std::string& topic) const;
  // The fetch thread: reads `seqs` (pipelined; what a replica has not yet is
  // asked of the leader) and calls fn(seq, message) for each one, in
  // order (nullopt: not in the stream). False: the stream could not be
  // read; `failed` is the first sequence not read.
  bool read_sequences(const std::vector<std::uint64_t>& seqs, std::uint64_t& failed,
                      const std::function<void(std::uint64_t seq, std::optional<store::StoredMessage>& stored)>& fn);
  // The fetch thread: delivers the messages of routes that went live here
  // whose notify the lookup may have sent elsewhere (below).
  void settle_routes();
  // The fetch thread: the events of `message` that sessions moved from here
  // need, added per gateway to `out`; sent by send_relays().
  void collect_relays(const store::StoredMessage& message, std::map<std::string, std::vector<Event>>& out);
  void send_relays(std::map<std::string, std::vector<Event>> relays);

  ClusterConfig config_;
  Ingest& ingest_;
  SessionRegistry& registry_;
  // Shared: acknowledgements of group messages (on the ingest thread) may
  // still be running as the link stops.
  std::shared_ptr<store::JetStreamClient> client_;
  SharedGroupConsumers groups_;  // $share/ groups with members here

  mutable std::mutex interest_lock_;
  SubscriptionTrie<std::string> interest_;  // the ingest thread's live filters

  mutable std::mutex events_lock_;
  std::condition_variable events_ready_;
  std::deque<Event> events_;
  // Per origin and channel ("node/all", "node/me"): the last counter and the
  // last stream sequence received on it.
  struct Channel {
    std::uint64_t counter = 0;
    std::uint64_t last_seq = 0;
  };
  std::unordered_map<std::string, Channel> notify_counters_;
  // Rounds of the fetch loop (one batch of events each): taken, and finished
  // (their messages handed to the ingest thread). For drain_fetch().
  std::uint64_t fetch_rounds_started_ = 0, fetch_rounds_done_ = 0;
  std::condition_variable fetch_round_done_;
  // Where the next catch-up starts (0: none needed): the lowest sequence
  // that a lost notify, a reconnect or a failed read may have left behind.
  std::uint64_t catch_up_from_ = 0;
  void request_catch_up_locked(std::uint64_t from) {
    from = std::max<std::uint64_t>(from, 1);
    catch_up_from_ = catch_up_from_ ? std::min(catch_up_from_, from) : from;
  }
  std::uint64_t reconnect_floor() const {  // a little before the last sequence seen
    auto seen = last_seen_.load();
    return seen > kCatchUpMargin ? seen - kCatchUpMargin + 1 : 1;
  }
  // Events waiting for the fetch thread, at most kMaxFetchBacklog; beyond,
  // events are dropped and read back by a catch-up.
  static constexpr std::size_t kMaxFetchBacklog = 1 << 20;
  static constexpr std::size_t kFetchChunk = 512;  // direct gets pipelined per round trip
  // Routes that went live here (filter_live) while another gateway's lookup
  // may still answer without this one: a publisher asked before this
  // gateway's state reached every owner, or while a member was on another
  // epoch. Once Lookup::state_visible() is true, every message since `from`
  // (the stream's last sequence before the route was announced, plus one)
  // that matches the filter and was not delivered here is read from the
  // stream and delivered; meanwhile the same is done every
  // kSettleReadInterval. events_lock_.
  struct Settling {
    std::string filter;  // empty: every filter live here (the entry at the bound)
    std::uint64_t from = 0;  // 0: not anchored yet (the stream did not answer)
    std::chrono::steady_clock::time_point next_read;
  };
  std::vector<Settling> settling_;
  // At the bound, new routes share one entry for every filter live here,
  // from the oldest of them.
  static constexpr std::size_t kMaxSettling = 65536;
  std::chrono::steady_clock::time_point anchor_retry_after_{};  // the ingest thread's (filter_live)
  static constexpr std::chrono::milliseconds kSettleReadInterval{1000};
  static constexpr std::chrono::milliseconds kSettleCheckInterval{50};
  MovedSessionRelays relays_;  // sessions handed to another gateway, for the hold
  bool stopping_ = false;
  // The control thread's: counters of this node's notify messages, on the
  // broadcast channel and per destination.
  std::uint64_t notify_counter_ = 0;
  std::unordered_map<std::string, std::uint64_t> notify_counter_to_;
  bool broadcast_since_sync_ = false;
  std::set<std::string> targeted_since_sync_;
  static constexpr std::chrono::milliseconds kNotifySyncInterval{1000};
  std::unique_ptr<lookup::Lookup> lookup_;  // null: cluster.lookup is false
  std::unique_ptr<SessionHandover> handover_;  // with the lookup only
  std::mutex tasks_lock_;
  std::condition_variable tasks_ready_;
  std::deque<std::function<void()>> tasks_;
  bool tasks_stopping_ = false;
  std::thread control_thread_;
  std::mutex connections_lock_;
  std::unordered_map<std::string, std::size_t> local_connections_;  // client id -> connections announced here
  std::atomic<std::uint64_t> last_seen_{0};       // the highest stream sequence seen (own or others')
  // The fetch thread: sequences of other nodes' messages already delivered
  // here (the last kRecentDelivered), so a catch-up round, a settling read
  // or a message passed on by another gateway does not repeat them.
  std::unordered_set<std::uint64_t> delivered_;
  std::deque<std::uint64_t> delivered_order_;
  std::atomic<bool> stopped_{false};  // replicate() after stop(): this node only
  std::thread fetch_thread_;

  struct {
    std::atomic<std::uint64_t> appended{0}, append_errors{0}, events_sent{0}, events_received{0}, fetched{0},
        skipped{0}, fetch_errors{0}, catch_ups{0},
        caught_up{0}, takeovers{0}, notify_targeted{0}, notify_broadcast{0}, takeover_targeted{0},
        takeover_broadcast{0}, settle_reads{0}, settled{0}, relayed{0};
  } counters_;
};

}  // namespace tidegate
