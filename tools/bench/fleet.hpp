// The clients of one run, spread round-robin over the io threads, and the
// phase operations the coordinating thread (main) starts on all of them and
// waits for with a deadline.
//
// Thread: every Fleet member function is called from the coordinating thread;
// the operations run on the clients' io threads and report back through a
// Countdown.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tools/bench/bench_client.hpp"
#include "tools/bench/io_threads.hpp"

namespace tidegate::bench {

// Counts completions arriving from any thread; the coordinator waits on it.
class Countdown {
 public:
  explicit Countdown(std::size_t n) : remaining_(n) {}
  void arrive(const std::string& error);  // any thread
  // true when everything arrived before the deadline.
  bool wait_until(std::chrono::steady_clock::time_point deadline);
  std::size_t failures() const;
  std::size_t remaining() const;
  std::string first_error() const;

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::size_t remaining_;
  std::size_t failures_ = 0;
  std::string first_error_;
};

struct PhaseResult {
  std::size_t total = 0, ok = 0, failed = 0, timed_out = 0;
  std::string first_error;
  double seconds = 0;
  bool complete() const { return ok == total; }
};

class Fleet {
 public:
  using Client = std::shared_ptr<BenchClient>;
  // Runs on the client's thread; `index` is the client's position in the list.
  using Op = std::function<void(BenchClient&, std::size_t index, BenchClient::Done)>;

  explicit Fleet(IoThreads& io) : io_(io) {}

  Client add(ClientConfig config);

  // TCP connect + CONNACK for every client, at most `concurrency` connects
  // in flight over all threads.
  PhaseResult connect_all(const std::vector<Client>& clients, unsigned concurrency,
                          std::chrono::steady_clock::duration timeout);
  // Runs op on each client's thread; waits for every Done or the timeout.
  PhaseResult run(const std::vector<Client>& clients, const Op& op, std::chrono::steady_clock::duration timeout);
  // Runs op on each client's thread and returns at once; the Countdown
  // counts the Dones.
  std::shared_ptr<Countdown> start(const std::vector<Client>& clients, const Op& op);
  // Posts op to each client's thread; nothing to wait for.
  void post(const std::vector<Client>& clients, std::function<void(BenchClient&)> op);

  static PhaseResult result_of(const Countdown& countdown, std::size_t total,
                               std::chrono::steady_clock::time_point start);

 private:
  IoThreads& io_;
  unsigned next_thread_ = 0;
};

}  // namespace tidegate::bench
