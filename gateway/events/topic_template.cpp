#include "gateway/events/topic_template.hpp"

#include <cctype>
#include <charconv>

#include "gateway/config/config_json.hpp"

namespace tidegate::events {

namespace {
// A placeholder is '{', a lower-case name (letters, digits, '_', '[', ']') and
// '}'; any other '{' is text, so a JSON payload template needs no escaping.
bool placeholder_at(const std::string& text, std::size_t open, std::size_t& close) {
  close = open + 1;
  while (close < text.size() && (std::islower(static_cast<unsigned char>(text[close])) ||
                                 std::isdigit(static_cast<unsigned char>(text[close])) || text[close] == '_' ||
                                 text[close] == '[' || text[close] == ']'))
    ++close;
  return close < text.size() && close > open + 1 && text[close] == '}';
}
}  // namespace

TopicTemplate TopicTemplate::parse(const std::string& text, const std::string& at) {
  TopicTemplate t;
  t.text_ = text;
  std::string literal;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t close = 0;
    if (text[i] != '{' || !placeholder_at(text, i, close)) {
      literal += text[i++];
      continue;
    }
    std::string name = text.substr(i + 1, close - i - 1);
    Part p;
    if (name == "topic") {
      p.kind = Part::Kind::topic;
    } else if (name == "clientid") {
      p.kind = Part::Kind::client_id;
    } else if (name == "payload") {
      p.kind = Part::Kind::payload;
    } else if (name == "seq") {
      p.kind = Part::Kind::seq;
    } else if (name.starts_with("level[") && name.back() == ']') {
      auto digits = std::string_view(name).substr(6, name.size() - 7);
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), p.level);
      if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || p.level > 1024)
        config_json::fail(at, "{level[N]} needs N from 0 (the first level) to 1024");
      p.kind = Part::Kind::level;
    } else {
      config_json::fail(at, "unknown placeholder {" + name + "}; use {topic}, {level[N]}, {clientid}, {payload} or {seq}");
    }
    if (!literal.empty()) t.parts_.push_back({Part::Kind::literal, std::move(literal), 0});
    literal.clear();
    t.parts_.push_back(std::move(p));
    i = close + 1;
  }
  if (!literal.empty()) t.parts_.push_back({Part::Kind::literal, std::move(literal), 0});
  return t;
}

bool TopicTemplate::uses_payload() const {
  for (const auto& p : parts_)
    if (p.kind == Part::Kind::payload) return true;
  return false;
}

std::string TopicTemplate::fill(const store::Message& m) const {
  std::string out;
  for (const auto& p : parts_) {
    switch (p.kind) {
      case Part::Kind::literal: out += p.literal; break;
      case Part::Kind::topic: out += m.topic; break;
      case Part::Kind::client_id: out += m.origin_client_id; break;
      case Part::Kind::payload: out += m.payload; break;
      case Part::Kind::seq: out += std::to_string(m.seq); break;
      case Part::Kind::level: {
        std::size_t start = 0;
        bool found = true;
        for (std::size_t l = 0; l < p.level && found; ++l) {
          auto slash = m.topic.find('/', start);
          if (slash == std::string::npos) found = false;
          else start = slash + 1;
        }
        if (found) out += m.topic.substr(start, m.topic.find('/', start) - start);
        break;
      }
    }
  }
  return out;
}

}  // namespace tidegate::events
