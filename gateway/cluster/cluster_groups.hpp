#pragma once
// Cluster mode: shared subscriptions across gateways (docs/cluster.md,
// "Shared subscriptions"). A group with members here binds to the group's
// durable JetStream consumer (one per group, shared by every gateway), which
// gives each message to one gateway; the ingest thread gives it to one of
// its members, and the message is acknowledged to JetStream after that
// commit. A gateway that dies before acknowledging leaves the message to be
// delivered again to another gateway (after kAckWaitMs).
//
// Threads: join() runs on the ingest thread (a blocking request) or on the
// fetch thread (retry()); messages arrive on libnats threads and only go to
// the ingest thread; acknowledgements run on the ingest thread.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "gateway/pipeline/ingest.hpp"
#include "storeclient/jetstream_client.hpp"

namespace tidegate {

class SharedGroupConsumers {
 public:
  // How long JetStream waits for a gateway to acknowledge a group message
  // before giving it to another (a gateway that died with it).
  static constexpr std::int64_t kAckWaitMs = 30000;

  // `max_ack_pending`: messages of one group given out and not acknowledged.
  SharedGroupConsumers(std::shared_ptr<store::JetStreamClient> client, Ingest& ingest, std::int64_t max_ack_pending);

  // The first member of `group` ($share/g/f) here, for inner filter
  // `filter`. False: setting up failed (retry() tries again).
  bool join(const std::string& group, std::string_view filter);
  // The last member left: messages given to us and not acknowledged go to
  // another gateway after kAckWaitMs; new ones to the gateways still bound.
  void leave(const std::string& group);
  void retry();  // the fetch thread, once a second

  struct Counters {
    std::uint64_t received = 0;     // messages JetStream gave this gateway
    std::uint64_t redelivered = 0;  // of those, handed back (no member here any more)
    std::uint64_t errors = 0;       // consumers that could not be set up
    std::size_t groups = 0;         // groups with members here
  };
  Counters counters() const;

 private:
  void on_message(const std::string& group, std::string_view data, std::string_view reply);  // libnats thread

  // Shared: acknowledgements (on the ingest thread) may run as the link stops.
  std::shared_ptr<store::JetStreamClient> client_;
  Ingest& ingest_;
  std::int64_t max_ack_pending_;
  mutable std::mutex lock_;
  std::unordered_map<std::string, std::uint64_t> subscriptions_;  // group -> subscription (0: to retry)
  std::unordered_map<std::string, std::string> filters_;          // group -> inner filter
  std::atomic<std::uint64_t> received_{0}, redelivered_{0}, errors_{0};
};

}  // namespace tidegate
