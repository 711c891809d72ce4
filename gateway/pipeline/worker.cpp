#include "gateway/pipeline/worker.hpp"

#include <algorithm>

#include "gateway/ops/log.hpp"

namespace tidegate {

Worker::Worker(unsigned index) : index_(index), work_(boost::asio::make_work_guard(io_)) {}

void Worker::start() {
  thread_ = std::thread([this] {
    for (;;) {
      try {
        io_.run();
        return;
      } catch (const std::exception& e) {
        // A handler threw: log it and keep the worker serving the others.
        log::error(std::string("worker: unhandled exception: ") + e.what());
      }
    }
  });
}

void Worker::stop() { work_.reset(); }

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::add_reader(const std::string& queue, QueueSubscriber* connection) {
  auto& list = readers_[queue];
  if (std::find(list.begin(), list.end(), connection) == list.end()) list.push_back(connection);
}

void Worker::remove_reader(const std::string& queue, QueueSubscriber* connection) {
  auto it = readers_.find(queue);
  if (it == readers_.end()) return;
  std::erase(it->second, connection);
  if (it->second.empty()) readers_.erase(it);
}

void Worker::set_lagging(const QueueSubscriber* connection, bool lagging) {
  if (lagging) lagged_at_ = std::chrono::steady_clock::now();
  auto it = std::find(lagging_.begin(), lagging_.end(), connection);
  if (lagging == (it != lagging_.end())) return;
  if (lagging) {
    // The first laggard arms the bound on how long a reader waits for it.
    if (lagging_.empty()) caught_up_.expires_after(kPacingWait);
    lagging_.push_back(connection);
    return;
  }
  lagging_.erase(it);
  if (lagging_.empty()) caught_up_.cancel();  // the readers waiting go on
}

bool Worker::is_lagging(const QueueSubscriber* connection) const {
  return std::find(lagging_.begin(), lagging_.end(), connection) != lagging_.end();
}

boost::asio::steady_timer& Worker::caught_up() {
  // Nothing waits on a timer that has passed (its waits completed), so
  // re-arming it cancels nobody.
  if (caught_up_.expiry() <= boost::asio::steady_timer::clock_type::now()) caught_up_.expires_after(kPacingWait);
  return caught_up_;
}

void Worker::on_events(const QueueEvents& events) {
  for (const auto& e : events) {
    auto it = readers_.find(e.queue);
    if (it == readers_.end()) continue;
    for (auto* c : it->second) c->on_queue_event(e.queue, e.last_seq);
  }
}

}  // namespace tidegate
