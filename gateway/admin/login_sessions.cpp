#include "gateway/admin/login_sessions.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

namespace tidegate::admin {

std::string LoginSessions::open(Role role, Clock::time_point now) {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("console login: no random bytes from OpenSSL");
  static const char digits[] = "0123456789abcdef";
  std::string id;
  for (unsigned char b : bytes) {
    id += digits[b >> 4];
    id += digits[b & 15];
  }
  if (logins_.size() >= max_) {
    // Least recently used first, those of the same role before the others.
    auto oldest = std::min_element(logins_.begin(), logins_.end(), [role](const auto& a, const auto& b) {
      bool a_other = a.second.role != role, b_other = b.second.role != role;
      return a_other != b_other ? b_other : a.second.last_used < b.second.last_used;
    });
    logins_.erase(oldest);
  }
  logins_.emplace(id, Login{role, now});
  changed();
  return id;
}

std::optional<Role> LoginSessions::find(std::string_view id, Clock::time_point now) {
  auto it = logins_.find(id);
  if (it == logins_.end()) return std::nullopt;
  if (now - it->second.last_used > idle_) {
    logins_.erase(it);
    changed();
    return std::nullopt;
  }
  it->second.last_used = now;
  return it->second.role;
}

void LoginSessions::close(std::string_view id) {
  if (auto it = logins_.find(id); it != logins_.end()) logins_.erase(it);
  changed();
}

void LoginSessions::changed() {
  if (gauge_) gauge_->store(static_cast<std::int64_t>(logins_.size()), std::memory_order_relaxed);
}

}  // namespace tidegate::admin
