#include "storeclient/subject_codec.hpp"

namespace tidegate::store {

namespace {

constexpr char kHex[] = "0123456789ABCDEF";
constexpr std::string_view kEmptyLevel = "%00";
constexpr std::string_view kTerminator = "%";

bool needs_escape(unsigned char c) { return c <= 0x20 || c == 0x7F || c == '%' || c == '.' || c == '*' || c == '>'; }

void append_level(std::string& out, std::string_view level) {
  if (level.empty()) {
    out += kEmptyLevel;
    return;
  }
  for (unsigned char c : level) {
    if (needs_escape(c)) {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Calls fn(level) for each '/'-separated level of `text`.
template <typename Fn>
void for_each_level(std::string_view text, Fn fn) {
  std::size_t start = 0;
  for (;;) {
    auto slash = text.find('/', start);
    fn(text.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) return;
    start = slash + 1;
  }
}

}  // namespace

std::string topic_to_subject(std::string_view prefix, std::string_view topic) {
  std::string out(prefix);
  out.reserve(prefix.size() + topic.size() + 8);
  for_each_level(topic, [&](std::string_view level) {
    out.push_back('.');
    append_level(out, level);
  });
  out.push_back('.');
  out += kTerminator;
  return out;
}

std::optional<std::string> subject_to_topic(std::string_view prefix, std::string_view subject) {
  if (subject.size() < prefix.size() + 4 || !subject.starts_with(prefix) || subject[prefix.size()] != '.')
    return std::nullopt;
  std::string_view rest = subject.substr(prefix.size() + 1);
  if (!rest.ends_with(".%")) return std::nullopt;
  rest.remove_suffix(2);
  std::string topic;
  topic.reserve(rest.size());
  std::size_t start = 0;
  for (;;) {
    auto dot = rest.find('.', start);
    std::string_view token = rest.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (token.empty()) return std::nullopt;
    if (token != kEmptyLevel) {
      for (std::size_t i = 0; i < token.size(); ++i) {
        if (token[i] != '%') {
          topic.push_back(token[i]);
          continue;
        }
        if (i + 2 >= token.size()) return std::nullopt;
        int hi = hex_value(token[i + 1]), lo = hex_value(token[i + 2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return std::nullopt;
        topic.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
      }
    }
    if (dot == std::string_view::npos) break;
    topic.push_back('/');
    start = dot + 1;
  }
  return topic;
}

std::string filter_to_subject(std::string_view prefix, std::string_view filter) {
  std::string out(prefix);
  bool multi = false;
  for_each_level(filter, [&](std::string_view level) {
    out.push_back('.');
    if (level == "#") {
      out.push_back('>');
      multi = true;
    } else if (level == "+") {
      out.push_back('*');
    } else {
      append_level(out, level);
    }
  });
  if (!multi) {
    out.push_back('.');
    out += kTerminator;
  }
  return out;
}

}  // namespace tidegate::store
