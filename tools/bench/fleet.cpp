#include "tools/bench/fleet.hpp"

#include <boost/asio/post.hpp>

namespace tidegate::bench {

// ---------------------------------------------------------------- Countdown

void Countdown::arrive(const std::string& error) {
  std::lock_guard lock(mutex_);
  if (!error.empty()) {
    if (failures_++ == 0) first_error_ = error;
  }
  if (remaining_ > 0 && --remaining_ == 0) cv_.notify_all();
}

bool Countdown::wait_until(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return cv_.wait_until(lock, deadline, [&] { return remaining_ == 0; });
}

std::size_t Countdown::failures() const {
  std::lock_guard lock(mutex_);
  return failures_;
}

std::size_t Countdown::remaining() const {
  std::lock_guard lock(mutex_);
  return remaining_;
}

std::string Countdown::first_error() const {
  std::lock_guard lock(mutex_);
  return first_error_;
}

// ---------------------------------------------------------------- Fleet

PhaseResult Fleet::result_of(const Countdown& countdown, std::size_t total, std::chrono::steady_clock::time_point start) {
  PhaseResult r;
  r.total = total;
  r.timed_out = countdown.remaining();
  r.failed = countdown.failures();
  r.ok = total - r.failed - r.timed_out;
  r.first_error = countdown.first_error();
  if (r.first_error.empty() && r.timed_out > 0) r.first_error = std::to_string(r.timed_out) + " did not complete in time";
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

namespace {

// Connects of one io thread, started `limit` at a time; touched only on that thread.
struct ConnectQueue {
  std::vector<Fleet::Client> clients;
  std::size_t next = 0;
  std::shared_ptr<Countdown> countdown;

  static void start_next(const std::shared_ptr<ConnectQueue>& q) {
    if (q->next >= q->clients.size()) return;
    Fleet::Client c = q->clients[q->next++];
    c->connect([q, c](const std::string& error) {
      q->countdown->arrive(error);
      // Posted, not called: a connect that fails at once (bind) must not
      // recurse through the whole queue.
      boost::asio::post(c->executor(), [q] { start_next(q); });
    });
  }
};

}  // namespace

Fleet::Client Fleet::add(ClientConfig config) {
  const unsigned t = next_thread_++ % io_.size();
  return std::make_shared<BenchClient>(io_.context(t), io_.stats(t), std::move(config));
}

PhaseResult Fleet::connect_all(const std::vector<Client>& clients, unsigned concurrency,
                               std::chrono::steady_clock::duration timeout) {
  const auto start = std::chrono::steady_clock::now();
  auto countdown = std::make_shared<Countdown>(clients.size());
  // Group by io thread: each queue lives on its client's thread.
  std::vector<std::shared_ptr<ConnectQueue>> queues;
  std::vector<boost::asio::io_context::executor_type> executors;
  for (const Client& c : clients) {
    std::size_t i = 0;
    while (i < executors.size() && executors[i] != c->executor()) ++i;
    if (i == executors.size()) {
      executors.push_back(c->executor());
      queues.push_back(std::make_shared<ConnectQueue>());
      queues.back()->countdown = countdown;
    }
    queues[i]->clients.push_back(c);
  }
  const unsigned per_thread = std::max(1u, concurrency / std::max<unsigned>(1, queues.size()));
  for (std::size_t i = 0; i < queues.size(); ++i) {
    boost::asio::post(executors[i], [q = queues[i], per_thread] {
      for (unsigned k = 0; k < per_thread; ++k) ConnectQueue::start_next(q);
    });
  }
  countdown->wait_until(start + timeout);
  return result_of(*countdown, clients.size(), start);
}

std::shared_ptr<Countdown> Fleet::start(const std::vector<Client>& clients, const Op& op) {
  auto countdown = std::make_shared<Countdown>(clients.size());
  for (std::size_t i = 0; i < clients.size(); ++i) {
    boost::asio::post(clients[i]->executor(), [c = clients[i], i, op, countdown] {
      op(*c, i, [countdown](const std::string& error) { countdown->arrive(error); });
    });
  }
  return countdown;
}

PhaseResult Fleet::run(const std::vector<Client>& clients, const Op& op, std::chrono::steady_clock::duration timeout) {
  const auto started = std::chrono::steady_clock::now();
  auto countdown = start(clients, op);
  countdown->wait_until(started + timeout);
  return result_of(*countdown, clients.size(), started);
}

void Fleet::post(const std::vector<Client>& clients, std::function<void(BenchClient&)> op) {
  for (const Client& c : clients) boost::asio::post(c->executor(), [c, op] { op(*c); });
}

}  // namespace tidegate::bench
