// Rules' pure parts (docs/events.md): conditions, templates, the CloudEvents
// forms of a message, Retry-After, and the config checks.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "gateway/config/config.hpp"
#include "gateway/events/cloud_event.hpp"
#include "gateway/events/conditions.hpp"
#include "gateway/events/topic_template.hpp"
#include "gateway/events/webhook_client.hpp"
#include "tests/unit/config_error_of.hpp"

using namespace tidegate;
using namespace tidegate::events;

namespace {

store::Message message(std::string topic, std::string payload) {
  store::Message m;
  m.seq = 42;
  m.topic = std::move(topic);
  m.payload = std::move(payload);
  m.qos = 1;
  m.origin_client_id = "dev-7";
  m.created_ms = 1'700'000'000'123;
  return m;
}

bool matches(const char* where, const store::Message& m) {
  auto conditions = parse_conditions(nlohmann::json::parse(where), "where");
  MessageFacts facts(m);
  return facts.matches(conditions);
}

std::string rules(const std::string& one) { return R"({"rules": [)" + one + "]}"; }

}  // namespace

TEST_CASE("conditions on topic levels, MQTT facts and user properties") {
  auto m = message("sensors/kitchen/temp", "21");
  m.user_properties = {{"site", "plant-4"}, {"rev", "12"}};
  CHECK(matches(R"({"topic[1]": "kitchen"})", m));
  CHECK_FALSE(matches(R"({"topic[1]": "hall"})", m));
  CHECK_FALSE(matches(R"({"topic[3]": {"exists": true}})", m));
  CHECK(matches(R"({"topic[3]": {"exists": false}})", m));
  CHECK(matches(R"({"topic": {"prefix": "sensors/", "suffix": "/temp"}})", m));
  CHECK(matches(R"({"clientid": {"one_of": ["dev-1", "dev-7"]}, "qos": 1, "retain": false})", m));
  CHECK(matches(R"({"user.site": {"prefix": "plant-"}, "user.rev": {"gt": 11}})", m));  // numeric text compares as a number
  CHECK_FALSE(matches(R"({"user.rev": {"gt": 12}})", m));
  CHECK_FALSE(matches(R"({"user.missing": {"prefix": ""}})", m));
  CHECK(matches(R"({"payload": {"equals": 21}})", m));  // "21" is the number 21
  CHECK(matches(R"({"payload": "21"})", m));
}

TEST_CASE("conditions on JSON payload fields; a payload that is not JSON never matches one") {
  auto m = message("t", R"({"reading": {"t": 31.5, "unit": "C"}, "tags": ["a", "b"], "ok": true})");
  CHECK(matches(R"({"payload.reading.t": {"gt": 30, "lte": 31.5}})", m));
  CHECK_FALSE(matches(R"({"payload.reading.t": {"lt": 31.5}})", m));
  CHECK(matches(R"({"payload.reading.unit": {"one_of": ["C", "K"]}})", m));
  CHECK(matches(R"({"payload.tags.1": "b"})", m));
  CHECK_FALSE(matches(R"({"payload.tags.2": {"exists": true}})", m));
  CHECK(matches(R"({"payload.ok": true})", m));
  CHECK_FALSE(matches(R"({"payload.reading.unit": {"gt": 1}})", m));  // text is not a number
  for (const char* bad : {"not json", "{\"reading\": ", "", "\xff\xfe"}) {
    auto b = message("t", bad);
    CHECK_FALSE(matches(R"({"payload.reading.t": {"exists": true}})", b));
    CHECK(matches(R"({"payload.reading.t": {"exists": false}})", b));
  }
}

TEST_CASE("a where that cannot work is refused with its key") {
  CHECK(config_error_of(rules(R"({"name": "r", "from": "a/#", "where": {"topic[x]": 1},
        "actions": [{"republish": {"topic": "b"}}]})")).find("rules[0].where.topic[x]: a topic level") == 0);
  CHECK(config_error_of(rules(R"({"name": "r", "from": "a/#", "where": {"payload.t": {"gt": "5"}},
        "actions": [{"republish": {"topic": "b"}}]})")) == "rules[0].where.payload.t.gt: must be a number");
  CHECK(config_error_of(rules(R"({"name": "r", "from": "a/#", "where": {"qos": [1, 2]},
        "actions": [{"republish": {"topic": "b"}}]})")).find("one_of") != std::string::npos);
  CHECK(config_error_of(rules(R"({"name": "r", "from": "a/#", "where": {"payload..t": 1},
        "actions": [{"republish": {"topic": "b"}}]})")) == "rules[0].where.payload..t: a payload field path has an empty part");
}

TEST_CASE("templates fill placeholders and keep other braces as text") {
  auto m = message("plant/boiler/t", R"({"t": 80})");
  auto t = TopicTemplate::parse("alerts/{level[1]}/{clientid}", "x");
  CHECK(t.fill(m) == "alerts/boiler/dev-7");
  auto p = TopicTemplate::parse(R"({"from": "{topic}", "seq": {seq}, "reading": {payload}})", "x");
  CHECK(p.fill(m) == R"({"from": "plant/boiler/t", "seq": 42, "reading": {"t": 80}})");
  CHECK(TopicTemplate::parse("a/{level[9]}", "x").fill(m) == "a/");  // a missing level is empty
  CHECK_THROWS_WITH_AS(TopicTemplate::parse("a/{levels}", "k"),
                       "k: unknown placeholder {levels}; use {topic}, {level[N]}, {clientid}, {payload} or {seq}",
                       ConfigError);
}

TEST_CASE("a webhook's config: defaults, URL parts, and what is refused") {
  auto c = parse_config(rules(R"({"name": "hot", "from": "s/+/t",
      "actions": [{"webhook": {"url": "https://[::1]:8443/in?x=1", "mode": "batched", "headers": {"Authorization": "Bearer t"}}}]})"));
  REQUIRE(c.rules.size() == 1);
  const auto& w = *c.rules[0].actions[0].webhook;
  CHECK(w.https);
  CHECK(w.host == "::1");
  CHECK(w.port == 8443);
  CHECK(w.target == "/in?x=1");
  CHECK(w.mode == EventMode::batched);
  REQUIRE(w.tls);
  CHECK(w.tls->verify);  // on unless turned off
  CHECK(w.max_in_flight == 1);
  CHECK(config_error_of(rules(R"({"name": "r", "from": "a", "actions": [{"webhook": {"url": "http://h:0/"}}]})")) ==
        "rules[0].actions[0].webhook.url: port must be a number from 1 to 65535");
  CHECK(config_error_of(rules(R"({"name": "r", "from": "a", "actions": [{"webhook": {"url": "http://u:p@h/"}}]})")) ==
        "rules[0].actions[0].webhook.url: credentials go in headers, not in the URL");
  CHECK(config_error_of(rules(R"({"name": "r", "from": "a", "actions": [{"webhook": {"url": "http://h/", "tls": {}}}]})")) ==
        "rules[0].actions[0].webhook.tls: needs an https:// url");
  CHECK(config_error_of(rules(R"({"name": "r", "from": "a", "actions": [{"webhook": {"url": "http://h/", "retry_min_ms": 500, "retry_max_ms": 100}}]})")) ==
        "rules[0].actions[0].webhook.retry_max_ms: must not be less than retry_min_ms");
  CHECK(config_error_of(rules(R"({"name": "r", "from": "$share/g/a", "actions": [{"republish": {"topic": "b"}}]})")).find(
            "rules[0].from:") == 0);
  CHECK(config_error_of(rules(R"({"name": "r", "from": "a", "actions": [{"republish": {"topic": "b/#"}}]})")).find(
            "rules[0].actions[0].republish.topic: must give a topic name") == 0);
  CHECK(config_error_of(R"({"rules": [{"name": "r", "from": "a", "actions": [{"republish": {"topic": "b"}}]},
                                      {"name": "r", "from": "c", "actions": [{"republish": {"topic": "d"}}]}]})") ==
        "rules[1].name: 'r' is used twice");
#ifdef TIDEGATE_CLUSTER  // a build without cluster mode refuses the cluster key itself
  CHECK(config_error_of(R"({"cluster": {"node": "a", "nats": ["nats://127.0.0.1:4222"]},
        "rules": [{"name": "r", "from": "a", "actions": [{"republish": {"topic": "b"}}]}]})").find("rules: cannot be used with cluster") == 0);
#endif
}

TEST_CASE("CloudEvents: binary headers, structured data or data_base64, a stable id") {
  EventSource from{"gw1", "tidegate://gw1", "io.tidegate.mqtt.message"};
  auto m = message("sensors/a", R"({"t": 1})");
  m.user_properties = {{"k", "v\"%"}};
  auto binary = binary_event(from, m);
  CHECK(binary.content_type == "application/json");
  CHECK(binary.body == m.payload);
  auto header = [&](const char* name) {
    for (const auto& [k, v] : binary.headers)
      if (k == name) return v;
    return std::string("<none>");
  };
  CHECK(header("ce-id") == "gw1-42");
  CHECK(header("ce-time") == "2023-11-14T22:13:20.123Z");
  CHECK(header("ce-subject") == "sensors/a");
  CHECK(header("ce-mqttuserproperties") == "[[%22k%22,%22v\\%22%25%22]]");  // '"' and '%' percent-encoded
  auto structured = structured_event(from, m);
  CHECK(structured["data"] == nlohmann::json{{"t", 1}});
  CHECK_FALSE(structured.contains("data_base64"));
  auto raw = message("sensors/a", std::string("\x00\x01", 2));
  auto s2 = structured_event(from, raw);
  CHECK(s2["data_base64"] == "AAE=");
  CHECK(s2["datacontenttype"] == "application/octet-stream");
  auto typed = message("sensors/a", "{}");
  typed.content_type = "text/plain";  // declared as text: kept as bytes
  CHECK(structured_event(from, typed).contains("data_base64"));
}

TEST_CASE("Retry-After in seconds or as an HTTP date") {
  CHECK(parse_retry_after("120", 0) == std::chrono::milliseconds(120'000));
  CHECK(parse_retry_after(" 3 ", 0) == std::chrono::milliseconds(3'000));
  // Wed, 21 Oct 2015 07:28:00 GMT is 1445412480 s after the epoch.
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470'000) == std::chrono::milliseconds(10'000));
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412490'000) == std::chrono::milliseconds(0));
  CHECK_FALSE(parse_retry_after("soon", 0));
  CHECK_FALSE(parse_retry_after("", 0));
}

TEST_CASE("a stream's config and what is refused") {
  auto c = parse_config(R"({"streams": [{"name": "telemetry", "filter": "sensors/#"}]})");
  REQUIRE(c.streams.size() == 1);
  CHECK(c.streams[0].filter == "sensors/#");
  CHECK(config_error_of(R"({"streams": [{"name": "t", "filter": "$share/g/a"}]})").find("streams[0].filter:") == 0);
  CHECK(config_error_of(R"({"streams": [{"name": "a b", "filter": "a"}]})") ==
        "streams[0].name: must be 1 to 64 letters, digits, '_', '-' or '.'");
  CHECK(config_error_of(R"({"streams": [{"name": "t", "filter": "a"}, {"name": "t", "filter": "b"}]})") ==
        "streams[1].name: 't' is used twice");
  CHECK(config_error_of(R"({"streams": [{"name": "t"}]})") == "streams[0].filter: is required");
  CHECK(config_error_of(R"({"streams": [{"name": "t", "filter": "a", "retention": 1}]})") ==
        "streams[0].retention: unknown key");
}
