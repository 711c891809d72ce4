#pragma once
// One worker thread with its own io_context (DESIGN §2). A connection and its
// session belong to exactly one worker; only that worker touches them.
//
// The worker also keeps its share of the notify fan-out: which of its
// connections read which queue, so a {queue, last sequence} event from the
// ingest thread wakes exactly those sessions. No lock: worker thread only.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "gateway/ingest.hpp"

namespace tidegate {

class Connection;

class Worker {
 public:
  explicit Worker(unsigned index);
  unsigned index() const { return index_; }
  boost::asio::io_context& io() { return io_; }

  void start();
  void stop();  // lets run() return once the io_context has no work
  void join();

  // Worker thread only.
  void add_reader(const std::string& queue, Connection* connection);
  void remove_reader(const std::string& queue, Connection* connection);
  void on_events(const QueueEvents& events);
  std::size_t connection_count() const { return connections_.size(); }
  void add_connection(const std::shared_ptr<Connection>& c) { connections_.insert(c); }
  void remove_connection(const std::shared_ptr<Connection>& c) { connections_.erase(c); }
  // Every live connection of this worker (for shutdown).
  std::vector<std::shared_ptr<Connection>> connections() const { return {connections_.begin(), connections_.end()}; }

 private:
  unsigned index_;
  boost::asio::io_context io_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
  std::unordered_map<std::string, std::vector<Connection*>> readers_;
  std::set<std::shared_ptr<Connection>> connections_;
};

}  // namespace tidegate
