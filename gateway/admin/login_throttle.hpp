#pragma once
// Bounds guessing at the console's login: at most `per_minute` refused logins
// in a minute, from anyone; beyond, every login (right or wrong) is answered
// 429 until the minute is over, and only the first of those is logged, so
// neither the token nor the log can be flooded. Main thread only.
#include <chrono>
#include <cstddef>

namespace tidegate::admin {

class LoginThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  explicit LoginThrottle(std::size_t per_minute) : per_minute_(per_minute) {}

  // Seconds to wait when logins are throttled now; 0 when one may be tried.
  long long wait_seconds(Clock::time_point now = Clock::now()) {
    roll(now);
    if (refused_ < per_minute_) return 0;
    return std::chrono::ceil<std::chrono::seconds>(window_start_ + std::chrono::minutes(1) - now).count();
  }
  // A login was refused; true when it is the one that starts the throttling.
  bool refused(Clock::time_point now = Clock::now()) {
    roll(now);
    return ++refused_ == per_minute_;
  }

 private:
  void roll(Clock::time_point now) {
    if (now - window_start_ >= std::chrono::minutes(1)) window_start_ = now, refused_ = 0;
  }
  std::size_t per_minute_;
  std::size_t refused_ = 0;
  Clock::time_point window_start_{};
};

}  // namespace tidegate::admin
