#pragma once
// Browser logins to the admin listener (the console): an admin or read-only token given once to
// POST /api/v1/login becomes a random session id in an HttpOnly,
// SameSite=Strict cookie (docs/console.md), so the token never sits in the
// page, a URL or browser storage. Bounded: at most `max` logins; a new one
// beyond ends the least recently used of its own role when there is one (so
// read-only logins cannot push out the operators'), else of the other. A
// login unused for `idle` ends.
// Main thread only.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace tidegate::admin {

// stream: the streams' token (admin.stream_token_file), never a console login.
enum class Role { admin, read, stream };
inline const char* to_string(Role r) { return r == Role::admin ? "admin" : r == Role::read ? "read" : "stream"; }

class LoginSessions {
 public:
  using Clock = std::chrono::steady_clock;
  // gauge: set to size() after every change (tidegate_admin_logins); may be null.
  LoginSessions(std::size_t max, std::chrono::seconds idle, std::atomic<std::int64_t>* gauge = nullptr)
      : max_(max ? max : 1), idle_(idle), gauge_(gauge) {}

  // A new login's session id: 32 random bytes from OpenSSL, as hex.
  std::string open(Role role, Clock::time_point now = Clock::now());
  // The role of a session id still valid (its idle time starts again); nullopt otherwise.
  std::optional<Role> find(std::string_view id, Clock::time_point now = Clock::now());
  void close(std::string_view id);
  std::size_t size() const { return logins_.size(); }
  std::chrono::seconds idle() const { return idle_; }

 private:
  struct Login {
    Role role;
    Clock::time_point last_used;
  };
  void changed();

  std::size_t max_;
  std::chrono::seconds idle_;
  std::atomic<std::int64_t>* gauge_;
  std::map<std::string, Login, std::less<>> logins_;
};

}  // namespace tidegate::admin
