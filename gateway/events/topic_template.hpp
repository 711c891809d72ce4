#pragma once
// A republish action's topic or payload template (docs/events.md,
// "Republish"): text with placeholders {topic}, {level[N]}, {clientid},
// {payload} and {seq}, checked when the config is read and filled in per
// message on the events thread.
#include <cstdint>
#include <string>
#include <vector>

#include "storeclient/message.hpp"

namespace tidegate::events {

class TopicTemplate {
 public:
  // Throws ConfigError("<at>: reason") for an unknown or unclosed placeholder.
  static TopicTemplate parse(const std::string& text, const std::string& at);
  std::string fill(const store::Message& message) const;
  const std::string& text() const { return text_; }
  bool uses_payload() const;
  bool operator==(const TopicTemplate& other) const { return text_ == other.text_; }

 private:
  struct Part {
    enum class Kind { literal, topic, level, client_id, payload, seq } kind = Kind::literal;
    std::string literal;
    std::size_t level = 0;
  };
  std::string text_;
  std::vector<Part> parts_;
};

}  // namespace tidegate::events
