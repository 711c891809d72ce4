#pragma once
// The deadlines of a worker's connections (the CONNECT and session deadline,
// keep alive, the close linger) on one Asio timer per worker. A connection
// embeds a Deadline (40 bytes, no allocation) instead of owning a timer of
// its own (120 bytes each, and a pending operation while armed), which is
// most of what an idle connection costs beyond its socket
// (docs/benchmarks.md, "Against FlashMQ"). Worker thread only.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/set.hpp>
#include <chrono>

namespace tidegate {

class Deadline;

class DeadlineOwner {
 public:
  // `deadline` passed and is disarmed (arm it again to wait more).
  virtual void deadline_passed(Deadline& deadline) = 0;

 protected:
  ~DeadlineOwner() = default;
};

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Deadline(DeadlineOwner& owner) : owner_(owner) {}
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  bool armed() const { return hook_.is_linked(); }

 private:
  friend class Deadlines;
  using Hook = boost::intrusive::set_member_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;
  Hook hook_;
  Clock::time_point at_{};
  DeadlineOwner& owner_;
};

class Deadlines {
 public:
  explicit Deadlines(boost::asio::io_context& io) : timer_(io) {}
  Deadlines(const Deadlines&) = delete;
  Deadlines& operator=(const Deadlines&) = delete;

  // (Re)arms `deadline` for `at`: its owner hears of it then, unless it was
  // cancelled, re-armed or destroyed before.
  void arm(Deadline& deadline, Deadline::Clock::time_point at);
  // Disarms it. With none armed the timer stops too, so that a worker being
  // stopped has no work left once its connections are gone. (A Deadline
  // destroyed while armed leaves the set by itself.)
  void cancel(Deadline& deadline);

 private:
  struct Earlier {
    bool operator()(const Deadline& a, const Deadline& b) const { return a.at_ < b.at_; }
  };
  using Set = boost::intrusive::multiset<Deadline, boost::intrusive::member_hook<Deadline, Deadline::Hook, &Deadline::hook_>,
                                         boost::intrusive::compare<Earlier>, boost::intrusive::constant_time_size<false>>;
  void wait_until(Deadline::Clock::time_point at);
  void fire();

  Set armed_;
  boost::asio::steady_timer timer_;
  // When timer_ fires; max() while it waits for nothing.
  Deadline::Clock::time_point timer_at_ = Deadline::Clock::time_point::max();
};

}  // namespace tidegate
