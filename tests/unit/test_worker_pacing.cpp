// Worker's delivery pacing (worker.hpp): readers wait on caught_up() while a
// connection lags, and go on when the last one catches up or the bound passes.
// Driven on the test thread with the worker's io_context (no worker thread).
#include <doctest/doctest.h>

#include <boost/asio/steady_timer.hpp>
#include <chrono>

#include "gateway/pipeline/worker.hpp"

using tidegate::QueueSubscriber;
using tidegate::Worker;

namespace {
// Pacing only compares identities: subscribers that are told nothing.
struct IdleSubscriber final : QueueSubscriber {
  void on_queue_event(const std::string&, std::uint64_t) override {}
  void shut_down_by_server() override {}
};
IdleSubscriber a_subscriber, b_subscriber;
const QueueSubscriber* a = &a_subscriber;
const QueueSubscriber* b = &b_subscriber;
}  // namespace

TEST_CASE("pacing: a reader waits until the last lagging connection catches up") {
  Worker w(0);
  CHECK_FALSE(w.has_lagging());
  w.set_lagging(a, true);
  w.set_lagging(b, true);
  w.set_lagging(a, true);  // idempotent
  CHECK(w.has_lagging());
  CHECK(w.is_lagging(a));

  bool woke = false;
  w.caught_up().async_wait([&](boost::system::error_code) { woke = true; });
  w.io().poll();
  CHECK_FALSE(woke);

  w.set_lagging(a, false);
  w.io().poll();
  CHECK_FALSE(woke);  // b still lags
  CHECK_FALSE(w.is_lagging(a));

  w.set_lagging(b, false);
  w.io().poll();
  CHECK(woke);
  CHECK_FALSE(w.has_lagging());
}

TEST_CASE("pacing: the wait is bounded while a connection keeps lagging") {
  Worker w(0);
  w.set_lagging(a, true);
  auto started = std::chrono::steady_clock::now();
  bool woke = false;
  w.caught_up().async_wait([&](boost::system::error_code) { woke = true; });
  w.io().run_one();  // the timer fires: nobody cancels it
  CHECK(woke);
  CHECK(std::chrono::steady_clock::now() - started >= Worker::kPacingWait);

  // Passed: the next wait is re-armed, not completed at once.
  woke = false;
  w.caught_up().async_wait([&](boost::system::error_code) { woke = true; });
  w.io().poll();
  CHECK_FALSE(woke);
  w.set_lagging(a, false);
  w.io().poll();
  CHECK(woke);
}

TEST_CASE("pacing: a lag is remembered after the connection caught up (small reads meanwhile)") {
  Worker w(0);
  CHECK_FALSE(w.lagged_recently());  // never lagged
  w.set_lagging(a, false);
  CHECK_FALSE(w.lagged_recently());  // catching up is not lagging
  w.set_lagging(a, true);
  w.set_lagging(a, false);
  CHECK_FALSE(w.has_lagging());
  CHECK(w.lagged_recently());  // within kPacingMemory (100 ms) of the lag
}
