#include <doctest/doctest.h>

#include "gateway/auth/auth_http.hpp"
#include "gateway/config/config.hpp"
#include "tests/unit/config_error_of.hpp"

using tidegate::AuthHttp;
using tidegate::parse_config;

TEST_CASE("the HTTP hook's answers") {
  auto allow = AuthHttp::parse_answer(R"({"result": "allow"})");
  REQUIRE(allow);
  CHECK(allow->decision == TIDEGATE_ALLOW);
  CHECK_FALSE(allow->acl_given);
  CHECK(AuthHttp::parse_answer(R"({"result": "deny"})")->decision == TIDEGATE_DENY);
  CHECK(AuthHttp::parse_answer(R"({"result": "ignore"})")->decision == TIDEGATE_IGNORE);

  auto rules = AuthHttp::parse_answer(R"({"result": "allow", "acl": [
      {"permission": "allow", "action": "publish", "topic": "a/#"},
      {"permission": "deny", "topic": "#"}]})");
  REQUIRE(rules);
  REQUIRE(rules->acl.size() == 2);
  CHECK(rules->acl[0].allow);
  CHECK(rules->acl[0].access == TIDEGATE_ACCESS_PUBLISH);
  CHECK_FALSE(rules->acl[1].allow);
  CHECK(rules->acl[1].access == (TIDEGATE_ACCESS_PUBLISH | TIDEGATE_ACCESS_SUBSCRIBE | TIDEGATE_ACCESS_READ));

  // Anything else is a failure (the on_error policy decides), never a guess.
  for (const char* bad : {"", "null", "[]", R"({"result": "yes"})", R"({"result": true})", R"({"allow": true})",
                          R"({"result": "allow", "acl": {}})", R"({"result": "allow", "acl": [{"topic": 1}]})",
                          R"({"result": "allow", "acl": [{"topic": "a", "action": "read"}]})",
                          R"({"result": "allow", "acl": [{"topic": "a", "permission": "maybe"}]})"})
    CHECK_MESSAGE(!AuthHttp::parse_answer(bad), bad);
}

TEST_CASE("auth_http and plugins config") {
  auto c = parse_config(R"({"auth_http": {"url": "http://127.0.0.1:8080/mqtt/auth", "timeout_ms": 500,
                                          "cache_seconds": 0, "on_error": "allow"},
                            "plugins": [{"path": "/x.so", "options": {"a": "b"}}]})");
  REQUIRE(c.auth_http);
  CHECK(c.auth_http->host == "127.0.0.1");
  CHECK(c.auth_http->port == "8080");
  CHECK(c.auth_http->target == "/mqtt/auth");
  CHECK(c.auth_http->timeout_ms == 500);
  CHECK(c.auth_http->fail_open);
  REQUIRE(c.plugins.size() == 1);
  CHECK(c.plugins[0].options_json == R"({"a":"b"})");
  auto plain = parse_config(R"({"auth_http": {"url": "http://auth"}})");
  CHECK(plain.auth_http->port == "80");
  CHECK(plain.auth_http->target == "/");
  CHECK_FALSE(plain.auth_http->fail_open);

  CHECK(config_error_of(R"({"auth_http": {}})") == "auth_http.url: is required");
  CHECK(config_error_of(R"({"auth_http": {"url": "http://h:0/"}})") == "auth_http.url: port must be a number from 1 to 65535");
  CHECK(config_error_of(R"({"auth_http": {"url": "http://h/", "timeout_ms": 1}})") ==
        "auth_http.timeout_ms: must be between 10 and 60000");
  CHECK(config_error_of(R"({"auth_http": {"url": "http://h/", "x": 1}})") == "auth_http.x: unknown key");
  CHECK(config_error_of(R"({"plugins": [{}]})") == "plugins[0].path: is required");
  CHECK(config_error_of(R"({"plugins": [{"path": "a.so", "opts": 1}]})") == "plugins[0].opts: unknown key");
}
