#include <doctest/doctest.h>

#include <string>

#include "gateway/config/config.hpp"
#include "tests/unit/config_error_of.hpp"

using tidegate::ConfigError;
using tidegate::parse_config;

namespace {
std::string error_of(const std::string& json) { return config_error_of(json); }
}  // namespace

TEST_CASE("empty config gives the embedded defaults") {
  auto c = parse_config("{}");
  CHECK(c.data_dir == "./tidegate-data");
  REQUIRE(c.listeners.size() == 1);
  CHECK(c.listeners[0].port == 1883);
  CHECK_FALSE(c.allow_anonymous.has_value());  // loopback only
  CHECK_FALSE(c.fsync);
}

TEST_CASE("contract keys parse") {
  auto c = parse_config(R"({"data_dir": "/var/lib/tidegate", "durability": "fsync", "allow_anonymous": true,
    "max_keepalive": 60, "listeners": [{"protocol": "mqtt", "bind": "127.0.0.1", "port": 1884}],
    "acl_deny": [{"filter": "secret/#", "access": "subscribe"}]})");
  CHECK(c.fsync);
  CHECK(c.allow_anonymous == true);
  CHECK(c.max_keepalive == 60);
  CHECK(c.listeners[0].port == 1884);
  REQUIRE(c.acl_deny.size() == 1);
  CHECK(c.acl_deny[0].subscribe);
  CHECK_FALSE(c.acl_deny[0].publish);
}

TEST_CASE("bad config is refused with the key and the reason") {
  CHECK(error_of(R"({"dat_dir": "x"})") == "dat_dir: unknown key");
  CHECK(error_of(R"({"durability": "sometimes"})").starts_with("durability:"));
  CHECK(error_of(R"({"max_keepalive": -1})").starts_with("max_keepalive:"));
  CHECK(error_of(R"({"max_keepalive": 70000})").starts_with("max_keepalive:"));
  CHECK(error_of(R"({"listeners": [{"protocol": "mqtt"}]})") == "listeners[0].port: is required");
  CHECK(error_of(R"({"listeners": [{"protocol": "mqtt", "port": 1, "tls": true}]})") ==
        "listeners[0].tls: unknown key");
  CHECK(error_of(R"({"listeners": [{"protocol": "gopher", "port": 1}]})").starts_with("listeners[0].protocol:"));
  CHECK(error_of(R"({"acl_deny": [{"filter": "a/#/b"}]})").starts_with("acl_deny[0].filter:"));
  CHECK(error_of(R"({"allow_anonymous": "yes"})") == "allow_anonymous: must be true or false");
  CHECK(error_of("{not json").starts_with("config: not valid JSON"));
  // Keys of features this build does not have are refused, not ignored.
  CHECK(parse_config(R"({"bridges": []})").bridges.empty());
  CHECK(error_of(R"({"admin": {"port": 9883, "tokenfile": "x"}})") == "admin.tokenfile: unknown key");
  CHECK(error_of(R"({"password_file": "/nonexistent/passwd"})").empty());  // read when the broker starts
}

// Found by tests/fuzz/fuzz_config: nlohmann_json reports a number too large for
// a double as out_of_range, not parse_error, and it escaped parse_config.
TEST_CASE("a number beyond double range is refused as invalid JSON") {
  CHECK(error_of(R"({"max_packet_size": 1e400})").starts_with("config: not valid JSON"));
  CHECK(error_of("1e377777").starts_with("config: not valid JSON"));
  CHECK(error_of(R"({"workers": -1e999})").starts_with("config: not valid JSON"));
}

// Found by tests/fuzz/fuzz_config: an unknown key is echoed in the message, and
// a NUL in it ended the C string main prints, leaving "tidegate: bad config: ".
TEST_CASE("control characters of an unknown key are escaped in the message") {
  CHECK(error_of(R"({"\u0000x": 1})") == "\\u0000x: unknown key");
  CHECK(error_of(R"({"listeners": [{"port": 1, "a\u001b[2Jb": 1}]})") ==
        "listeners[0].a\\u001b[2Jb: unknown key");
}

TEST_CASE("log_format and log_file") {
  auto defaults = parse_config("{}");
  CHECK(defaults.log_format == "text");
  CHECK_FALSE(defaults.log_file.has_value());  // stderr

  auto c = parse_config(R"({"log_format": "json", "log_file": "/var/log/tidegate/tidegate.log"})");
  CHECK(c.log_format == "json");
  CHECK(c.log_file == "/var/log/tidegate/tidegate.log");
  CHECK(parse_config(R"({"log_format": "text"})").log_format == "text");
  // Opened when the gateway starts, not while parsing (as password_file).
  CHECK(error_of(R"({"log_file": "/nonexistent/dir/x.log"})").empty());

  CHECK(error_of(R"({"log_format": "JSON"})") == "log_format: must be \"text\" or \"json\"");
  CHECK(error_of(R"({"log_format": "logfmt"})") == "log_format: must be \"text\" or \"json\"");
  CHECK(error_of(R"({"log_format": 1})") == "log_format: must be a string");
  CHECK(error_of(R"({"log_file": ""})") == "log_file: must not be empty (leave the key out to log to stderr)");
  CHECK(error_of(R"({"log_file": "/var/log/"})") == "log_file: must name a file, not a directory");
  CHECK(error_of(R"({"log_file": true})") == "log_file: must be a string");
  CHECK(error_of(R"({"logfile": "x"})") == "logfile: unknown key");
}

TEST_CASE("max_store_bytes that retention cannot keep the store under is refused") {
  // The default retention_bytes (1 GiB) in a 1 MiB store: it would fill with
  // acknowledged messages and refuse every QoS 1/2 publish.
  CHECK(config_error_of(R"({"max_store_bytes": 1048576})").starts_with("retention_bytes: must be between 1 and half"));
  CHECK(config_error_of(R"({"max_store_bytes": 1048576, "retention_bytes": 0})").starts_with("retention_bytes:"));
  CHECK(config_error_of(R"({"max_store_bytes": 1048576, "retention_bytes": 524288})")
            .starts_with("max_retained_bytes: retention_bytes + max_retained_bytes"));
  CHECK(config_error_of(R"({"max_store_bytes": 1048576, "retention_bytes": 524288, "max_retained_bytes": 262144})")
            .empty());
  CHECK(config_error_of(R"({"retention_bytes": 0})").empty());  // no cap: the disk is the bound
}

TEST_CASE("sessions are bound to their identity unless the config says otherwise") {
  CHECK(parse_config("{}").bind_sessions_to_identity);
  CHECK_FALSE(parse_config(R"({"bind_sessions_to_identity": false})").bind_sessions_to_identity);
  CHECK(config_error_of(R"({"bind_sessions_to_identity": 1})") == "bind_sessions_to_identity: must be true or false");
}

TEST_CASE("tcp_nodelay is on unless the config turns Nagle's algorithm on") {
  CHECK(parse_config("{}").tcp_nodelay);
  CHECK_FALSE(parse_config(R"({"tcp_nodelay": false})").tcp_nodelay);
  CHECK_THROWS_AS(parse_config(R"({"tcp_nodelay": "no"})"), tidegate::ConfigError);
}

TEST_CASE("the linger of a closing connection: close_linger_ms and close_linger_max_bytes") {
  auto defaults = parse_config("{}");
  CHECK(defaults.close_linger_ms == 2000);
  CHECK(defaults.close_linger_max_bytes == (1u << 20));
  auto c = parse_config(R"({"close_linger_ms": 500, "close_linger_max_bytes": 0})");
  CHECK(c.close_linger_ms == 500);
  CHECK(c.close_linger_max_bytes == 0);  // no linger
  CHECK_THROWS_AS(parse_config(R"({"close_linger_ms": 50})"), tidegate::ConfigError);  // would cut the flush short
  CHECK_THROWS_AS(parse_config(R"({"close_linger_ms": 60001})"), tidegate::ConfigError);
  CHECK_THROWS_AS(parse_config(R"({"close_linger_max_bytes": -1})"), tidegate::ConfigError);
}

#ifdef TIDEGATE_CLUSTER
TEST_CASE("the cluster section parses, with the lookup on by default") {
  auto c = parse_config(R"({"cluster": {"node": "gw-1", "nats": ["nats://10.0.0.1:4222"], "replicas": 3}})");
  REQUIRE(c.cluster);
  CHECK(c.cluster->node == "gw-1");
  CHECK(c.cluster->replicas == 3);
  CHECK(c.cluster->lookup);
  CHECK(c.cluster->lookup_bind == "127.0.0.1");
  CHECK_THROWS_AS(parse_config(R"({"cluster": {"node": "a.b", "nats": ["nats://x:1"]}})"), tidegate::ConfigError);
  CHECK_THROWS_AS(parse_config(R"({"cluster": {"node": "a", "nats": ["nats://x:1"], "replicas": 2}})"),
                  tidegate::ConfigError);
  CHECK_THROWS_AS(parse_config(R"({"cluster": {"node": "a", "nats": ["http://x:1"]}})"), tidegate::ConfigError);
  CHECK(c.cluster->max_handover_bytes == 64u << 20);
  CHECK(parse_config(R"({"cluster": {"node": "a", "nats": ["nats://x:1"], "max_handover_bytes": 65536}})")
            .cluster->max_handover_bytes == 65536);
  CHECK(config_error_of(R"({"cluster": {"node": "a", "nats": ["nats://x:1"], "max_handover_bytes": 100}})")
            .find("cluster.max_handover_bytes") != std::string::npos);
}
#endif
