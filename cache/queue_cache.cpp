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
  tail->entries.push_back(message);
  tail->bytes += message->footprint();
  while (tail->entries.size() > max_entries_) {
    const auto& front = tail->entries.front();
    tail->covered_after = front->seq;
    tail->bytes -= front->footprint();
    tail->entries.pop_front();
  }
}

std::vector<store::MessagePtr> QueueCache::pull(const std::string& queue, std::uint64_t after_seq,
                                                std::size_t max_count) const {
  std::vector<store::MessagePtr> out;
  auto tail = find(queue);
  if (!tail || max_count == 0) return out;
  std::uint64_t covered_after;
  {
    std::lock_guard guard(tail->lock);
    covered_after = tail->covered_after;
    if (after_seq >= covered_after) {
      auto first = std::upper_bound(tail->entries.begin(), tail->entries.end(), after_seq,
                                    [](std::uint64_t s, const store::MessagePtr& m) { return s < m->seq; });
      for (auto it = first; it != tail->entries.end() && out.size() < max_count; ++it) out.push_back(*it);
      return out;
    }
  }
  // Older than the cached tail: the persisted part comes from the store, the
  // rest from the tail on the next pull (the caller's offset moves forward).
  for (auto& m : store_.read_queue(queue, after_seq, max_count)) {
    if (m->seq > covered_after) break;
    out.push_back(std::move(m));
  }
  if (out.empty()) {
    // Nothing persisted between after_seq and the tail: continue in the tail.
    return pull(queue, covered_after, max_count);
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
