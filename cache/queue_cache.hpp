#pragma once
// The shared queue cache (docs/design.md, "Pulling and pushing"): the tail of
// every live queue as immutable, reference-counted messages, so a message
// fanned out to many sessions is read from the store once and copied zero
// times.
//
// Threads: create/drop/append are called by whoever holds the ingest
// thread's turn (the ingest thread, or a worker in Ingest::publish_now), one
// at a time; pull() by any worker. Queue lookup takes a shared lock on the queue map; each tail has
// its own mutex held only while copying pointers out. A pull older than the
// cached tail reads through the store (persisted QoS 1/2 entries only: a QoS 0
// message lives in the cache alone and is gone once evicted).
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "storeclient/message.hpp"
#include "storeclient/queue_reader.hpp"

namespace tidegate::cache {

struct QueueCacheStats {
  std::size_t queues = 0;
  std::size_t entries = 0;
  std::size_t bytes = 0;
};

class QueueCache {
 public:
  QueueCache(const store::QueueReader& store, std::size_t max_entries_per_queue);

  // Ingest thread. `covered_after`: every entry of the queue with a larger
  // sequence will pass through append(); older ones are in the store.
  void create_queue(const std::string& queue, std::uint64_t covered_after);
  void drop_queue(const std::string& queue);
  void append(const std::string& queue, const store::MessagePtr& message);
  // Several entries, ascending: one lookup and one lock for all of them.
  void append(const std::string& queue, const std::vector<store::MessagePtr>& messages);

  // Any thread: entries of `queue` with sequence > after_seq, in order, at
  // most max_count. An unknown queue yields nothing. `skipped` (when given)
  // receives how many QoS 0 entries after after_seq and before what is
  // returned were evicted from memory without being stored: lost to this
  // reader, which was too slow (counted by the caller, never silent).
  // `gone_upto` (when given) receives, when nothing was stored between
  // after_seq and the cached tail, the sequence the pull continued after:
  // everything up to it is gone, and the reader may move its position there
  // so that the same loss is not counted again by its next pull.
  //
  // `mark` (when given) makes `skipped` exact however much was lost: the
  // reader keeps it between pulls, and while its position stays where the
  // last pull left it (mark->seq == after_seq) the loss is counted from the
  // queue's running count of QoS 0 entries. Otherwise (a reader that moved
  // its position, or has no mark yet) the count comes from the last
  // kMaxEvictionMarks evictions: exact unless more were lost, then a lower
  // bound. Nothing after `upto_seq` is returned from the tail.
  struct ReadMark {
    bool valid = false;
    std::uint64_t seq = 0;        // the position the last pull left the reader at
    std::uint64_t qos0_upto = 0;  // QoS 0 entries of the queue up to there, taken or counted as lost
  };
  std::vector<store::MessagePtr> pull(const std::string& queue, std::uint64_t after_seq, std::size_t max_count,
                                      std::uint64_t* skipped = nullptr, std::uint64_t* gone_upto = nullptr,
                                      ReadMark* mark = nullptr, std::uint64_t upto_seq = UINT64_MAX) const;

  QueueCacheStats stats() const;

  // Retention removed every stored message up to this sequence (set by the
  // ingest thread). A reader whose position is older may have lost messages.
  void set_retention_floor(std::uint64_t seq) { retention_floor_.store(seq, std::memory_order_relaxed); }
  bool behind_retention(std::uint64_t position) const {
    return position < retention_floor_.load(std::memory_order_relaxed);
  }

 private:
  struct Entry {
    store::MessagePtr message;
    std::uint64_t qos0_upto;  // QoS 0 entries appended to the queue up to and including this one
  };
  struct Tail {
    mutable std::mutex lock;
    std::deque<Entry> entries;          // ascending sequence
    std::uint64_t covered_after = 0;    // everything above this is in `entries`
    std::size_t bytes = 0;
    std::uint64_t qos0_appended = 0;
    // QoS 0 entries evicted (they exist nowhere else): all of them counted,
    // and (sequence, running count) of the last kMaxEvictionMarks, to count
    // what a slow reader without a valid ReadMark skips.
    std::deque<std::pair<std::uint64_t, std::uint64_t>> qos0_evictions;
    std::uint64_t qos0_evicted = 0;
    // Entries after `after_seq` up to `upto_seq`, at most max_count, into
    // `out`; moves `mark` to the last one. With `owed` (the mark is at
    // after_seq), adds the QoS 0 entries lost before after_seq that the mark
    // has not counted yet. Under `lock`, after_seq >= covered_after.
    void take(std::uint64_t after_seq, std::size_t max_count, std::uint64_t upto_seq,
              std::vector<store::MessagePtr>& out, ReadMark* mark, std::uint64_t* owed) const;
    std::uint64_t evicted_between(std::uint64_t after, std::uint64_t upto) const;
    void push(const store::MessagePtr& message, std::size_t max_entries);  // under `lock`
  };
  static constexpr std::size_t kMaxEvictionMarks = 8192;
  std::shared_ptr<Tail> find(const std::string& queue) const;

  const store::QueueReader& store_;
  const std::size_t max_entries_;
  std::atomic<std::uint64_t> retention_floor_{0};
  mutable std::shared_mutex map_lock_;
  std::unordered_map<std::string, std::shared_ptr<Tail>> tails_;
};

}  // namespace tidegate::cache
