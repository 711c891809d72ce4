#include "gateway/events/rule_config.hpp"

#include <charconv>
#include <set>

#include "gateway/codec/utf8.hpp"
#include "gateway/config/config_json.hpp"

namespace tidegate::events {
namespace {

using namespace config_json;

// http://host[:port][/path][?query], https likewise; [v6] addresses allowed.
void parse_url(WebhookConfig& w, const std::string& at) {
  std::string_view url = w.url;
  if (url.starts_with("http://")) {
    url.remove_prefix(7);
  } else if (url.starts_with("https://")) {
    url.remove_prefix(8);
    w.https = true;
    w.port = 443;
  } else {
    fail(at, "must start with http:// or https://");
  }
  auto slash = url.find_first_of("/?");
  std::string_view authority = url.substr(0, slash);
  w.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  if (w.target.front() == '?') w.target = "/" + w.target;
  if (authority.find('@') != std::string_view::npos) fail(at, "credentials go in headers, not in the URL");
  std::string_view port;
  if (authority.starts_with("[")) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) fail(at, "an IPv6 address needs its closing ']'");
    w.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') fail(at, "unexpected text after the IPv6 address");
      port = authority.substr(close + 2);
    }
  } else {
    auto colon = authority.find(':');
    w.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (w.host.empty()) fail(at, "has no host");
  if (!port.empty() || authority.ends_with(":")) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535)
      fail(at, "port must be a number from 1 to 65535");
    w.port = static_cast<std::uint16_t>(value);
  }
  for (char c : w.target)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7F) fail(at, "the path must not contain spaces or control characters");
}

bool valid_header_name(const std::string& name) {
  if (name.empty()) return false;
  for (unsigned char c : name)
    if (!(std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos))
      return false;
  return true;
}

WebhookConfig parse_webhook(const json& j, const std::string& at) {
  if (!j.is_object()) fail(at, "must be an object");
  refuse_unknown(j, at + ".", {"url", "tls", "mode", "batch_size", "batch_linger_ms", "headers", "timeout_ms",
                               "max_in_flight", "max_attempts", "retry_min_ms", "retry_max_ms", "dead_letter_topic",
                               "source", "type"});
  WebhookConfig w;
  if (!j.contains("url")) fail(at + ".url", "is required");
  w.url = get_string(j["url"], at + ".url");
  parse_url(w, at + ".url");
  if (j.contains("tls")) {
    if (!w.https) fail(at + ".tls", "needs an https:// url");
    w.tls = parse_client_tls(j["tls"], at + ".tls");
  } else if (w.https) {
    w.tls = BridgeTls{};  // the system's CAs, verified
  }
  if (j.contains("mode")) {
    auto mode = get_string(j["mode"], at + ".mode");
    if (mode == "binary") w.mode = EventMode::binary;
    else if (mode == "structured") w.mode = EventMode::structured;
    else if (mode == "batched") w.mode = EventMode::batched;
    else fail(at + ".mode", "must be binary, structured or batched");
  }
  if (j.contains("batch_size")) w.batch_size = get_uint<std::size_t>(j["batch_size"], at + ".batch_size", 1, 10000);
  if (j.contains("batch_linger_ms"))
    w.batch_linger_ms = get_uint<unsigned>(j["batch_linger_ms"], at + ".batch_linger_ms", 0, 60000);
  if (j.contains("headers")) {
    const auto& h = j["headers"];
    if (!h.is_object()) fail(at + ".headers", "must be an object of name: value");
    for (auto it = h.begin(); it != h.end(); ++it) {
      std::string key_at = at + ".headers." + printable_key(it.key());
      if (!valid_header_name(it.key())) fail(key_at, "is not a valid HTTP header name");
      std::string lower = it.key();
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower.starts_with("ce-") || lower == "content-type" || lower == "content-length" || lower == "host" ||
          lower == "transfer-encoding" || lower == "connection")
        fail(key_at, "is set by the gateway");
      auto value = get_string(it.value(), key_at);
      if (value.find_first_of("\r\n") != std::string::npos || value.find('\0') != std::string::npos)
        fail(key_at, "must not contain line breaks");
      w.headers[it.key()] = value;
    }
  }
  if (j.contains("timeout_ms")) w.timeout_ms = get_uint<unsigned>(j["timeout_ms"], at + ".timeout_ms", 100, 600000);
  if (j.contains("max_in_flight"))
    w.max_in_flight = get_uint<unsigned>(j["max_in_flight"], at + ".max_in_flight", 1, 64);
  if (j.contains("max_attempts")) w.max_attempts = get_uint<unsigned>(j["max_attempts"], at + ".max_attempts", 1, 1000000);
  if (j.contains("retry_min_ms")) w.retry_min_ms = get_uint<unsigned>(j["retry_min_ms"], at + ".retry_min_ms", 10, 3600000);
  if (j.contains("retry_max_ms")) w.retry_max_ms = get_uint<unsigned>(j["retry_max_ms"], at + ".retry_max_ms", 10, 3600000);
  if (w.retry_max_ms < w.retry_min_ms) fail(at + ".retry_max_ms", "must not be less than retry_min_ms");
  if (j.contains("dead_letter_topic")) {
    auto topic = get_string(j["dead_letter_topic"], at + ".dead_letter_topic");
    if (!mqtt::valid_topic_name(topic)) fail(at + ".dead_letter_topic", "is not a valid topic name");
    w.dead_letter_topic = topic;
  }
  if (j.contains("source")) {
    w.source = get_string(j["source"], at + ".source");
    if (w.source->empty()) fail(at + ".source", "must not be empty");
  }
  if (j.contains("type")) {
    w.type = get_string(j["type"], at + ".type");
    if (w.type.empty()) fail(at + ".type", "must not be empty");
  }
  return w;
}

RepublishConfig parse_republish(const json& j, const std::string& at) {
  if (!j.is_object()) fail(at, "must be an object");
  refuse_unknown(j, at + ".", {"topic", "payload", "qos", "retain"});
  RepublishConfig r;
  if (!j.contains("topic")) fail(at + ".topic", "is required");
  auto topic = get_string(j["topic"], at + ".topic");
  r.topic = TopicTemplate::parse(topic, at + ".topic");
  if (topic.empty() || topic.find_first_of("+#") != std::string::npos || topic.starts_with("$"))
    fail(at + ".topic", "must give a topic name: not empty, no wildcards, not starting with $");
  if (r.topic.uses_payload()) fail(at + ".topic", "{payload} cannot be part of a topic");
  if (j.contains("payload")) r.payload = TopicTemplate::parse(get_string(j["payload"], at + ".payload"), at + ".payload");
  if (j.contains("qos")) r.qos = get_uint<std::uint8_t>(j["qos"], at + ".qos", 0, 2);
  if (j.contains("retain")) r.retain = get_bool(j["retain"], at + ".retain");
  return r;
}

RuleConfig parse_rule(const json& j, const std::string& at) {
  if (!j.is_object()) fail(at, "must be an object");
  refuse_unknown(j, at + ".", {"name", "from", "where", "actions"});
  RuleConfig r;
  if (!j.contains("name")) fail(at + ".name", "is required");
  r.name = get_name(j["name"], at + ".name");
  if (!j.contains("from")) fail(at + ".from", "is required");
  r.from = get_string(j["from"], at + ".from");
  if (!mqtt::valid_topic_filter(r.from) || r.from.starts_with("$share/"))
    fail(at + ".from", "is not a valid topic filter (shared subscriptions cannot be a rule's source)");
  if (j.contains("where")) r.where = parse_conditions(j["where"], at + ".where");
  if (!j.contains("actions")) fail(at + ".actions", "is required");
  const auto& actions = j["actions"];
  if (!actions.is_array() || actions.empty()) fail(at + ".actions", "must be a non-empty array");
  for (std::size_t i = 0; i < actions.size(); ++i) {
    const std::string action_at = at + ".actions[" + std::to_string(i) + "]";
    const auto& a = actions[i];
    if (!a.is_object() || a.size() != 1) fail(action_at, "must be an object with one key: webhook or republish");
    RuleAction action;
    if (a.contains("webhook")) {
      action.webhook = parse_webhook(a["webhook"], action_at + ".webhook");
    } else if (a.contains("republish")) {
      action.republish = parse_republish(a["republish"], action_at + ".republish");
    } else {
      fail(action_at + "." + printable_key(a.begin().key()), "unknown action; use webhook or republish");
    }
    r.actions.push_back(std::move(action));
  }
  return r;
}

}  // namespace

std::vector<RuleConfig> parse_rules(const json& j) {
  if (!j.is_array()) fail("rules", "must be an array");
  std::vector<RuleConfig> rules;
  std::set<std::string> names;
  Problems problems;
  for (std::size_t i = 0; i < j.size(); ++i)
    problems.attempt([&] {
      auto r = parse_rule(j[i], "rules[" + std::to_string(i) + "]");
      if (!names.insert(r.name).second) fail("rules[" + std::to_string(i) + "].name", "'" + r.name + "' is used twice");
      rules.push_back(std::move(r));
    });
  problems.throw_if_any();
  return rules;
}

}  // namespace tidegate::events
