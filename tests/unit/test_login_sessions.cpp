// The console's logins (gateway/admin/login_sessions.hpp) and the cookie
// they travel in (cookie_value in admin_access.hpp).
#include <doctest/doctest.h>

#include <set>

#include "gateway/admin/admin_access.hpp"
#include "gateway/admin/login_sessions.hpp"

using namespace tidegate::admin;
using namespace std::chrono_literals;

TEST_CASE("a login is a random 64-hex-digit id with its role") {
  LoginSessions logins(8, 1h);
  std::set<std::string> ids;
  for (int i = 0; i < 8; ++i) ids.insert(logins.open(i % 2 ? Role::read : Role::admin));
  CHECK(ids.size() == 8);
  for (const auto& id : ids) {
    CHECK(id.size() == 64);
    CHECK(id.find_first_not_of("0123456789abcdef") == std::string::npos);
  }
  auto admin = logins.open(Role::admin);
  CHECK(logins.find(admin) == Role::admin);
  CHECK_FALSE(logins.find("not-an-id").has_value());
  CHECK_FALSE(logins.find("").has_value());
}

TEST_CASE("beyond the limit, the least recently used login ends") {
  LoginSessions logins(2, 1h);
  auto t0 = LoginSessions::Clock::now();
  auto first = logins.open(Role::admin, t0);
  auto second = logins.open(Role::admin, t0 + 1s);
  CHECK(logins.find(first, t0 + 2s) == Role::admin);  // first is now the more recent
  auto third = logins.open(Role::admin, t0 + 3s);
  CHECK(logins.size() == 2);
  CHECK_FALSE(logins.find(second, t0 + 4s).has_value());
  CHECK(logins.find(first, t0 + 4s) == Role::admin);
  CHECK(logins.find(third, t0 + 4s) == Role::admin);
}

TEST_CASE("read-only logins beyond the limit push out read-only ones, not the operators'") {
  std::atomic<std::int64_t> gauge{0};
  LoginSessions logins(3, 1h, &gauge);
  auto t0 = LoginSessions::Clock::now();
  auto admin = logins.open(Role::admin, t0);
  for (int i = 1; i <= 10; ++i) logins.open(Role::read, t0 + std::chrono::seconds(i));
  CHECK(logins.find(admin, t0 + 20s) == Role::admin);
  CHECK(gauge == 3);
  // An admin login when every held one is read-only: the oldest read-only goes.
  LoginSessions readers(2, 1h);
  auto r1 = readers.open(Role::read, t0);
  auto r2 = readers.open(Role::read, t0 + 1s);
  auto a = readers.open(Role::admin, t0 + 2s);
  CHECK_FALSE(readers.find(r1, t0 + 3s).has_value());
  CHECK(readers.find(r2, t0 + 3s) == Role::read);
  CHECK(readers.find(a, t0 + 3s) == Role::admin);
}

TEST_CASE("a login unused for the idle time ends; use keeps it") {
  LoginSessions logins(4, 10s);
  auto t0 = LoginSessions::Clock::now();
  auto kept = logins.open(Role::admin, t0);
  auto idle = logins.open(Role::admin, t0);
  CHECK(logins.find(kept, t0 + 8s).has_value());
  CHECK(logins.find(kept, t0 + 16s).has_value());
  CHECK_FALSE(logins.find(idle, t0 + 16s).has_value());
  CHECK(logins.size() == 1);
  logins.close(kept);
  CHECK(logins.size() == 0);
}

TEST_CASE("the cookie is found among others, by its exact name") {
  Request r;
  r.set(boost::beast::http::field::cookie, "theme=dark; tidegate_session_old=x; tidegate_session=abc123; z=1");
  CHECK(cookie_value(r, "tidegate_session") == "abc123");
  CHECK(cookie_value(r, "theme") == "dark");
  CHECK(cookie_value(r, "missing").empty());
  Request none;
  CHECK(cookie_value(none, "tidegate_session").empty());
}
