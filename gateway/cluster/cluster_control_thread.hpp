#pragma once
// Cluster mode: the control thread (docs/design.md, "Threads"). It runs, one
// at a time and in the order they were posted, the sends that ask the lookup
// (blocking RPCs) or must keep their order: notify messages, their syncs,
// events passed on to a gateway a session moved to, takeover announcements.
// Posting never blocks, so libnats threads, workers and the fetch thread post
// here instead of waiting on the lookup themselves.
//
// Threads: post() from any thread; the tasks and the tick run on the control
// thread; start() and stop() on the main thread.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace tidegate {

class ControlThread {
 public:
  ControlThread() = default;
  ControlThread(const ControlThread&) = delete;
  ControlThread& operator=(const ControlThread&) = delete;
  ~ControlThread() { stop(); }

  // `tick` runs every `interval`, between tasks.
  void start(std::chrono::milliseconds interval, std::function<void()> tick);
  // Ignored once stop() has begun.
  void post(std::function<void()> task);
  // Finishes everything posted before, then ends the thread.
  void stop();

 private:
  void run();

  std::chrono::milliseconds interval_{1000};
  std::function<void()> tick_;
  std::mutex lock_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tidegate
