#pragma once
// A rule's `where`: conditions on one message's topic levels, MQTT facts,
// MQTT 5 properties, user properties and JSON payload fields, all of which
// must hold (docs/events.md, "Conditions"). Parsed once at config time;
// evaluated on the events thread. A payload that is not JSON never matches a
// payload-field condition.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "storeclient/message.hpp"

namespace tidegate::events {

// What a condition looks at.
struct Field {
  enum class Kind { topic, topic_level, client_id, qos, retain, content_type, response_topic, user_property, payload,
                    payload_field };
  Kind kind = Kind::topic;
  std::size_t level = 0;             // topic_level: 0-based
  std::string name;                  // user_property: its key
  std::vector<std::string> path;     // payload_field: object keys or array indexes, outermost first
  bool operator==(const Field&) const = default;
};

// One test on a field's value. Several tests on one field must all hold.
struct Test {
  enum class Op { equals, one_of, prefix, suffix, gt, gte, lt, lte, exists };
  Op op = Op::equals;
  nlohmann::json operand;  // equals: a value; one_of: an array; prefix/suffix: a string; gt..lte: a number; exists: bool
  bool operator==(const Test&) const = default;
};

struct Condition {
  std::string key;  // as written, for messages
  Field field;
  std::vector<Test> tests;
  bool operator==(const Condition&) const = default;
};

// `where` is an object { field: test-or-tests }; throws ConfigError naming
// "<at>.<field>" and the reason.
std::vector<Condition> parse_conditions(const nlohmann::json& where, const std::string& at);

// Evaluates conditions against one message, parsing its payload as JSON at
// most once (and only when a condition needs it).
class MessageFacts {
 public:
  explicit MessageFacts(const store::Message& message) : message_(message) {}
  bool matches(const std::vector<Condition>& conditions);
  // The payload as JSON; nullptr when it is not JSON.
  const nlohmann::json* payload_json();

 private:
  std::optional<nlohmann::json> value_of(const Field& field);
  const store::Message& message_;
  bool parsed_ = false;
  std::optional<nlohmann::json> json_;
};

}  // namespace tidegate::events
