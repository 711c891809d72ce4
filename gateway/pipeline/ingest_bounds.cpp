// The ingest thread's bounds (docs/durability.md, "Retention: how the disk
// stays bounded" and "Backlog per session"): retention of stored messages,
// each persistent session's backlog per queue, the retained quota. Ingest
// thread only, like the rest of Ingest; set_limits posts to it.
#include <algorithm>

#include "gateway/ops/log.hpp"
#include "gateway/pipeline/ingest.hpp"

namespace tidegate {

std::size_t Ingest::retained_size(const store::Message& m) { return m.topic.size() + m.payload.size(); }

void Ingest::RetainedTally::add(const store::Message& m, int sign) {
  const bool sys = m.topic.starts_with("$SYS/");
  auto& n = sys ? sys_count : count;
  auto& b = sys ? sys_bytes : bytes;
  n += static_cast<std::size_t>(sign);
  b += static_cast<std::size_t>(sign) * retained_size(m);
}

void Ingest::Queue::trim_backlog() {
  if (reader_positions.empty()) {
    backlog.clear();
    return;
  }
  std::uint64_t floor = UINT64_MAX;
  for (const auto& [client, position] : reader_positions) floor = std::min(floor, position);
  while (!backlog.empty() && backlog.front() <= floor) backlog.pop_front();
}

void Ingest::track_reader(const std::string& client_id, const std::string& queue, std::uint64_t position) {
  if (!limits_.max_session_backlog) return;
  auto it = queues_.find(queue);
  if (it == queues_.end()) return;
  auto& q = it->second;
  // The backlog deque holds the stored sequences after counted_after.
  std::uint64_t counted_after = last_seq_;
  for (const auto& [client, p] : q.reader_positions) counted_after = std::min(counted_after, p);
  q.reader_positions[client_id] = position;
  if (position < counted_after) {
    // A reader behind everything counted so far (a session restored at start):
    // what it has not taken is read from the store's index once, bounded by the
    // limit. (A backlog already beyond the limit, as after lowering it, is
    // counted only up to the limit: it shrinks as the reader catches up.)
    std::vector<std::uint64_t> older;
    for (auto seq : store_.queue_sequences(queue, position, limits_.max_session_backlog + 1)) {
      if (seq > counted_after) break;
      older.push_back(seq);
    }
    q.backlog.insert(q.backlog.begin(), older.begin(), older.end());
  }
  q.trim_backlog();
}

bool Ingest::session_backlogs_allow(const store::Message& m, const std::vector<const std::string*>& queues) {
  // QoS 0 is never stored: it adds nothing to a backlog, and passes.
  if (!limits_.max_session_backlog || m.qos == 0) return true;
  std::uint64_t removed_up_to = store_.retention_floor();
  bool full = std::any_of(queues.begin(), queues.end(), [&](const std::string* name) {
    auto it = queues_.find(*name);
    if (it == queues_.end() || it->second.reader_positions.empty()) return false;
    auto& backlog = it->second.backlog;
    while (!backlog.empty() && backlog.front() <= removed_up_to) backlog.pop_front();  // gone by retention
    return backlog.size() >= limits_.max_session_backlog;
  });
  if (!full) return true;
  std::lock_guard guard(stats_lock_);
  ++stats_.refused_session_backlog;
  return false;
}

bool Ingest::retained_quota_allows(const store::Message& m) const {
  if (m.payload.empty()) return true;  // clearing always allowed
  // The gateway's own $SYS topics (clients may not write there) use no quota.
  if (m.topic.starts_with("$SYS/")) return true;
  auto old = retained_.find(m.topic);
  std::size_t count = retained_tally_.count + (old == retained_.end() ? 1 : 0);
  std::size_t bytes = retained_tally_.bytes + retained_size(m) -
                      (old == retained_.end() ? 0 : retained_size(*old->second));
  return count <= limits_.max_retained_messages && bytes <= limits_.max_retained_bytes;
}

void Ingest::refresh_backlog_stats() {
  // Once a second (with the retention check): the gauges /metrics shows for
  // the persistent sessions' backlogs (max_session_backlog).
  // And the subscription count: each queue's readers (a shared group's member queues count each member).
  std::size_t largest = 0, total = 0, subscriptions = 0;
  for (const auto& [name, q] : queues_) {
    largest = std::max(largest, q.backlog.size());
    total += q.backlog.size();
    subscriptions += q.refs;
  }
  std::lock_guard guard(stats_lock_);
  stats_.session_backlog_largest = largest;
  stats_.session_backlog_total = total;
  stats_.subscriptions = subscriptions;
}

void Ingest::enforce_retention() {
  // At most once a second, and a bounded amount of work each time, so the
  // writer never stalls publishers for long.
  auto now = store::wall_clock_ms();
  if (now < next_retention_check_ms_) return;
  next_retention_check_ms_ = now + 1000;
  refresh_backlog_stats();
  auto usage = store_.usage();
  bool over_bytes = limits_.retention_bytes && usage.message_bytes > limits_.retention_bytes;
  bool over_age = limits_.retention_ms && usage.oldest_seq && usage.oldest_created_ms < now - limits_.retention_ms;
  if (!over_bytes && !over_age) return;
  store::WriteBatch removal;
  if (over_bytes) {
    removal.delete_oldest = std::clamp<std::size_t>(usage.messages / 16, 64, 4096);
  } else {
    removal.delete_oldest = 4096;
    removal.delete_created_before_ms = now - limits_.retention_ms;
  }
  if (store_.commit(removal)) return;
  cache_.set_retention_floor(store_.retention_floor());
  if (retention_listener_ && !store_.last_removed_entries().empty()) retention_listener_(store_.last_removed_entries());
  if (store_.last_removed() > 0)
    log::info("retention: removed " + std::to_string(store_.last_removed()) + " oldest message(s) up to sequence " +
              std::to_string(store_.retention_floor()) +
              (over_bytes ? " (stored bytes over retention_bytes)" : " (older than retention_seconds)"));
  std::lock_guard guard(stats_lock_);
  stats_.retention_removed += store_.last_removed();
  if (store_.last_removed() > 0) next_retention_check_ms_ = now;  // keep going until within the bounds
}

void Ingest::restore_reader(const std::string& client_id, const std::string& queue, std::uint64_t position) {
  post([this, client_id, queue, position] { track_reader(client_id, queue, position); });
}

void Ingest::set_limits(IngestLimits limits) {
  post([this, limits] {
    bool tracking = limits_.max_session_backlog != 0;
    limits_ = limits;
    // Backlogs are counted only while a limit is set: turning one on starts
    // counting from the readers' next saved positions.
    if (tracking && !limits_.max_session_backlog)
      for (auto& [name, q] : queues_) {
        q.reader_positions.clear();
        q.backlog.clear();
      }
    next_retention_check_ms_ = 0;  // a lower retention applies at once
  });
}

void Ingest::forget_reader(const std::string& client_id, const std::string& queue) {
  post([this, client_id, queue] {
    if (auto it = queues_.find(queue); it != queues_.end()) {
      it->second.reader_positions.erase(client_id);
      it->second.trim_backlog();
    }
  });
}

}  // namespace tidegate
