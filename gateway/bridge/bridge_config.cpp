#include "gateway/bridge/bridge_config.hpp"

#include <set>

#include "gateway/codec/utf8.hpp"
#include "gateway/config/config_json.hpp"

namespace tidegate {
namespace {

using namespace config_json;

std::vector<BridgeRule> parse_rules(const json& j, const std::string& where, const char* add_key) {
  if (!j.is_array()) fail(where, "must be an array");
  std::vector<BridgeRule> rules;
  for (std::size_t i = 0; i < j.size(); ++i) {
    std::string at = where + "[" + std::to_string(i) + "]";
    const auto& r = j[i];
    if (!r.is_object()) fail(at, "must be an object");
    refuse_unknown(r, at + ".", {"filter", "strip_prefix", add_key, "qos"});
    BridgeRule rule;
    if (!r.contains("filter")) fail(at + ".filter", "is required");
    rule.filter = get_string(r["filter"], at + ".filter");
    if (!mqtt::valid_topic_filter(rule.filter) || rule.filter.starts_with("$share/"))
      fail(at + ".filter", "is not a valid topic filter (shared subscriptions cannot be bridged)");
    if (r.contains("strip_prefix")) rule.strip_prefix = get_string(r["strip_prefix"], at + ".strip_prefix");
    if (r.contains(add_key)) {
      rule.add_prefix = get_string(r[add_key], at + "." + add_key);
      if (rule.add_prefix.find_first_of("+#") != std::string::npos)
        fail(at + "." + add_key, "must not contain wildcards");
    }
    if (r.contains("qos")) rule.qos = get_uint<std::uint8_t>(r["qos"], at + ".qos", 0, 2);
    rules.push_back(std::move(rule));
  }
  return rules;
}

BridgeConfig parse_bridge(const json& j, const std::string& where) {
  if (!j.is_object()) fail(where, "must be an object");
  refuse_unknown(j, where + ".", {"name", "address", "protocol_version", "client_id", "username", "password", "tls",
                                  "keep_alive", "session_expiry", "reconnect_min_ms", "reconnect_max_ms", "out", "in"});
  BridgeConfig b;
  if (!j.contains("name")) fail(where + ".name", "is required");
  b.name = get_name(j["name"], where + ".name");
  if (!j.contains("address")) fail(where + ".address", "is required");
  std::string address = get_string(j["address"], where + ".address");
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size())
    fail(where + ".address", "must be host:port");
  b.host = address.substr(0, colon);
  if (b.host.size() > 2 && b.host.front() == '[' && b.host.back() == ']') b.host = b.host.substr(1, b.host.size() - 2);
  try {
    std::size_t used = 0;
    unsigned long port = std::stoul(address.substr(colon + 1), &used);
    if (used != address.size() - colon - 1 || port == 0 || port > 65535) throw std::out_of_range("port");
    b.port = static_cast<std::uint16_t>(port);
  } catch (const std::exception&) {
    fail(where + ".address", "port must be a number from 1 to 65535");
  }
  if (j.contains("protocol_version")) {
    b.protocol_version = get_uint<int>(j["protocol_version"], where + ".protocol_version", 4, 5);
  }
  b.client_id = j.contains("client_id") ? get_string(j["client_id"], where + ".client_id") : "tidegate-" + b.name;
  if (b.client_id.empty() || !mqtt::valid_mqtt_utf8(b.client_id))
    fail(where + ".client_id", "must be a non-empty UTF-8 string");
  if (j.contains("username")) b.username = get_string(j["username"], where + ".username");
  if (j.contains("password")) b.password = get_string(j["password"], where + ".password");
  if (j.contains("tls")) b.tls = parse_client_tls(j["tls"], where + ".tls");
  if (j.contains("keep_alive")) b.keep_alive = get_uint<std::uint16_t>(j["keep_alive"], where + ".keep_alive", 1, 65535);
  if (j.contains("session_expiry"))
    b.session_expiry = get_uint<std::uint32_t>(j["session_expiry"], where + ".session_expiry", 0, 0xFFFFFFFF);
  if (j.contains("reconnect_min_ms"))
    b.reconnect_min_ms = get_uint<unsigned>(j["reconnect_min_ms"], where + ".reconnect_min_ms", 10, 3600000);
  if (j.contains("reconnect_max_ms"))
    b.reconnect_max_ms = get_uint<unsigned>(j["reconnect_max_ms"], where + ".reconnect_max_ms", 10, 3600000);
  if (b.reconnect_max_ms < b.reconnect_min_ms)
    fail(where + ".reconnect_max_ms", "must not be less than reconnect_min_ms");
  if (j.contains("out")) b.out = parse_rules(j["out"], where + ".out", "remote_prefix");
  if (j.contains("in")) b.in = parse_rules(j["in"], where + ".in", "local_prefix");
  if (b.out.empty() && b.in.empty()) fail(where, "needs at least one rule in \"out\" or \"in\"");
  std::set<std::string> filters;
  for (const auto& r : b.out)
    if (!filters.insert(r.filter).second) fail(where + ".out", "filter '" + r.filter + "' appears twice");
  return b;
}

}  // namespace

BridgeTls parse_client_tls(const json& j, const std::string& where) {
  if (!j.is_object()) fail(where, "must be an object");
  refuse_unknown(j, where + ".", {"ca", "cert", "key", "server_name", "verify"});
  BridgeTls tls;
  if (j.contains("ca")) tls.ca = get_string(j["ca"], where + ".ca");
  if (j.contains("cert")) tls.cert = get_string(j["cert"], where + ".cert");
  if (j.contains("key")) tls.key = get_string(j["key"], where + ".key");
  if (j.contains("server_name")) tls.server_name = get_string(j["server_name"], where + ".server_name");
  if (j.contains("verify")) tls.verify = get_bool(j["verify"], where + ".verify");
  if (tls.cert.has_value() != tls.key.has_value())
    fail(where + (tls.cert ? ".key" : ".cert"), "is required with " + std::string(tls.cert ? "cert" : "key"));
  return tls;
}

std::vector<BridgeConfig> parse_bridges(const json& j) {
  if (!j.is_array()) fail("bridges", "must be an array");
  std::vector<BridgeConfig> bridges;
  std::set<std::string> names;
  for (std::size_t i = 0; i < j.size(); ++i) {
    auto b = parse_bridge(j[i], "bridges[" + std::to_string(i) + "]");
    if (!names.insert(b.name).second) fail("bridges[" + std::to_string(i) + "].name", "'" + b.name + "' is used twice");
    bridges.push_back(std::move(b));
  }
  return bridges;
}

}  // namespace tidegate
