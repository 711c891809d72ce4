// The generator's io threads: one io_context per thread, each run by exactly
// one thread (so Asio may skip its internal locking), each with the
// ThreadStats that its clients record into.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "tools/bench/stats.hpp"

namespace tidegate::bench {

class IoThreads {
 public:
  explicit IoThreads(unsigned count);
  ~IoThreads();  // stop() if still running
  IoThreads(const IoThreads&) = delete;
  IoThreads& operator=(const IoThreads&) = delete;

  unsigned size() const { return static_cast<unsigned>(slots_.size()); }
  boost::asio::io_context& context(unsigned i) { return slots_[i]->io; }
  ThreadStats& stats(unsigned i) { return slots_[i]->stats; }
  std::vector<ThreadStats*> all_stats();

  void start();
  // Lets the threads return once their handlers are done; after `grace`,
  // stops the io_contexts outright. Joins. Called from the coordinating thread.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(2000));

 private:
  struct Slot {
    boost::asio::io_context io{1};
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard;
    ThreadStats stats;
    std::thread thread;
  };
  std::vector<std::unique_ptr<Slot>> slots_;
  bool running_ = false;
};

}  // namespace tidegate::bench
