#pragma once
// The ingest thread (docs/design.md, "Threads" and "Queues and sequences"): the
// single writer that orders every publish and every change of the live queues.
//
// Every call below may be made from any thread; it queues a command and
// returns (publish_now() excepted: it applies on the calling worker, or
// declines). The ingest thread drains everything waiting, applies it, commits the
// resulting WriteBatch to LMDB in one transaction (group commit), then runs the
// completions (on the ingest thread: they must only post to their own worker)
// and sends each worker one coalesced batch of {queue, last sequence} events.
//
// Queues: a queue is a live topic filter (exact or wildcard) that at least one
// session, online or offline, subscribes to. A publish is indexed into every
// queue whose filter matches its topic, so a subscriber reads exactly one queue
// per subscription. A shared subscription `$share/g/f` has one queue per
// member (`$share/g/f` + '\0' + client id); each message is indexed into one
// member's queue (round robin over online members).
#include <atomic>
#include <condition_variable>
#include <deque>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cache/queue_cache.hpp"
#include "gateway/ops/latency_histogram.hpp"
#include "gateway/pipeline/ingest_error.hpp"
#include "gateway/pipeline/subscription_trie.hpp"
#include "storeclient/lmdb_store.hpp"

namespace tidegate {

struct QueueEvent {
  std::string queue;
  std::uint64_t last_seq;
};
using QueueEvents = std::vector<QueueEvent>;

struct IngestStats {
  std::uint64_t published = 0;
  std::uint64_t persisted = 0;
  std::uint64_t no_subscribers = 0;  // clients' messages only (not the gateway's $SYS updates)
  std::uint64_t commits = 0;
  std::uint64_t commit_errors = 0;
  // The last failed commit, unless messages were stored since (GET /healthz: "store").
  std::chrono::steady_clock::time_point store_refused_at{};
  std::size_t live_queues = 0;
  std::size_t retained = 0;        // clients' retained topics; the gateway's $SYS ones are not counted
  std::size_t retained_bytes = 0;
  std::uint64_t refused_retained_quota = 0;
  std::uint64_t dropped_acl = 0;  // shared subscriptions: no member may read the topic
  std::uint64_t retention_removed = 0;
  std::uint64_t refused_session_backlog = 0;   // QoS 1/2 publishes refused: a session's backlog is full
  std::size_t session_backlog_largest = 0;     // the fullest queue's backlog (refreshed once a second)
  std::size_t session_backlog_total = 0;       // summed over queues
  std::size_t subscriptions = 0;               // sessions' subscriptions, online or offline (refreshed once a second)
};

// The bounds the ingest thread enforces, with their policy.
struct IngestLimits {
  std::size_t max_retained_messages = 100000;    // a new retained topic beyond: publish refused (quota)
  std::size_t max_retained_bytes = 64u << 20;    // topic + payload bytes; beyond: publish refused (quota)
  std::size_t retention_bytes = std::size_t(1) << 30;  // stored messages above: the oldest are removed
  std::int64_t retention_ms = 7LL * 24 * 3600 * 1000;  // messages older: removed (0: no age limit)
  // Stored messages a persistent session has not taken yet, per queue it reads
  // (its backlog); at the limit a QoS 1/2 publish for it is refused (quota).
  // QoS 0 is never stored and passes. 0: no limit.
  std::size_t max_session_backlog = 100000;
};

class Ingest {
 public:
  // Runs on the ingest thread with the result of the commit that carried it.
  using PublishDone = std::function<void(std::error_code, std::uint64_t seq, std::size_t queues)>;
  using Done = std::function<void(std::error_code)>;
  struct SubscribeResult {
    std::string queue;                       // the queue this subscription reads
    std::uint64_t start_after = 0;           // read entries with sequence above this
    std::vector<store::MessagePtr> retained; // retained messages matching the filter
  };
  using SubscribeDone = std::function<void(SubscribeResult)>;
  // Delivers a batch of events to one worker; called on the ingest thread, or
  // on a worker in publish_now(). It must only post to its worker.
  using Notify = std::function<void(std::shared_ptr<const QueueEvents>)>;

  Ingest(store::LmdbStore& store, cache::QueueCache& cache, IngestLimits limits = {});
  ~Ingest();

  // Loads retained messages and the sequence counter; then starts the thread.
  void start(std::vector<Notify> workers);
  // Finishes everything queued (the last group commit included), then joins.
  void stop();

  // Appends `message` (sequence assigned here). Persisted when QoS > 0 and at
  // least one queue takes it; a retained message also updates the retained set.
  // `session_update`: an optional session record committed in the same
  // transaction (inbound QoS 2 state).
  void publish(std::shared_ptr<store::Message> message, std::optional<std::pair<std::string, std::string>> session_update,
               PublishDone done);

  // Several publishes in one command, in order: what a connection read in one
  // go costs one hand-off to the ingest thread, not one per message.
  struct PublishRequest {
    std::shared_ptr<store::Message> message;
    std::optional<std::pair<std::string, std::string>> session_update;
    PublishDone done;
    // Cluster mode: a shared group's message ("$share/g/f") handed to this
    // gateway by the group's consumer. It goes to one member of that group
    // and nowhere else (it reached every other queue as an ordinary publish);
    // `queues` in `done` is 0 when the group has no member here any more.
    std::string shared_group;
    // Cluster mode: published on another gateway, and acknowledged there. No
    // bound of this gateway refuses it (that would lose it for every local
    // subscriber): a full session backlog takes it anyway, and a retained
    // quota at its limit keeps it from being retained here only.
    bool from_cluster = false;
  };
  // What became of one request of a batch: refused (ec, nothing stored or
  // delivered) or committed (ec of the commit) into `queues` queues.
  struct PublishOutcome {
    std::error_code ec;
    std::size_t queues = 0;
  };
  // One completion for a whole batch (a connection's read), run once after
  // the commit that carried it (on the ingest thread; in a cluster, on
  // whichever thread completes the batch's last request): the outcomes in the
  // order of the requests. A request's own `done`, if any, runs as well.
  using BatchDone = std::function<void(std::vector<PublishOutcome>)>;
  void publish_batch(std::vector<PublishRequest> requests, BatchDone done = {});

  // Cluster mode (gateway/cluster/cluster_replication.hpp): publish() and publish_batch()
  // hand every message to the replicator, which stores it in the shared
  // store first and then passes it on to publish_local_batch(); messages of
  // other gateways come in there too. The replicator also learns which
  // filters have live queues here (which topics this node cares about).
  class Replicator {
   public:
    virtual ~Replicator() = default;
    virtual void replicate(std::vector<PublishRequest> requests) = 0;  // any thread
    // Ingest thread: `filter` gained (live) or lost its last queue `name`.
    virtual void filter_live(std::string_view filter, const std::string& name, bool live) = 0;
  };
  void set_replicator(Replicator* replicator) { replicator_ = replicator; }  // before start()
  // Told, on the ingest thread, of the index entries (queue, sequence) each
  // retention removal took: the rules count what they lose (docs/events.md).
  // It must only post elsewhere. Before start().
  using RetentionListener = std::function<void(const std::vector<std::pair<std::string, std::uint64_t>>&)>;
  void set_retention_listener(RetentionListener listener) { retention_listener_ = std::move(listener); }
  // What publish_batch() does without a replicator: straight to this node's queues.
  void publish_local_batch(std::vector<PublishRequest> requests, BatchDone done = {});

  // A worker's QoS 0 publishes applied on the worker itself, when nothing
  // durable is involved and nothing is waiting for the ingest thread: no
  // hand-off, no wake-up of the ingest thread, no post back (ingest_direct.cpp).
  // False (nothing done; publish_batch() them instead) unless every request
  // is QoS 0, not retained, with no completion, session update, shared group
  // or cluster origin, the gateway is not in a cluster, the inbox is empty and
  // the ingest thread is between batches. While it runs the ingest thread
  // waits, so sequences stay in order and visible_seq() covers only what is
  // in the cache, as on the ingest thread.
  bool publish_now(std::vector<PublishRequest>& requests);

  // Whether a shared subscription's member may read a topic (its ACL).
  // Called on the ingest thread.
  using ReadCheck = std::function<bool(std::string_view topic)>;
  // Takes a reference on the queue of `filter` for `client_id` and returns
  // where to start reading and the retained messages it matches (none for a
  // shared subscription, MQTT-4.8.2-?).
  // `may_read`: a shared subscription member's read check (set_member_online).
  void subscribe(const std::string& client_id, const std::string& filter, bool want_retained, SubscribeDone done,
                 ReadCheck may_read = nullptr);
  void unsubscribe(const std::string& client_id, const std::string& filter);
  // Shared subscription members that are offline are skipped while another
  // member is online, and members whose ACL hides the topic always are
  // (`may_read`, given when the member comes online; a member restored at
  // start and not back yet is taken as allowed, and its delivery checks
  // again). Entries in [after, ...) of a member queue that the member did not
  // acknowledge are offered to another member.
  void set_member_online(const std::string& client_id, const std::string& filter, bool online,
                         ReadCheck may_read = nullptr);
  void reoffer(const std::string& client_id, const std::string& filter, std::vector<std::uint64_t> seqs);

  void retained_matching(const std::string& filter, std::function<void(std::vector<store::MessagePtr>)> done);
  // Admin: retained messages whose topic starts with `prefix`; removing one
  // (no message is published, unlike an empty retained publish).
  void list_retained(const std::string& prefix, std::function<void(std::vector<store::MessagePtr>)> done);
  void clear_retained(const std::string& topic, std::function<void(bool found, std::error_code)> done);
  // Admin: the live queues whose filter starts with `prefix`, unsorted. A
  // shared group is one entry, its member queues taken together.
  struct QueueInfo {
    std::string filter;            // as subscribed: "$share/g/f" for a group
    bool shared = false;
    std::size_t subscribers = 0;   // sessions subscribed, online or offline (a group: its members)
    std::uint64_t last_seq = 0;    // the newest message indexed into it (stored or since start); 0: none
    std::uint64_t messages = 0;    // messages indexed into it since the queue went live (a rate: two readings)
    std::size_t backlog = 0;       // stored messages its persistent readers have not taken (max_session_backlog)
  };
  void list_queues(const std::string& prefix, std::function<void(std::vector<QueueInfo>)> done);
  // Admin: per persistent session (client id), each queue it reads with the
  // stored messages after its committed position (at most max_session_backlog + 1).
  using ReaderBacklogs = std::unordered_map<std::string, std::vector<std::pair<std::string, std::size_t>>>;
  void reader_backlogs(std::function<void(ReaderBacklogs)> done);
  // Admin: the retained message on exactly `topic`; null when there is none.
  void find_retained(const std::string& topic, std::function<void(store::MessagePtr)> done);

  // A persistent session's delivery progress, written in one transaction:
  // queue positions and the inflight records they go with.
  struct SessionProgress {
    std::vector<std::pair<std::string, std::uint64_t>> offsets;             // queue -> position
    std::vector<std::pair<std::uint16_t, std::optional<std::string>>> inflight;  // nullopt = erase
    std::vector<std::string> erased_queues;  // unsubscribed: their offsets go
    // False for a rule's reader (docs/events.md): retention bounds its
    // backlog, which never refuses a publish (max_session_backlog).
    bool counts_toward_backlog = true;
    bool empty() const { return offsets.empty() && inflight.empty() && erased_queues.empty(); }
  };

  // Persistence of sessions and their progress, batched with everything else.
  void save_session(const std::string& client_id, std::optional<std::string> record, Done done = {});
  void save_progress(const std::string& client_id, SessionProgress progress, Done done = {});
  // Start-up: a restored persistent session reads `queue` from `position` (its
  // backlog counts from there). Call after subscribe().
  void restore_reader(const std::string& client_id, const std::string& queue, std::uint64_t position);
  // A session resumed without persistence saves no positions any more: its
  // backlog stops counting (else its last saved position would hold it full).
  void forget_reader(const std::string& client_id, const std::string& queue);

  // A stream's queue (docs/events.md, "Streams"): QoS 0 messages are stored
  // into it too (its index entries alone: other queues keep QoS 0 in the
  // cache only; sessions on exactly the stream's filter share its queue).
  // While any queue is durable, QoS 0 publishes go through the ingest thread.
  void set_durable(const std::string& queue, bool durable);

  // Reload: the new bounds apply from the next command on.
  void set_limits(IngestLimits limits);

  // Runs `done` (on the ingest thread) after everything queued before it.
  void sync(std::function<void()> done);

  IngestStats stats() const;
  // Any thread: how long each group commit (the store transaction that
  // publishers with QoS 1/2 wait for) took, retention removals not included.
  const LatencyHistogram& commit_latency() const { return commit_latency_; }
  // Any thread: a sequence no newer than any later subscribe's start point.
  std::uint64_t visible_seq() const { return visible_seq_.load(std::memory_order_acquire); }

  static std::string member_queue(std::string_view filter, std::string_view client_id);

 private:
  struct Queue {
    std::string filter;  // the trie key (the inner filter for a shared group)
    std::size_t refs = 0;
    std::uint64_t last_seq = 0;  // newest entry: from the store at creation, then each commit's events
    std::uint64_t messages = 0;  // indexed into it since it went live (admin: rates)
    // Backlog of the persistent sessions reading this queue: their committed
    // positions (from save_progress), and the stored sequences after the
    // lowest of them (at most max_session_backlog + 1 of them).
    std::unordered_map<std::string, std::uint64_t> reader_positions;  // client id -> position
    std::deque<std::uint64_t> backlog;
    void trim_backlog();
  };
  struct Group {
    struct Member {
      std::string client_id;
      bool online = true;
      ReadCheck may_read;  // null: not known, taken as allowed
      bool reads(std::string_view topic) const { return !may_read || may_read(topic); }
    };
    std::vector<Member> members;
    std::size_t next = 0;
  };

  void post(std::function<void()> command);
  // The end of a batch (run(), publish_now()): its counts into stats_; the
  // cache appends made visible (their events returned); the events sent.
  void fold_batch_stats();
  std::shared_ptr<QueueEvents> make_visible();
  void announce(const std::shared_ptr<QueueEvents>& events);
  PublishOutcome apply_publish(PublishRequest& request);  // ingest thread
  // apply_publish's steps, in order (ingest thread).
  enum class RetainedAdmission { not_retained, keep, refused };
  RetainedAdmission admit_retained(const PublishRequest& request);
  const std::vector<const std::string*>& match_queues(const PublishRequest& request);  // into matched_queues_
  void keep_retained(const store::MessagePtr& message);
  void stage_publish(const store::MessagePtr& message, const std::vector<const std::string*>& queues,
                     std::optional<std::pair<std::string, std::string>>& session_update);
  void run();
  void add_queue_ref(const std::string& queue, const std::string& trie_filter);
  void add_live_filter(std::string_view filter, const std::string& name);
  void remove_live_filter(std::string_view filter, const std::string& name);
  void release_queue_ref(const std::string& queue);
  void index_into_groups(const std::string& group_queue, const std::string& topic,
                         std::vector<const std::string*>& queues);
  void append_to_cache(const std::string& queue, const store::MessagePtr& message);  // after the commit
  bool retained_quota_allows(const store::Message& m) const;
  static std::size_t retained_size(const store::Message& m);  // what max_retained_bytes counts
  // False when a QoS 1/2 message would go into a queue whose persistent
  // readers' backlog is at max_session_backlog: the publish is refused.
  bool session_backlogs_allow(const store::Message& m, const std::vector<const std::string*>& queues);
  void track_reader(const std::string& client_id, const std::string& queue, std::uint64_t position);
  void enforce_retention();
  void refresh_backlog_stats();
  // The next member (round robin) to take a message on `topic`, never
  // `except`; nullptr when no member may read it.
  const Group::Member* pick_member(Group& group, std::string_view topic, std::string_view except = {});

  store::LmdbStore& store_;
  cache::QueueCache& cache_;
  IngestLimits limits_;  // ingest thread; replaced by set_limits()
  std::vector<Notify> workers_;
  Replicator* replicator_ = nullptr;
  RetentionListener retention_listener_;

  // Inbox: filled by any thread, drained by the ingest thread.
  std::mutex inbox_lock_;
  std::condition_variable inbox_ready_;
  std::vector<std::function<void()>> inbox_;
  bool stopping_ = false;
  // The ingest thread is applying a batch, or a worker is in publish_now():
  // whoever set it owns everything below "Owned by the ingest thread".
  bool applying_ = false;
  std::thread thread_;

  // Owned by the ingest thread (or a worker in publish_now(), see applying_).
  std::uint64_t last_seq_ = 0;
  std::atomic<std::uint64_t> visible_seq_{0};
  SubscriptionTrie<std::string> live_filters_;          // filter -> queue (or group) name
  std::unordered_map<std::string, Queue> queues_;        // queue name -> refs
  std::unordered_map<std::string, Group> groups_;        // "$share/g/f" -> members
  std::unordered_map<std::string, std::size_t> durable_queues_;  // stream queues -> streams on them
  std::atomic<std::size_t> durable_count_{0};            // durable_queues_.size(), for publish_now()
  std::map<std::string, store::MessagePtr> retained_;    // topic -> message
  // Retained topics and bytes, the clients' apart from the gateway's own
  // $SYS topics: quotas, /metrics and the admin API count the clients' only.
  struct RetainedTally {
    std::size_t count = 0, bytes = 0, sys_count = 0, sys_bytes = 0;
    void add(const store::Message& m, int sign);
  } retained_tally_;
  std::int64_t next_retention_check_ms_ = 0;
  store::WriteBatch batch_;
  std::vector<std::function<void(std::error_code)>> completions_;
  // Applied after the commit, one append per queue; each queue's last entry
  // is its {queue, last sequence} event (coalesced per batch).
  std::unordered_map<std::string, std::vector<store::MessagePtr>> cache_appends_;
  // apply_publish's scratch, kept for its capacity: the matched queues by
  // pointer, and the names of shared-group member queues they point into.
  std::vector<const std::string*> matched_queues_;
  std::deque<std::string> member_names_;
  struct {
    std::uint64_t published = 0, persisted = 0, no_subscribers = 0;
  } batch_stats_;  // this batch's counts, folded into stats_ after the commit

  mutable std::mutex stats_lock_;
  IngestStats stats_;
  LatencyHistogram commit_latency_;
};

}  // namespace tidegate
