// Deadlines: one timer per worker for its connections' deadlines.
#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <vector>

#include "gateway/pipeline/deadlines.hpp"

using namespace tidegate;
using namespace std::chrono_literals;

namespace {

struct Recorder : DeadlineOwner {
  std::vector<int>& log;
  int id;
  Deadline deadline{*this};
  std::function<void(Deadline&)> then;
  Recorder(std::vector<int>& l, int i) : log(l), id(i) {}
  void deadline_passed(Deadline& d) override {
    CHECK(&d == &deadline);
    CHECK_FALSE(d.armed());  // disarmed before its owner hears of it
    log.push_back(id);
    if (then) then(d);
  }
};

}  // namespace

TEST_CASE("deadlines pass in time order, whatever order they were armed in") {
  boost::asio::io_context io;
  Deadlines deadlines(io);
  std::vector<int> log;
  Recorder a(log, 1), b(log, 2), c(log, 3);
  const auto now = Deadline::Clock::now();
  deadlines.arm(c.deadline, now + 30ms);
  deadlines.arm(a.deadline, now + 10ms);
  deadlines.arm(b.deadline, now + 20ms);
  io.run();  // returns once nothing is armed
  CHECK(log == std::vector<int>{1, 2, 3});
  CHECK(Deadline::Clock::now() >= now + 30ms);
}

TEST_CASE("a re-armed deadline passes once, at its new time; a cancelled one never") {
  boost::asio::io_context io;
  Deadlines deadlines(io);
  std::vector<int> log;
  Recorder a(log, 1), b(log, 2);
  const auto now = Deadline::Clock::now();
  deadlines.arm(a.deadline, now + 5ms);
  deadlines.arm(b.deadline, now + 10ms);
  deadlines.arm(a.deadline, now + 20ms);  // later than b now
  io.run();
  CHECK(log == std::vector<int>{2, 1});

  log.clear();
  deadlines.arm(a.deadline, Deadline::Clock::now() + 5ms);
  deadlines.cancel(a.deadline);
  CHECK_FALSE(a.deadline.armed());
  io.restart();
  io.run();  // the timer stopped with the last deadline: nothing to wait for
  CHECK(log.empty());
}

TEST_CASE("a cancelled far deadline leaves no work behind: the io_context can finish") {
  boost::asio::io_context io;
  Deadlines deadlines(io);
  std::vector<int> log;
  Recorder a(log, 1);
  deadlines.arm(a.deadline, Deadline::Clock::now() + 1h);
  deadlines.cancel(a.deadline);
  const auto started = Deadline::Clock::now();
  io.run();
  CHECK(Deadline::Clock::now() - started < 1s);
  CHECK(log.empty());
}

TEST_CASE("an owner may arm again from its own deadline, and a destroyed owner is never called") {
  boost::asio::io_context io;
  Deadlines deadlines(io);
  std::vector<int> log;
  Recorder a(log, 1);
  int rounds = 0;
  a.then = [&](Deadline& d) {
    if (++rounds < 3) deadlines.arm(d, Deadline::Clock::now() + 1ms);
  };
  deadlines.arm(a.deadline, Deadline::Clock::now() + 1ms);
  {
    Recorder gone(log, 2);
    deadlines.arm(gone.deadline, Deadline::Clock::now() + 2ms);
  }  // destroyed while armed: it leaves the set by itself
  io.run();
  CHECK(log == std::vector<int>{1, 1, 1});
}
