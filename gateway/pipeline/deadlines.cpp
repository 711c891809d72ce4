// One timer per worker for its connections' deadlines. Worker thread only.
#include "gateway/pipeline/deadlines.hpp"

namespace tidegate {

void Deadlines::arm(Deadline& deadline, Deadline::Clock::time_point at) {
  deadline.hook_.unlink();
  deadline.at_ = at;
  armed_.insert(deadline);
  if (at < timer_at_) wait_until(at);
}

void Deadlines::cancel(Deadline& deadline) {
  deadline.hook_.unlink();
  if (!armed_.empty() || timer_at_ == Deadline::Clock::time_point::max()) return;
  timer_at_ = Deadline::Clock::time_point::max();
  timer_.cancel();
}

void Deadlines::wait_until(Deadline::Clock::time_point at) {
  timer_at_ = at;
  // Moving the expiry aborts the earlier wait; its handler does nothing.
  timer_.expires_at(at);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) fire();
  });
}

void Deadlines::fire() {
  timer_at_ = Deadline::Clock::time_point::max();
  // Waits for the next one however this ends: an owner that throws (the
  // worker logs it and goes on) must not leave the others unwatched.
  struct WaitForNext {
    Deadlines& d;
    ~WaitForNext() {
      if (!d.armed_.empty() && d.armed_.begin()->at_ < d.timer_at_) d.wait_until(d.armed_.begin()->at_);
    }
  } wait_for_next{*this};
  const auto now = Deadline::Clock::now();
  // Each one is unlinked before its owner hears of it: the owner may arm it
  // again, arm others, or be destroyed.
  while (!armed_.empty() && armed_.begin()->at_ <= now) {
    Deadline& due = *armed_.begin();
    armed_.erase(armed_.begin());
    due.owner_.deadline_passed(due);
  }
}

}  // namespace tidegate
