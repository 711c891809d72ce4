#include "gateway/events/conditions.hpp"

#include <charconv>

#include "gateway/config/config_json.hpp"
#include "gateway/events/json_payload.hpp"

namespace tidegate::events {
namespace {

using namespace config_json;

Field parse_field(const std::string& key, const std::string& at) {
  Field f;
  if (key == "topic") return f;
  if (key.starts_with("topic[") && key.back() == ']') {
    auto digits = std::string_view(key).substr(6, key.size() - 7);
    std::size_t level = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), level);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || level > 1024)
      fail(at, "a topic level is written topic[N], N from 0 (the first level) to 1024");
    f.kind = Field::Kind::topic_level;
    f.level = level;
    return f;
  }
  if (key == "clientid") return f.kind = Field::Kind::client_id, f;
  if (key == "qos") return f.kind = Field::Kind::qos, f;
  if (key == "retain") return f.kind = Field::Kind::retain, f;
  if (key == "content_type") return f.kind = Field::Kind::content_type, f;
  if (key == "response_topic") return f.kind = Field::Kind::response_topic, f;
  if (key == "payload") return f.kind = Field::Kind::payload, f;
  if (key.starts_with("user.") && key.size() > 5) {
    f.kind = Field::Kind::user_property;
    f.name = key.substr(5);
    return f;
  }
  if (key.starts_with("payload.") && key.size() > 8) {
    f.kind = Field::Kind::payload_field;
    std::string_view rest = std::string_view(key).substr(8);
    while (true) {
      auto dot = rest.find('.');
      auto part = rest.substr(0, dot);
      if (part.empty()) fail(at, "a payload field path has an empty part");
      f.path.emplace_back(part);
      if (dot == std::string_view::npos) break;
      rest.remove_prefix(dot + 1);
    }
    return f;
  }
  fail(at, "unknown field; use topic, topic[N], clientid, qos, retain, content_type, response_topic, user.NAME, "
           "payload or payload.PATH");
}

Test parse_test(const std::string& op, const nlohmann::json& operand, const std::string& at) {
  Test t;
  t.operand = operand;
  if (op == "equals") {
    t.op = Test::Op::equals;
  } else if (op == "one_of") {
    if (!operand.is_array() || operand.empty()) fail(at, "must be a non-empty array");
    t.op = Test::Op::one_of;
  } else if (op == "prefix" || op == "suffix") {
    if (!operand.is_string()) fail(at, "must be a string");
    t.op = op == "prefix" ? Test::Op::prefix : Test::Op::suffix;
  } else if (op == "gt" || op == "gte" || op == "lt" || op == "lte") {
    if (!operand.is_number()) fail(at, "must be a number");
    t.op = op == "gt" ? Test::Op::gt : op == "gte" ? Test::Op::gte : op == "lt" ? Test::Op::lt : Test::Op::lte;
  } else if (op == "exists") {
    if (!operand.is_boolean()) fail(at, "must be true or false");
    t.op = Test::Op::exists;
  } else {
    fail(at, "unknown test; use equals, one_of, prefix, suffix, gt, gte, lt, lte or exists");
  }
  return t;
}

// A number, also from a string that is one whole number ("42", "-3.5"):
// topic levels and user properties are text.
std::optional<double> as_number(const nlohmann::json& v) {
  if (v.is_number()) return v.get<double>();
  if (!v.is_string()) return std::nullopt;
  const auto& s = v.get_ref<const std::string&>();
  double d = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return d;
}

bool equal(const nlohmann::json& value, const nlohmann::json& operand) {
  if (operand.is_number()) {
    auto n = as_number(value);
    return n && *n == operand.get<double>();
  }
  return value == operand;
}

bool holds(const Test& t, const std::optional<nlohmann::json>& value) {
  if (t.op == Test::Op::exists) return value.has_value() == t.operand.get<bool>();
  if (!value) return false;
  switch (t.op) {
    case Test::Op::equals:
      return equal(*value, t.operand);
    case Test::Op::one_of:
      for (const auto& candidate : t.operand)
        if (equal(*value, candidate)) return true;
      return false;
    case Test::Op::prefix:
      return value->is_string() && value->get_ref<const std::string&>().starts_with(t.operand.get_ref<const std::string&>());
    case Test::Op::suffix:
      return value->is_string() && value->get_ref<const std::string&>().ends_with(t.operand.get_ref<const std::string&>());
    default:
      break;
  }
  auto n = as_number(*value);
  if (!n) return false;
  double x = t.operand.get<double>();
  switch (t.op) {
    case Test::Op::gt: return *n > x;
    case Test::Op::gte: return *n >= x;
    case Test::Op::lt: return *n < x;
    case Test::Op::lte: return *n <= x;
    default: return false;
  }
}

}  // namespace

std::vector<Condition> parse_conditions(const nlohmann::json& where, const std::string& at) {
  if (!where.is_object()) fail(at, "must be an object of field: test");
  std::vector<Condition> conditions;
  for (auto it = where.begin(); it != where.end(); ++it) {
    const std::string key_at = at + "." + printable_key(it.key());
    Condition c;
    c.key = it.key();
    c.field = parse_field(it.key(), key_at);
    const auto& spec = it.value();
    if (spec.is_object()) {
      if (spec.empty()) fail(key_at, "needs at least one test");
      for (auto t = spec.begin(); t != spec.end(); ++t)
        c.tests.push_back(parse_test(t.key(), t.value(), key_at + "." + printable_key(t.key())));
    } else if (spec.is_array()) {
      fail(key_at, "a list of values is written {\"one_of\": [...]}");
    } else {
      c.tests.push_back(parse_test("equals", spec, key_at));  // a plain value: equals
    }
    conditions.push_back(std::move(c));
  }
  return conditions;
}

const nlohmann::json* MessageFacts::payload_json() {
  if (!parsed_) {
    parsed_ = true;
    json_ = parse_json_payload(message_.payload);
  }
  return json_ ? &*json_ : nullptr;
}

std::optional<nlohmann::json> MessageFacts::value_of(const Field& f) {
  const auto& m = message_;
  switch (f.kind) {
    case Field::Kind::topic: return m.topic;
    case Field::Kind::topic_level: {
      std::size_t start = 0;
      for (std::size_t i = 0; i < f.level; ++i) {
        auto slash = m.topic.find('/', start);
        if (slash == std::string::npos) return std::nullopt;
        start = slash + 1;
      }
      return m.topic.substr(start, m.topic.find('/', start) - start);
    }
    case Field::Kind::client_id: return m.origin_client_id;
    case Field::Kind::qos: return m.qos;
    case Field::Kind::retain: return m.retain;
    case Field::Kind::content_type:
      if (m.content_type) return *m.content_type;
      return std::nullopt;
    case Field::Kind::response_topic:
      if (m.response_topic) return *m.response_topic;
      return std::nullopt;
    case Field::Kind::user_property:
      for (const auto& p : m.user_properties)
        if (p.key == f.name) return p.value;
      return std::nullopt;
    case Field::Kind::payload: return m.payload;
    case Field::Kind::payload_field: {
      const nlohmann::json* node = payload_json();
      for (const auto& part : f.path) {
        if (!node) return std::nullopt;
        if (node->is_object()) {
          auto it = node->find(part);
          node = it == node->end() ? nullptr : &*it;
        } else if (node->is_array()) {
          std::size_t index = 0;
          auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), index);
          node = ec == std::errc() && end == part.data() + part.size() && index < node->size() ? &(*node)[index] : nullptr;
        } else {
          node = nullptr;
        }
      }
      if (!node) return std::nullopt;
      return *node;
    }
  }
  return std::nullopt;
}

bool MessageFacts::matches(const std::vector<Condition>& conditions) {
  for (const auto& c : conditions) {
    auto value = value_of(c.field);
    for (const auto& t : c.tests)
      if (!holds(t, value)) return false;
  }
  return true;
}

}  // namespace tidegate::events
