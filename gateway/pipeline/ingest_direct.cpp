// QoS 0 publishes applied on the publisher's worker (Ingest::publish_now): at
// ordinary rates a read carries one or two publishes, and handing each to the
// ingest thread costs two thread switches and a post back per message, more
// than applying it (docs/benchmarks.md, "Against FlashMQ"). Worker threads.
#include "gateway/pipeline/ingest.hpp"

namespace tidegate {

namespace {

// Nothing the ingest thread alone may do: no store write, no completion, no
// retained set, no group hand-off, no replication.
bool applies_now(const Ingest::PublishRequest& r) {
  return r.message->qos == 0 && !r.message->retain && !r.done && !r.session_update && r.shared_group.empty() &&
         !r.from_cluster;
}

}  // namespace

bool Ingest::publish_now(std::vector<PublishRequest>& requests) {
  // A stream may want to store a QoS 0 message: only the ingest thread writes.
  if (replicator_ || durable_count_.load(std::memory_order_relaxed)) return false;
  for (const auto& r : requests)
    if (!applies_now(r)) return false;
  {
    // An empty inbox and no batch in progress: everything this connection
    // (or anyone) sent before is applied, committed and visible, so these
    // take the next sequences in order and become visible at once.
    std::lock_guard guard(inbox_lock_);
    // Again under the lock: a stream set up since the check above is applied by now.
    if (applying_ || stopping_ || !inbox_.empty() || durable_count_.load(std::memory_order_relaxed)) return false;
    applying_ = true;
  }
  // The turn goes back however this ends: if applying throws, what was
  // applied waits in cache_appends_ and the ingest thread's next batch makes
  // it visible.
  struct GiveTurnBack {
    Ingest& ingest;
    ~GiveTurnBack() {
      bool wake = false;
      {
        std::lock_guard guard(ingest.inbox_lock_);
        ingest.applying_ = false;
        wake = !ingest.inbox_.empty() || ingest.stopping_;  // the ingest thread waited for us
      }
      if (wake) ingest.inbox_ready_.notify_one();
    }
  } give_turn_back{*this};
  for (auto& request : requests) apply_publish(request);
  fold_batch_stats();
  announce(make_visible());
  cache_appends_.clear();
  return true;
}

}  // namespace tidegate
