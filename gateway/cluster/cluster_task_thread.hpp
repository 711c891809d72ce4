#pragma once
// Cluster mode: a thread running queued tasks in order, with a tick for
// time-outs once a second at least (SessionHandover's asking and serving
// threads, cluster_handover.hpp). Unlike the control thread, stop() drops
// what is still queued: a move asked for while the gateway stops is not
// answered.
//
// Threads: post() from any thread (libnats threads, workers); the tasks and
// the tick on this thread; stop() on the main thread.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace tidegate {

class HandoverTaskThread {
 public:
  explicit HandoverTaskThread(std::function<void()> tick = {}) : tick_(std::move(tick)) {
    thread_ = std::thread([this] { run(); });
  }
  HandoverTaskThread(const HandoverTaskThread&) = delete;
  HandoverTaskThread& operator=(const HandoverTaskThread&) = delete;
  ~HandoverTaskThread() { stop(); }
  void post(std::function<void()> task) {
    {
      std::lock_guard guard(lock_);
      if (stopping_) return;
      tasks_.push_back(std::move(task));
    }
    ready_.notify_one();
  }
  void stop() {
    {
      std::lock_guard guard(lock_);
      stopping_ = true;
    }
    ready_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    std::unique_lock guard(lock_);
    for (;;) {
      ready_.wait_for(guard, std::chrono::seconds(1), [this] { return stopping_ || !tasks_.empty(); });
      if (stopping_) return;
      auto tasks = std::move(tasks_);
      tasks_.clear();
      guard.unlock();
      for (auto& task : tasks) task();
      if (tick_) tick_();
      guard.lock();
    }
  }
  std::function<void()> tick_;
  std::mutex lock_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tidegate
