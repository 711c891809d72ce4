#include <doctest/doctest.h>

#include <string>

#include "gateway/bridge/bridge_rules.hpp"
#include "gateway/config/config.hpp"
#include "tests/unit/config_error_of.hpp"

using tidegate::BridgeRule;
using tidegate::map_topic;
using tidegate::parse_config;

namespace {
std::string error_of(const std::string& json) { return config_error_of(json); }
std::string bridges(const std::string& one) { return R"({"bridges": [)" + one + "]}"; }
}  // namespace

TEST_CASE("a bridge as docs/bridge.md writes it parses") {
  auto c = parse_config(R"({"bridges": [
    {"name": "cloud", "address": "broker.example.com:8883",
     "tls": {"ca": "cloud-ca.crt", "cert": "box.crt", "key": "box.key"},
     "client_id": "edge-box-17", "protocol_version": 5,
     "out": [{"filter": "sensors/#", "remote_prefix": "site17/", "qos": 1}],
     "in":  [{"filter": "site17/commands/#", "local_prefix": "", "strip_prefix": "site17/", "qos": 1}]}]})");
  REQUIRE(c.bridges.size() == 1);
  const auto& b = c.bridges[0];
  CHECK(b.host == "broker.example.com");
  CHECK(b.port == 8883);
  CHECK(b.protocol_version == 5);
  CHECK(b.client_id == "edge-box-17");
  CHECK(b.local_client_id() == "$bridge/cloud");
  REQUIRE(b.tls.has_value());
  CHECK(*b.tls->cert == "box.crt");
  CHECK(b.out.at(0).add_prefix == "site17/");
  CHECK(b.in.at(0).strip_prefix == "site17/");
}

TEST_CASE("defaults of a bridge") {
  auto c = parse_config(bridges(R"({"name": "b", "address": "[::1]:1883", "out": [{"filter": "a/#"}]})"));
  const auto& b = c.bridges.at(0);
  CHECK(b.host == "::1");
  CHECK(b.protocol_version == 4);
  CHECK(b.client_id == "tidegate-b");
  CHECK(b.keep_alive == 60);
  CHECK(b.out.at(0).qos == 1);
  CHECK_FALSE(b.tls.has_value());
}

TEST_CASE("bad bridges are refused with the key and the reason") {
  CHECK(error_of(R"({"bridges": {}})") == "bridges: must be an array");
  CHECK(error_of(bridges(R"({"address": "h:1", "out": [{"filter": "a"}]})")) == "bridges[0].name: is required");
  CHECK(error_of(bridges(R"({"name": "a b", "address": "h:1", "out": [{"filter": "a"}]})"))
            .starts_with("bridges[0].name: must be"));
  CHECK(error_of(bridges(R"({"name": "b", "address": "nowhere", "out": [{"filter": "a"}]})")) ==
        "bridges[0].address: must be host:port");
  CHECK(error_of(bridges(R"({"name": "b", "address": "h:99999", "out": [{"filter": "a"}]})")) ==
        "bridges[0].address: port must be a number from 1 to 65535");
  CHECK(error_of(bridges(R"({"name": "b", "address": "h:1", "protocol_version": 3, "out": [{"filter": "a"}]})")) ==
        "bridges[0].protocol_version: must be between 4 and 5");
  CHECK(error_of(bridges(R"({"name": "b", "address": "h:1"})")) ==
        "bridges[0]: needs at least one rule in \"out\" or \"in\"");
  CHECK(error_of(bridges(R"({"name": "b", "address": "h:1", "out": [{"filter": "a/#/b"}]})"))
            .starts_with("bridges[0].out[0].filter: is not a valid topic filter"));
  CHECK(error_of(bridges(R"({"name": "b", "address": "h:1", "out": [{"filter": "a", "qos": 3}]})")) ==
        "bridges[0].out[0].qos: must be between 0 and 2");
  CHECK(error_of(bridges(R"({"name": "b", "address": "h:1", "out": [{"filter": "a", "remote_prefix": "x/+/"}]})")) ==
        "bridges[0].out[0].remote_prefix: must not contain wildcards");
  CHECK(error_of(bridges(R"({"name": "b", "address": "h:1", "in": [{"filter": "a", "remote_prefix": "x/"}]})")) ==
        "bridges[0].in[0].remote_prefix: unknown key");
  CHECK(error_of(bridges(R"({"name": "b", "address": "h:1", "tls": {"cert": "c"}, "out": [{"filter": "a"}]})")) ==
        "bridges[0].tls.key: is required with cert");
  CHECK(error_of(bridges(R"({"name": "b", "address": "h:1", "reconnect_min_ms": 500, "reconnect_max_ms": 100,
                             "out": [{"filter": "a"}]})")) ==
        "bridges[0].reconnect_max_ms: must not be less than reconnect_min_ms");
  CHECK(error_of(R"({"bridges": [{"name": "b", "address": "h:1", "out": [{"filter": "a"}]},
                                 {"name": "b", "address": "h:2", "out": [{"filter": "a"}]}]})") ==
        "bridges[1].name: 'b' is used twice");
}

TEST_CASE("topics map through the first matching rule") {
  std::vector<BridgeRule> rules{{"site17/commands/#", "site17/", "", 1}, {"sensors/#", "", "site17/", 1}};
  CHECK(map_topic(rules, "site17/commands/reboot") == "commands/reboot");
  CHECK(map_topic(rules, "sensors/t") == "site17/sensors/t");
  CHECK_FALSE(map_topic(rules, "other/t").has_value());
  // A topic that does not start with strip_prefix keeps it all.
  std::vector<BridgeRule> loose{{"#", "cloud/", "edge/", 0}};
  CHECK(map_topic(loose, "cloud/x") == "edge/x");
  CHECK(map_topic(loose, "x") == "edge/x");
  // Stripping everything leaves no valid topic name: not mapped.
  std::vector<BridgeRule> whole{{"a/b", "a/b", "", 0}};
  CHECK_FALSE(map_topic(whole, "a/b").has_value());
}
