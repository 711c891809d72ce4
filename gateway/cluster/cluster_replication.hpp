#pragma once
// Cluster mode: the publish path (docs/cluster.md, "How a message travels",
// steps 1-3). Every message a client publishes here is appended to the
// stream first; only when JetStream has acknowledged a connection's whole
// batch does the batch go on to this node's ingest thread (so a device's
// PUBACK always follows JetStream's), and one notify per batch tells the
// other gateways the stream sequences and topics it added
// (cluster_notify.hpp). A message JetStream refuses or does not acknowledge
// in time completes with the error: refused to the device, delivered to
// nobody. $SYS topics describe this gateway and are never shared.
//
// Threads: replicate() runs on the thread that publishes: a worker (clients,
// bridges, wills) or the main thread ($SYS topics, wills of expired
// sessions). Acknowledgements arrive on a libnats thread, which hands the
// batch to the ingest thread and its notify to the control thread.
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "gateway/cluster/cluster_notify.hpp"
#include "gateway/cluster/cluster_stats.hpp"
#include "gateway/cluster/cluster_stream_position.hpp"
#include "gateway/pipeline/ingest.hpp"
#include "storeclient/jetstream_client.hpp"

namespace tidegate {

class ClusterReplication {
 public:
  ClusterReplication(store::JetStreamClient& client, Ingest& ingest, NotifySender& notify, StreamPosition& position)
      : client_(client), ingest_(ingest), notify_(notify), position_(position) {}

  // Any thread (Ingest::Replicator::replicate).
  void replicate(std::vector<Ingest::PublishRequest> requests);
  // After the link stopped (workers joined): a last will published while
  // the process stops reaches this node's sessions alone.
  void local_only() { local_only_ = true; }
  void fill(ClusterStats& s) const;

 private:
  struct PendingBatch;
  void batch_appended(const std::shared_ptr<PendingBatch>& batch);  // a libnats thread

  store::JetStreamClient& client_;
  Ingest& ingest_;
  NotifySender& notify_;
  StreamPosition& position_;
  std::atomic<bool> local_only_{false};
  std::atomic<std::uint64_t> appended_{0}, append_errors_{0};
};

}  // namespace tidegate
