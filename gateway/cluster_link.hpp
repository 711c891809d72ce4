#pragma once
// Cluster mode (DESIGN §5, docs/cluster.md): this gateway's link to the
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
// Notify path: events from other gateways arrive on `tg.n.all`. The fetch
// thread keeps those whose topic matches a filter with live queues here
// (retained messages always: a later subscriber here needs them), reads each
// from the stream by sequence, and hands them to the ingest thread in the
// order they were published.
//
// Threads: replicate() is called by workers; ack and notify handlers run on
// libnats threads and only complete batches or queue events; reads from the
// stream block only the fetch thread; filter_live() runs on the ingest thread.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gateway/cluster_stats.hpp"
#include "gateway/config.hpp"
#include "gateway/ingest.hpp"
#include "gateway/subscription_trie.hpp"
#include "storeclient/jetstream_client.hpp"

namespace tidegate {


class ClusterLink final : public Ingest::Replicator {
 public:
  // Connects and creates the stream; throws store::StoreOpenError.
  ClusterLink(const ClusterConfig& config, Ingest& ingest);
  ~ClusterLink() override;

  // Subscribes to the other gateways' events and starts the fetch thread.
  void start();
  // Waits (bounded) for appends in flight, then stops fetching.
  void stop();

  void replicate(std::vector<Ingest::PublishRequest> requests) override;
  void filter_live(std::string_view filter, const std::string& name, bool live) override;

  ClusterStats stats() const;
  const ClusterConfig& config() const { return config_; }

  // The notify subject every gateway listens on.
  static constexpr const char* kBroadcastSubject = "tg.n.all";

 private:
  struct Event {
    std::uint64_t seq;
    bool retain;
    std::string topic;
  };
  struct PendingBatch;
  void batch_appended(const std::shared_ptr<PendingBatch>& batch);  // a libnats thread
  void on_events(std::string_view data);                             // a libnats thread
  void fetch_loop();                                                 // the fetch thread
  bool interested(const std::string& topic) const;

  ClusterConfig config_;
  Ingest& ingest_;
  std::unique_ptr<store::JetStreamClient> client_;

  mutable std::mutex interest_lock_;
  SubscriptionTrie<std::string> interest_;  // the ingest thread's live filters

  mutable std::mutex events_lock_;
  std::condition_variable events_ready_;
  std::deque<Event> events_;
  bool stopping_ = false;
  std::atomic<bool> stopped_{false};  // replicate() after stop(): this node only
  std::thread fetch_thread_;

  struct {
    std::atomic<std::uint64_t> appended{0}, append_errors{0}, events_sent{0}, events_received{0}, fetched{0},
        skipped{0}, fetch_errors{0};
  } counters_;
};

// Notify events on the wire: per message u64 sequence (big endian), u8 flags
// (bit 0: retained), u16 topic length, topic bytes.
void encode_cluster_event(std::string& out, std::uint64_t seq, bool retain, std::string_view topic);
template <typename Fn>  // fn(seq, retain, topic); false if `data` is malformed
bool decode_cluster_events(std::string_view data, Fn fn) {
  while (!data.empty()) {
    if (data.size() < 11) return false;
    std::uint64_t seq = 0;
    for (int i = 0; i < 8; ++i) seq = (seq << 8) | static_cast<unsigned char>(data[i]);
    bool retain = data[8] & 1;
    std::size_t len = (std::size_t(static_cast<unsigned char>(data[9])) << 8) | static_cast<unsigned char>(data[10]);
    if (data.size() < 11 + len) return false;
    fn(seq, retain, data.substr(11, len));
    data.remove_prefix(11 + len);
  }
  return true;
}

}  // namespace tidegate
