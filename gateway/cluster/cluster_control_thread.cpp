#include "gateway/cluster/cluster_control_thread.hpp"

#include <utility>

namespace tidegate {

void ControlThread::start(std::chrono::milliseconds interval, std::function<void()> tick) {
  interval_ = interval;
  tick_ = std::move(tick);
  thread_ = std::thread([this] { run(); });
}

void ControlThread::post(std::function<void()> task) {
  {
    std::lock_guard guard(lock_);
    if (stopping_) return;
    tasks_.push_back(std::move(task));
  }
  ready_.notify_one();
}

void ControlThread::stop() {
  {
    std::lock_guard guard(lock_);
    stopping_ = true;  // the thread finishes what is queued, then ends
  }
  ready_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void ControlThread::run() {
  std::unique_lock guard(lock_);
  auto next_tick = std::chrono::steady_clock::now() + interval_;
  for (;;) {
    ready_.wait_until(guard, next_tick, [this] { return stopping_ || !tasks_.empty(); });
    if (std::chrono::steady_clock::now() >= next_tick) {
      guard.unlock();
      if (tick_) tick_();
      guard.lock();
      next_tick = std::chrono::steady_clock::now() + interval_;
    }
    if (tasks_.empty()) {
      if (stopping_) return;  // everything posted before is done
      continue;
    }
    auto task = std::move(tasks_.front());
    tasks_.pop_front();
    guard.unlock();
    task();
    guard.lock();
  }
}

}  // namespace tidegate
