#include "cache/queue_cache.hpp"

#include <algorithm>

namespace tidegate::cache {

QueueCache::QueueCache(const store::QueueReader& store, std::size_t max_entries_per_queue)
    : store_(store), max_entries_(std::max<std::size_t>(1, max_entries_per_queue)) {}

void QueueCache::create_queue(const std::string& queue, std::uint64_t covered_after) {
  std::unique_lock guard(map_lock_);
  auto& tail = tails_[queue];
  if (!tail) {
    tail = std::make_shared<Tail>();
    tail->covered_after = covered_after;
  }
}

void QueueCache::drop_queue(const std::string& queue) {
  std::unique_lock guard(map_lock_);
  tails_.erase(queue);
}

std::shared_ptr<QueueCache::Tail> QueueCache::find(const std::string& queue) const {
  std::shared_lock guard(map_lock_);
  auto it = tails_.find(queue);
  return it == tails_.end() ? nullptr : it->second;
}

void QueueCache::append(const std::string& queue, const store::MessagePtr& message) {
  auto tail = find(queue);
  if (!tail) return;
  std::lock_guard guard(tail->lock);
  tail->push(message, max_entries_);
}

void QueueCache::append(const std::string& queue, const std::vector<store::MessagePtr>& messages) {
  auto tail = find(queue);
  if (!tail) return;
  std::lock_guard guard(tail->lock);
  for (const auto& m : messages) tail->push(m, max_entries_);
}

void QueueCache::Tail::push(const store::MessagePtr& message, std::size_t max_entries) {
  if (message->qos == 0) ++qos0_appended;
  entries.push_back({message, qos0_appended});
  bytes += message->footprint();
  while (entries.size() > max_entries) {
    const auto& front = entries.front().message;
    covered_after = front->seq;
    if (front->qos == 0) {
      qos0_evictions.emplace_back(front->seq, ++qos0_evicted);
      if (qos0_evictions.size() > kMaxEvictionMarks) qos0_evictions.pop_front();
    }
    bytes -= front->footprint();
    entries.pop_front();
  }
}

std::uint64_t QueueCache::Tail::evicted_between(std::uint64_t after, std::uint64_t upto) const {
  // Running count of evictions with sequence <= s; before the oldest mark we
  // know only that at least the marks we kept were lost.
  auto count_upto = [&](std::uint64_t s) -> std::uint64_t {
    auto it = std::upper_bound(qos0_evictions.begin(), qos0_evictions.end(), s,
                               [](std::uint64_t v, const auto& mark) { return v < mark.first; });
    if (it == qos0_evictions.begin()) return qos0_evictions.empty() ? qos0_evicted : it->second - 1;
    return std::prev(it)->second;
  };
  return upto > after ? count_upto(upto) - count_upto(after) : 0;
}

void QueueCache::Tail::take(std::uint64_t after_seq, std::size_t max_count, std::uint64_t upto_seq,
                            std::vector<store::MessagePtr>& out, ReadMark* mark, std::uint64_t* owed) const {
  auto it = std::upper_bound(entries.begin(), entries.end(), after_seq,
                             [](std::uint64_t s, const Entry& e) { return s < e.message->seq; });
  if (owed) {
    // The reader's mark is at after_seq, with what it had counted before it
    // read stored entries past evictions: the QoS 0 entries up to after_seq
    // (the count of the last cached entry at or before it; none cached: all
    // of them were evicted) that it neither took nor counted are lost.
    const std::uint64_t upto_after = it == entries.begin() ? qos0_evicted : std::prev(it)->qos0_upto;
    if (upto_after > mark->qos0_upto) *owed += upto_after - mark->qos0_upto;
  }
  const Entry* last = nullptr;
  for (; it != entries.end() && out.size() < max_count && it->message->seq <= upto_seq; ++it) {
    out.push_back(it->message);
    last = &*it;
  }
  if (mark && last) *mark = ReadMark{true, last->message->seq, last->qos0_upto};
}

std::vector<store::MessagePtr> QueueCache::pull(const std::string& queue, std::uint64_t after_seq,
                                                std::size_t max_count, std::uint64_t* skipped,
                                                std::uint64_t* gone_upto, ReadMark* mark,
                                                std::uint64_t upto_seq) const {
  std::vector<store::MessagePtr> out;
  auto tail = find(queue);
  if (!tail || max_count == 0) return out;
  // The reader is where its last pull left it: its loss is the queue's QoS 0
  // count since then, whatever the eviction marks still cover.
  const bool exact = mark && mark->valid && mark->seq == after_seq;
  std::uint64_t covered_after, qos0_evicted;  // read together: QoS 0 entries up to covered_after
  {
    std::lock_guard guard(tail->lock);
    covered_after = tail->covered_after;
    qos0_evicted = tail->qos0_evicted;
    if (after_seq >= covered_after) {
      tail->take(after_seq, max_count, upto_seq, out, mark, exact ? skipped : nullptr);
      return out;
    }
  }
  // Older than the cached tail: the persisted part comes from the store, the
  // rest from the tail on the next pull (the caller's offset moves forward).
  for (auto& m : store_.read_queue(queue, after_seq, max_count)) {
    if (m->seq > covered_after) break;
    out.push_back(std::move(m));
  }
  // What this pull steps over: up to its last stored entry, or up to the tail.
  std::uint64_t upto = out.empty() ? covered_after : out.back()->seq;
  if (exact) {
    if (out.empty()) {
      // Every entry up to covered_after is evicted: the QoS 0 ones among them
      // number qos0_evicted, and the reader had counted qos0_upto of them.
      if (skipped) *skipped += qos0_evicted - mark->qos0_upto;
      mark->qos0_upto = qos0_evicted;
    }
    // Stored entries returned: the QoS 0 ones stepped over are counted when
    // the reader reaches the tail (the mark keeps its count, at the new position).
    mark->seq = upto;
  } else if (skipped) {
    std::lock_guard guard(tail->lock);
    *skipped += tail->evicted_between(after_seq, upto);
  }
  if (out.empty()) {
    // Nothing persisted between after_seq and the tail: continue in the tail
    // (which may have moved on meanwhile: then gone_upto moves with it, so
    // the reader's position is where the loss was counted up to).
    if (gone_upto) *gone_upto = covered_after;
    return pull(queue, covered_after, max_count, skipped, gone_upto, mark, upto_seq);
  }
  return out;
}

QueueCacheStats QueueCache::stats() const {
  QueueCacheStats s;
  std::shared_lock guard(map_lock_);
  s.queues = tails_.size();
  for (const auto& [name, tail] : tails_) {
    std::lock_guard g(tail->lock);
    s.entries += tail->entries.size();
    s.bytes += tail->bytes;
  }
  return s;
}

}  // namespace tidegate::cache
