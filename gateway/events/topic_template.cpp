#include "gateway/events/topic_template.hpp"

#include <charconv>

#include "gateway/config/config_json.hpp"

namespace tidegate::events {

TopicTemplate TopicTemplate::parse(const std::string& text, const std::string& at) {
  TopicTemplate t;
  t.text_ = text;
  std::size_t i = 0;
  while (i < text.size()) {
    auto open = text.find('{', i);
    if (open != i) {
      t.parts_.push_back({Part::Kind::literal, text.substr(i, open - i), 0});
      if (open == std::string::npos) break;
    }
    auto close = text.find('}', open);
    if (close == std::string::npos) config_json::fail(at, "a '{' is not closed");
    std::string name = text.substr(open + 1, close - open - 1);
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
    t.parts_.push_back(std::move(p));
    i = close + 1;
  }
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
