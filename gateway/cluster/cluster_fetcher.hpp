#pragma once
// Cluster mode: the fetch thread (docs/design.md, "Threads"; docs/cluster.md,
// "How a message travels", steps 4 and 5, and the "Routes settling" item of
// "The lookup").
//
// Fetch: the events other gateways announced (cluster_notify.hpp) whose topic
// matches a filter with live queues here (retained messages always: a later
// subscriber here needs them) are read from the stream by sequence and handed
// to the ingest thread in the order they arrived.
//
// Catch-up: after a lost notify (a gap in an origin's counter, a reconnect,
// a failed read) the stream is read from where the loss may start, at most
// kCatchUpMax messages a round, skipping this gateway's own messages and
// those delivered already (the last kRecentDelivered sequences).
//
// Route settling (cluster_route_settling.cpp): a filter that went live here
// while another gateway's lookup may still answer without it is "settling";
// its messages are read from the stream once the lookup shows it.
//
// Whatever is read for a session that moved away meanwhile is passed on to
// the gateway it went to (cluster_relays.hpp).
//
// Threads: reads from the stream block the fetch thread; enqueue() runs on
// libnats threads; filter_live() on the ingest thread, and while the lookup
// does not show this gateway everywhere it asks the stream for its last
// sequence (one request, skipped for a second after one failed); drain() on
// the handover's serving thread.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include "gateway/cluster/cluster_groups.hpp"
#include "gateway/cluster/cluster_notify.hpp"
#include "gateway/cluster/cluster_relays.hpp"
#include "gateway/cluster/cluster_stats.hpp"
#include "gateway/cluster/cluster_stream_position.hpp"
#include "gateway/pipeline/ingest.hpp"
#include "gateway/pipeline/subscription_trie.hpp"
#include "lookup/lookup.hpp"
#include "storeclient/jetstream_client.hpp"

namespace tidegate {

class ClusterFetcher {
 public:
  // `lookup`: null when cluster.lookup is false (nothing settles).
  ClusterFetcher(std::string node, store::JetStreamClient& client, lookup::Lookup* lookup, Ingest& ingest,
                 SharedGroupConsumers& groups, MovedSessionRelays& relays, NotifySender& notify,
                 StreamPosition& position);
  ~ClusterFetcher();

  void start();  // starts the fetch thread
  void stop();   // no round starts after this; drain() returns at once
  void join();   // after stop()

  // A libnats thread: events of a notify to fetch, and where a catch-up
  // must start (0: none). Beyond kMaxFetchBacklog waiting events, they are
  // dropped and read back by a catch-up. Returns how many were queued.
  std::size_t enqueue(std::vector<ClusterEvent> events, std::uint64_t catch_up_from);
  // A libnats thread, on a reconnect to NATS: notify messages sent meanwhile
  // are lost, so catch up from a little before the last sequence seen.
  void reconnected();
  // Any thread but the fetch thread: waits (bounded) until the events received
  // so far have gone to the ingest thread. False: timed out.
  bool drain(std::chrono::milliseconds timeout);
  // The ingest thread: `filter` gained (live) or lost its last queue `name`.
  // Not for shared groups (their messages come from the group's consumer).
  void filter_live(std::string_view filter, const std::string& name, bool live);
  void fill(ClusterStats& s) const;

  // A catch-up starts this many sequences before the last one seen (events
  // of other nodes can arrive after later acknowledgements of our own) and
  // reads at most kCatchUpMax messages a round, then goes on in the next.
  static constexpr std::uint64_t kCatchUpMargin = 4096;
  static constexpr std::uint64_t kCatchUpMax = 65536;
  // At least kCatchUpMax: one catch-up round repeats nothing. A catch-up of
  // several rounds can repeat a message a notify delivered meanwhile.
  static constexpr std::size_t kRecentDelivered = 65536;

 private:
  // What one read hands on: to the ingest thread, and per gateway a session
  // moved to, the events it must hear of.
  struct Delivery {
    std::vector<Ingest::PublishRequest> batch;
    std::map<std::string, std::vector<ClusterEvent>> relays;
    std::size_t count = 0;
  };
  using ReadFn = std::function<void(std::uint64_t seq, std::optional<store::StoredMessage>& stored)>;
  using WantedFn = std::function<bool(std::uint64_t seq, const store::Message& message)>;

  void run();  // the fetch thread
  // Waits for events, a catch-up or the next settling check; false: stopping.
  bool next_round(std::deque<ClusterEvent>& events, std::uint64_t& catch_up_from);
  void finish_round();
  void fetch_events(const std::deque<ClusterEvent>& events);
  std::vector<std::uint64_t> wanted_sequences(const std::deque<ClusterEvent>& events);
  // After a failed read of `wanted` at `failed`: a catch-up reads the rest.
  void fetch_later(const std::vector<std::uint64_t>& wanted, std::uint64_t failed);
  // After a lost notify (a gap in an origin's counter, or a reconnect): reads
  // the stream from `from` and delivers what this node missed.
  void catch_up(std::uint64_t from);
  // Reads `seqs` (pipelined; what a replica has not yet is asked of the
  // leader) and calls fn(seq, message) for each one, in order (nullopt: not
  // in the stream). False: the stream could not be read; `failed` is the
  // first sequence not read.
  bool read_sequences(const std::vector<std::uint64_t>& seqs, std::uint64_t& failed, const ReadFn& fn);
  // Reads [from, to] into `out`: the messages of other gateways that `wanted`
  // accepts and that were not delivered here already.
  bool read_range(std::uint64_t from, std::uint64_t to, Delivery& out, std::uint64_t& failed, const WantedFn& wanted);
  void add(Delivery& out, store::StoredMessage& stored);
  void deliver(Delivery out);
  bool remember_delivered(std::uint64_t seq);  // false if already delivered
  bool interested(const std::string& topic) const;
  void request_catch_up(std::uint64_t from);
  void request_catch_up_locked(std::uint64_t from) {
    from = std::max<std::uint64_t>(from, 1);
    catch_up_from_ = catch_up_from_ ? std::min(catch_up_from_, from) : from;
  }
  // The last message of a read from `from` while the stream ends at `last`.
  static std::uint64_t round_end(std::uint64_t from, std::uint64_t last) {
    return last >= from && last - from >= kCatchUpMax ? from + kCatchUpMax - 1 : last;
  }

  // Route settling (cluster_route_settling.cpp).
  struct Settling;
  void settle_later(const std::string& name);  // the ingest thread
  void settle_routes();                        // the fetch thread
  std::vector<Settling> due_routes(bool visible, std::chrono::steady_clock::time_point now);
  WantedFn settling_match(const std::vector<Settling>& due);
  void requeue_routes(std::vector<Settling> due, bool done, std::uint64_t next, bool more,
                      std::chrono::steady_clock::time_point now);

  std::string node_;
  store::JetStreamClient& client_;
  lookup::Lookup* lookup_;
  Ingest& ingest_;
  SharedGroupConsumers& groups_;
  MovedSessionRelays& relays_;
  NotifySender& notify_;
  StreamPosition& position_;

  mutable std::mutex interest_lock_;
  SubscriptionTrie<std::string> interest_;  // the ingest thread's live filters

  mutable std::mutex events_lock_;
  std::condition_variable events_ready_;
  std::deque<ClusterEvent> events_;
  bool stopping_ = false;
  // Rounds of the fetch loop (one batch of events each): taken, and finished
  // (their messages handed to the ingest thread). For drain().
  std::uint64_t rounds_started_ = 0, rounds_done_ = 0;
  std::condition_variable round_done_;
  // Where the next catch-up starts (0: none needed): the lowest sequence
  // that a lost notify, a reconnect or a failed read may have left behind.
  std::uint64_t catch_up_from_ = 0;
  // Events waiting for the fetch thread, at most kMaxFetchBacklog; beyond,
  // events are dropped and read back by a catch-up.
  static constexpr std::size_t kMaxFetchBacklog = 1 << 20;
  static constexpr std::size_t kFetchChunk = 512;  // direct gets pipelined per round trip
  // Routes that went live here (filter_live) while another gateway's lookup
  // may still answer without this one: a publisher asked before this
  // gateway's state reached every owner, or while a member was on another
  // epoch. Once Lookup::state_visible() is true, every message since its
  // `from` (the stream's last sequence before the route was announced, plus
  // one) that matches the filter and was not delivered here is read from the
  // stream and delivered; meanwhile the same is done every
  // kSettleReadInterval. events_lock_.
  struct Settling {
    std::string filter;      // empty: every filter live here (the entry at the bound)
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

  // The fetch thread's: sequences of other nodes' messages already delivered
  // here (the last kRecentDelivered), so a catch-up round, a settling read
  // or a message passed on by another gateway does not repeat them.
  std::unordered_set<std::uint64_t> delivered_;
  std::deque<std::uint64_t> delivered_order_;
  std::thread thread_;

  std::atomic<std::uint64_t> fetched_{0}, skipped_{0}, fetch_errors_{0}, catch_ups_{0}, caught_up_{0},
      settle_reads_{0}, settled_{0};
};

}  // namespace tidegate
