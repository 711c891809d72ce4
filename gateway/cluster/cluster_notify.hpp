#pragma once
// Cluster mode: the notify channel (docs/cluster.md, "How a message
// travels", steps 3 and 5). A gateway tells the others which stream
// sequences and topics it appended; the wire format is in
// cluster_notify_codec.hpp.
//
// Sending: one notify message per acknowledged batch, to the gateways the
// lookup names (`tg.n.<node>`, numbered per destination), or to all on
// `tg.n.all` when it cannot answer or the batch holds a retained message.
// Every second, each channel used since the last sync repeats its last
// counter in an empty message, so a receiver notices a lost last message.
//
// Receiving: a jump in an origin's counter on a channel means a notify was
// lost; the fetch thread then catches up from the stream (cluster_fetcher.hpp).
//
// Threads: NotifySender sends on the control thread (cluster_control_thread.hpp:
// asking the lookup blocks); announce() is called on a libnats thread (an
// acknowledged batch), relay() on the fetch thread. NotifyReceiver runs on
// libnats threads and only queues events for the fetch thread.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/cluster/cluster_control_thread.hpp"
#include "gateway/cluster/cluster_stats.hpp"
#include "lookup/lookup.hpp"
#include "storeclient/jetstream_client.hpp"

namespace tidegate {

class ClusterFetcher;

// One message of a notify: its stream sequence, whether it is retained, its topic.
struct ClusterEvent {
  std::uint64_t seq;
  bool retain;
  std::string topic;
};

class NotifySender {
 public:
  // `lookup`: null when cluster.lookup is false (every notify is broadcast).
  NotifySender(std::string node, store::JetStreamClient& client, lookup::Lookup* lookup, ControlThread& control);

  // A libnats thread, in the order batches complete: tells the other
  // gateways about one acknowledged batch (sent on the control thread).
  void announce(std::vector<ClusterEvent> events);
  // The fetch thread: passes `events` on to gateway `node`, which a session
  // moved to (cluster_relays.hpp).
  void relay(const std::string& node, std::vector<ClusterEvent> events);
  // The control thread, every kSyncInterval.
  void send_syncs();
  void fill(ClusterStats& s) const;

  // The notify subject every gateway listens on.
  static constexpr const char* kBroadcastSubject = "tg.n.all";
  // Per node: targeted notify.
  static std::string notify_subject(const std::string& node) { return "tg.n." + node; }
  static constexpr std::chrono::milliseconds kSyncInterval{1000};

 private:
  void send(const std::vector<ClusterEvent>& events);  // the control thread
  // The control thread: one notify message to one gateway (targeted channel).
  void send_to(const std::string& node, const std::vector<const ClusterEvent*>& events);
  void publish(const std::string& subject, std::uint64_t counter, const std::vector<const ClusterEvent*>& events);

  std::string node_;
  store::JetStreamClient& client_;
  lookup::Lookup* lookup_;
  ControlThread& control_;
  // The control thread's: counters of this node's notify messages, on the
  // broadcast channel and per destination.
  std::uint64_t counter_ = 0;
  std::unordered_map<std::string, std::uint64_t> counter_to_;
  bool broadcast_since_sync_ = false;
  std::set<std::string> targeted_since_sync_;
  std::atomic<std::uint64_t> sent_{0}, targeted_{0}, broadcast_{0}, relayed_{0};
};

class NotifyReceiver {
 public:
  explicit NotifyReceiver(ClusterFetcher& fetcher) : fetcher_(fetcher) {}
  // A libnats thread: a notify message on `subject` (broadcast or ours).
  void on_notify(std::string_view subject, std::string_view data);
  void fill(ClusterStats& s) const;

 private:
  // Where a catch-up starts after a jump on `channel` (0: no jump).
  std::uint64_t check_channel(const std::string& channel, std::uint64_t counter, std::uint64_t first_seq,
                              std::uint64_t last_seq);

  ClusterFetcher& fetcher_;
  // Per origin and channel ("node/all", "node/me"): the last counter and the
  // last stream sequence received on it. Held while the events go to the
  // fetcher, so that one channel's messages are queued in the order checked.
  struct Channel {
    std::uint64_t counter = 0;
    std::uint64_t last_seq = 0;
  };
  std::mutex lock_;
  std::unordered_map<std::string, Channel> channels_;
  std::atomic<std::uint64_t> received_{0};
};

}  // namespace tidegate
