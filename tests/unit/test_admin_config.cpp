// The "admin" section of the config and the host names the admin API compares
// (docs/security.md, "Admin API").
#include <doctest/doctest.h>

#include <string>

#include "gateway/admin/host_name.hpp"
#include "gateway/config/config.hpp"
#include "tests/unit/config_error_of.hpp"

using tidegate::parse_config;
using tidegate::admin::parse_host_header;
using tidegate::admin::parse_host_name;
using tidegate::admin::parse_origin;

TEST_CASE("admin config: the new keys parse") {
  auto c = parse_config(R"({"admin": {"bind": "127.0.0.1", "token_file": "/t", "read_token_file": "/r",
    "allowed_hosts": ["GW1.Plant.Local", "10.0.0.5", "[::1]"]}})");
  CHECK(c.admin.read_token_file == "/r");
  CHECK(c.admin.allowed_hosts == std::vector<std::string>{"gw1.plant.local", "10.0.0.5", "::1"});
  CHECK_FALSE(c.admin.allow_insecure_remote);
}

TEST_CASE("admin config: a non-loopback bind needs a token or the explicit insecure setting") {
  CHECK(config_error_of(R"({"admin": {"bind": "0.0.0.0"}})").starts_with(
      "admin.bind: 0.0.0.0 is reachable from other hosts and admin.token_file is not set"));
  CHECK(config_error_of(R"({"admin": {"bind": "::"}})").starts_with("admin.bind: :: is reachable"));
  CHECK(config_error_of(R"({"admin": {"bind": "::ffff:10.0.0.1"}})").starts_with("admin.bind: ::ffff:10.0.0.1 is"));
  CHECK(config_error_of(R"({"admin": {"bind": "0.0.0.0", "token_file": "/t"}})") == "");
  CHECK(config_error_of(R"({"admin": {"bind": "0.0.0.0", "allow_insecure_remote": true}})") == "");
  CHECK(config_error_of(R"({"admin": {"bind": "127.0.0.2"}})") == "");
  CHECK(config_error_of(R"({"admin": {"bind": "::1"}})") == "");
  CHECK(config_error_of(R"({"admin": {"bind": "::ffff:127.0.0.1"}})") == "");
  CHECK(config_error_of(R"({"admin": {"bind": "localhost"}})") == "admin.bind: not an IP address: 'localhost'");
}

TEST_CASE("admin config: bad values name the key") {
  CHECK(config_error_of(R"({"admin": {"read_token_file": "/r"}})").starts_with(
      "admin.read_token_file: needs admin.token_file"));
  CHECK(config_error_of(R"({"admin": {"allowed_hosts": "gw1"}})").starts_with("admin.allowed_hosts: must be an array"));
  CHECK(config_error_of(R"({"admin": {"allowed_hosts": ["gw1", "http://gw2"]}})") ==
        "admin.allowed_hosts[1]: 'http://gw2' is not a host name or an IP address (no port, no scheme)");
  CHECK(config_error_of(R"({"admin": {"allowed_hosts": ["gw1:9883"]}})").starts_with("admin.allowed_hosts[0]: "));
  CHECK(config_error_of(R"({"admin": {"allowed_hosts": [7]}})") == "admin.allowed_hosts[0]: must be a string");
  CHECK(config_error_of(R"({"admin": {"allow_insecure_remote": "yes"}})") ==
        "admin.allow_insecure_remote: must be true or false");
}

TEST_CASE("admin host names: Host headers") {
  CHECK(parse_host_header("127.0.0.1:9883")->ip->to_string() == "127.0.0.1");
  CHECK(parse_host_header("[::1]:9883")->ip->to_string() == "::1");
  CHECK(parse_host_header("[::ffff:127.0.0.1]")->ip->to_string() == "127.0.0.1");
  CHECK(parse_host_header("LocalHost.:80")->name == "localhost");
  CHECK_FALSE(parse_host_header("::1"));                   // an IPv6 literal needs brackets
  CHECK_FALSE(parse_host_header("host:"));
  CHECK_FALSE(parse_host_header("host:99999x"));
  CHECK_FALSE(parse_host_header("a b"));
  CHECK_FALSE(parse_host_header(""));
  CHECK_FALSE(parse_host_header("[::1"));
  CHECK_FALSE(parse_host_header("user@host"));
  CHECK_FALSE(parse_host_header("a..b"));
}

TEST_CASE("admin host names: Origin headers") {
  CHECK(parse_origin("http://127.0.0.1:9883")->host.ip->to_string() == "127.0.0.1");
  CHECK(parse_origin("http://127.0.0.1:9883")->port == 9883);
  CHECK(parse_origin("http://[::1]")->port == 80);
  CHECK(parse_origin("http://[::1]:8080")->port == 8080);
  CHECK(parse_origin("HTTPS://gw1")->host.name == "gw1");
  CHECK(parse_origin("HTTPS://gw1")->port == 443);
  CHECK_FALSE(parse_origin("http://gw1:0"));
  CHECK_FALSE(parse_origin("http://gw1:70000"));
  CHECK_FALSE(parse_origin("null"));
  CHECK_FALSE(parse_origin("file://"));
  CHECK_FALSE(parse_origin("http://gw1/path"));
  CHECK_FALSE(parse_origin("ftp://gw1"));
  CHECK(parse_host_name("10.0.0.5") == parse_host_header("10.0.0.5:1"));
}
