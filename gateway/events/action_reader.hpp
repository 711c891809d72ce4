#pragma once
// Reads a rule's queue for one of its actions like a persistent session
// reads its own (docs/events.md, "Delivery"): pulls by offset from the queue
// cache (through the store when behind), keeps what the rule's `where`
// matches, hands it to the action's sink in order, and keeps the action's
// committed offset in the store: the sequence before the first message not
// yet finished. After a crash it resumes there (at least once, in order).
// Its offset never refuses a publish: retention bounds its backlog, and what
// retention removes before it is read is counted and logged as lost.
// Events thread only, except where said.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "cache/queue_cache.hpp"
#include "gateway/events/action_counters.hpp"
#include "gateway/events/action_sink.hpp"
#include "gateway/events/conditions.hpp"
#include "gateway/pipeline/ingest.hpp"

namespace tidegate::events {

struct ReaderPlace {
  std::string reader_id;  // action_reader_id(): its row in the offsets table
  std::string origin;     // what this rule's own output carries as publisher: never read back
  std::string queue;
  std::uint64_t committed = 0;  // where to resume
  bool stored = false;          // `committed` is what the store holds (else it is written at start)
};

class ActionReader : public std::enable_shared_from_this<ActionReader> {
 public:
  ActionReader(boost::asio::io_context& io, Ingest& ingest, const cache::QueueCache& cache, ReaderPlace place,
               std::vector<Condition> where, std::shared_ptr<ActionCounters> counters);

  // The sink is made after the reader, as it calls finished().
  void set_sink(std::unique_ptr<ActionSink> sink) { sink_ = std::move(sink); }
  void start();
  // Stops reading; the committed offset is saved once more (the ingest
  // thread still runs). What was under way is delivered again after a restart.
  void stop();
  void wake();  // the queue has new entries
  void finished(std::uint64_t seq);
  // Retention removed these entries of the queue: those not read yet are lost.
  void removed_by_retention(const std::vector<std::uint64_t>& seqs);
  void set_paused(bool paused);
  // Any thread: the pause takes effect at once for status and restarts; wake() (events thread) follows.
  void mark_paused(bool paused) { paused_ = paused; }

  const std::string& queue() const { return place_.queue; }
  const std::string& reader_id() const { return place_.reader_id; }
  // Any thread.
  bool paused() const { return paused_.load(std::memory_order_relaxed); }
  std::uint64_t committed() const { return committed_.load(std::memory_order_relaxed); }
  std::size_t unfinished() const { return unfinished_.load(std::memory_order_relaxed); }
  ActionCounters& counters() const { return *counters_; }

 private:
  boost::asio::awaitable<void> run();
  void advance();
  void save();        // now, or when kSaveInterval has passed since the last one
  void save_now();

  boost::asio::io_context& io_;
  Ingest& ingest_;
  const cache::QueueCache& cache_;
  const ReaderPlace place_;
  const std::vector<Condition> where_;
  std::shared_ptr<ActionCounters> counters_;
  std::unique_ptr<ActionSink> sink_;
  boost::asio::steady_timer signal_;  // run() waits here; wake() cancels it
  // Offsets are written at most every kSaveInterval: each write is a store
  // transaction on the ingest thread, and a reader keeping up with a busy
  // queue moves its offset thousands of times a second. A crash sends again
  // what was finished since the last write (at least once).
  boost::asio::steady_timer save_timer_;
  boost::asio::steady_timer pause_;  // between pulls that were not full (kPullPause)
  std::chrono::steady_clock::time_point last_save_{};
  bool save_scheduled_ = false;
  bool stopped_ = false;
  std::uint64_t read_position_ = 0;    // the last sequence pulled
  struct Unfinished {
    std::uint64_t seq;
    bool done = false;
  };
  std::deque<Unfinished> outstanding_;  // handed to the sink, ascending
  cache::QueueCache::ReadMark read_mark_;
  std::uint64_t saved_ = 0;             // the offset in the store
  bool saving_ = false;
  std::atomic<bool> paused_{false};
  std::atomic<std::uint64_t> committed_{0};
  std::atomic<std::size_t> unfinished_{0};
};

}  // namespace tidegate::events
