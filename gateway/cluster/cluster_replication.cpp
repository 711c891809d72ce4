#include "gateway/cluster/cluster_replication.hpp"

#include <algorithm>
#include <utility>

#include "gateway/ops/log.hpp"
#include "gateway/ops/metrics.hpp"

namespace tidegate {

namespace {
// The gateway's own $SYS topics describe this node: never shared.
bool node_local(const store::Message& m) { return m.topic.starts_with("$SYS/"); }
}  // namespace

// One connection's batch on its way through JetStream: it goes on to the
// ingest thread, in order, when its last append is acknowledged.
struct ClusterReplication::PendingBatch {
  std::vector<Ingest::PublishRequest> requests;
  std::vector<std::error_code> errors;
  std::vector<std::uint64_t> seqs;
  std::atomic<std::size_t> remaining{0};
};

void ClusterReplication::replicate(std::vector<Ingest::PublishRequest> requests) {
  if (local_only_) return ingest_.publish_local_batch(std::move(requests));
  auto batch = std::make_shared<PendingBatch>();
  std::vector<Ingest::PublishRequest> local;
  for (auto& r : requests) (node_local(*r.message) ? local : batch->requests).push_back(std::move(r));
  if (!local.empty()) ingest_.publish_local_batch(std::move(local));
  if (batch->requests.empty()) return;
  std::size_t n = batch->requests.size();
  batch->errors.resize(n);
  batch->seqs.resize(n);
  batch->remaining = n;
  for (std::size_t i = 0; i < n; ++i) {
    client_.append(*batch->requests[i].message, [this, batch, i](std::error_code ec, std::uint64_t seq) {
      batch->errors[i] = ec;
      batch->seqs[i] = seq;
      if (batch->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) batch_appended(batch);
    });
  }
}

void ClusterReplication::batch_appended(const std::shared_ptr<PendingBatch>& batch) {
  std::vector<Ingest::PublishRequest> stored;
  std::vector<ClusterEvent> events;
  for (std::size_t i = 0; i < batch->requests.size(); ++i) {
    auto& r = batch->requests[i];
    if (batch->errors[i]) {
      Metrics::add(append_errors_);
      log::warn("cluster: publish to '" + r.message->topic + "' not stored: " + batch->errors[i].message());
      if (r.done) r.done(batch->errors[i], 0, 0);
      continue;
    }
    Metrics::add(appended_);
    position_.note(batch->seqs[i]);
    r.message->stream_seq = batch->seqs[i];
    events.push_back({batch->seqs[i], r.message->retain, r.message->topic});
    if (r.done)
      // Subscribers on other gateways are not counted here: never report
      // "no matching subscribers" (v5 0x10) for what they may receive.
      r.done = [done = std::move(r.done)](std::error_code ec, std::uint64_t seq, std::size_t queues) {
        done(ec, seq, std::max<std::size_t>(queues, 1));
      };
    stored.push_back(std::move(r));
  }
  ingest_.publish_local_batch(std::move(stored));
  if (!events.empty()) notify_.announce(std::move(events));
}

void ClusterReplication::fill(ClusterStats& s) const {
  s.appended = appended_.load(std::memory_order_relaxed);
  s.append_errors = append_errors_.load(std::memory_order_relaxed);
}

}  // namespace tidegate
