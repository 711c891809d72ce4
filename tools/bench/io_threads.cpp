#include "tools/bench/io_threads.hpp"

#include <thread>

namespace tidegate::bench {

IoThreads::IoThreads(unsigned count) {
  for (unsigned i = 0; i < count; ++i) slots_.push_back(std::make_unique<Slot>());
}

IoThreads::~IoThreads() { stop(std::chrono::milliseconds(0)); }

std::vector<ThreadStats*> IoThreads::all_stats() {
  std::vector<ThreadStats*> out;
  for (auto& s : slots_) out.push_back(&s->stats);
  return out;
}

void IoThreads::start() {
  if (running_) return;
  running_ = true;
  for (auto& s : slots_) {
    s->guard.emplace(boost::asio::make_work_guard(s->io));
    s->thread = std::thread([slot = s.get()] { slot->io.run(); });
  }
}

void IoThreads::stop(std::chrono::milliseconds grace) {
  if (!running_) return;
  running_ = false;
  for (auto& s : slots_) s->guard.reset();
  const auto deadline = std::chrono::steady_clock::now() + grace;
  for (auto& s : slots_) {
    // A thread still busy at the deadline (a handler that keeps re-arming)
    // is stopped; its clients' sockets close with the io_context.
    while (!s->io.stopped() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    s->io.stop();
    if (s->thread.joinable()) s->thread.join();
  }
}

}  // namespace tidegate::bench
