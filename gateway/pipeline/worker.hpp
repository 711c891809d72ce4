#pragma once
// One worker thread with its own io_context (docs/design.md, "Threads"). A
// connection and its session belong to exactly one worker; only that worker
// touches them.
//
// The worker also keeps its share of the notify fan-out: which of its
// connections read which queue, so a {queue, last sequence} event from the
// ingest thread wakes exactly those sessions. No lock: worker thread only.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "gateway/pipeline/deadlines.hpp"
#include "gateway/pipeline/ingest.hpp"
#include "gateway/pipeline/queue_subscriber.hpp"

namespace tidegate {

class Worker {
 public:
  explicit Worker(unsigned index);
  unsigned index() const { return index_; }
  boost::asio::io_context& io() { return io_; }

  void start();
  void stop();  // lets run() return once the io_context has no work
  void join();

  // Worker thread only.
  void add_reader(const std::string& queue, QueueSubscriber* connection);
  void remove_reader(const std::string& queue, QueueSubscriber* connection);
  void on_events(const QueueEvents& events);
  std::size_t connection_count() const { return connections_.size(); }

  // Delivery pacing (worker thread only). A connection whose delivery turn
  // ended on the per-turn budget with messages still waiting is *lagging*: the
  // worker itself, not the client, is the limit. While one is, the other
  // connections of this worker wait (at most kPacingWait) before their next
  // read, so QoS 0 publishers are read about as fast as their subscribers are
  // served instead of being read and then dropped as qos0_slow_subscriber.
  // A client that does not read (output bound) or does not acknowledge
  // (inflight window) is never lagging: it paces nobody.
  static constexpr std::chrono::milliseconds kPacingWait{20};
  void set_lagging(const QueueSubscriber* connection, bool lagging);
  bool has_lagging() const { return !lagging_.empty(); }
  // Whether a connection lagged within kPacingMemory: reads stay small
  // meanwhile (ConnectionDriver::read_loop), so that one read of every publisher
  // together fits a queue's cached tail.
  static constexpr std::chrono::milliseconds kPacingMemory{100};
  bool lagged_recently() const { return std::chrono::steady_clock::now() - lagged_at_ < kPacingMemory; }
  bool is_lagging(const QueueSubscriber* connection) const;
  // Completes (with any error code) when no connection lags any more, or
  // after kPacingWait (re-armed here once it has passed).
  boost::asio::steady_timer& caught_up();
  // The deadlines of this worker's connections, on one timer.
  Deadlines& deadlines() { return deadlines_; }
  void add_connection(const std::shared_ptr<QueueSubscriber>& c) { connections_.insert(c); }
  void remove_connection(const std::shared_ptr<QueueSubscriber>& c) { connections_.erase(c); }
  // Every live connection of this worker (for shutdown).
  std::vector<std::shared_ptr<QueueSubscriber>> connections() const { return {connections_.begin(), connections_.end()}; }

 private:
  unsigned index_;
  boost::asio::io_context io_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
  std::unordered_map<std::string, std::vector<QueueSubscriber*>> readers_;
  std::set<std::shared_ptr<QueueSubscriber>> connections_;
  std::vector<const QueueSubscriber*> lagging_;  // a handful at most
  std::chrono::steady_clock::time_point lagged_at_{};
  boost::asio::steady_timer caught_up_{io_};
  Deadlines deadlines_{io_};
};

}  // namespace tidegate
