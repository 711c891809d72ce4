#pragma once
// A message's payload as JSON for rules (conditions, CloudEvents `data`),
// or nothing. Nesting deeper than kMaxJsonDepth counts as not JSON: the JSON
// library copies and writes values recursively, and a payload of a million
// '[' must not exhaust the events thread's stack.
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

namespace tidegate::events {

inline constexpr int kMaxJsonDepth = 64;

inline bool json_depth_within(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

// Whether the payload can be JSON at all, from its first character that is not
// white space: a binary payload is turned away without a parse.
inline bool may_be_json(std::string_view payload) {
  for (char c : payload) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    return std::string_view("{[\"-0123456789tfn").find(c) != std::string_view::npos;
  }
  return false;
}

inline std::optional<nlohmann::json> parse_json_payload(std::string_view payload) {
  if (!may_be_json(payload) || !json_depth_within(payload, kMaxJsonDepth)) return std::nullopt;
  auto parsed = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return std::nullopt;
  return parsed;
}

}  // namespace tidegate::events
