#include "gateway/codec/utf8.hpp"

#include <cstdint>

namespace tidegate::mqtt {

namespace {

constexpr std::size_t max_string_bytes = 65535;
constexpr std::string_view share_prefix = "$share/";

// Filter syntax without the $share rules.
bool valid_plain_filter(std::string_view s) {
  if (s.empty()) return false;
  std::size_t level_start = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '/') {
      level_start = i + 1;
    } else if (c == '+') {
      const bool ends_level = i + 1 == s.size() || s[i + 1] == '/';
      if (i != level_start || !ends_level) return false;
    } else if (c == '#') {
      if (i != level_start || i + 1 != s.size()) return false;
    }
  }
  return true;
}

}  // namespace

bool valid_mqtt_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* const end = p + s.size();
  while (p < end) {
    const unsigned char b0 = *p;
    if (b0 < 0x80) {
      if (b0 == 0) return false;
      ++p;
      continue;
    }
    std::size_t extra;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      extra = 1;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      extra = 2;
      if (b0 == 0xE0) lo = 0xA0;  // overlong
      if (b0 == 0xED) hi = 0x9F;  // surrogates
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      extra = 3;
      if (b0 == 0xF0) lo = 0x90;  // overlong
      if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return false;  // stray continuation byte, C0/C1 overlong, F5..FF
    }
    if (static_cast<std::size_t>(end - p) <= extra) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (std::size_t k = 2; k <= extra; ++k) {
      if ((p[k] & 0xC0) != 0x80) return false;
    }
    p += extra + 1;
  }
  return true;
}

// Two memchr scans: find_first_of("+#") tests each byte against the set one by
// one, and this runs on every PUBLISH topic (decode, worker thread).
bool has_wildcard(std::string_view s) {
  return s.find('+') != std::string_view::npos || s.find('#') != std::string_view::npos;
}

bool valid_topic_name(std::string_view s) {
  return !s.empty() && s.size() <= max_string_bytes && !has_wildcard(s) && valid_mqtt_utf8(s);
}

bool is_shared_filter(std::string_view s) { return s.starts_with(share_prefix); }

std::optional<SharedFilter> parse_shared_filter(std::string_view s) {
  if (!is_shared_filter(s)) return std::nullopt;
  const std::string_view rest = s.substr(share_prefix.size());
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  SharedFilter out{rest.substr(0, slash), rest.substr(slash + 1)};
  if (out.group.empty() || has_wildcard(out.group)) return std::nullopt;
  if (!valid_plain_filter(out.filter)) return std::nullopt;
  return out;
}

bool valid_topic_filter(std::string_view s) {
  if (s.empty() || s.size() > max_string_bytes || !valid_mqtt_utf8(s)) return false;
  if (is_shared_filter(s)) return parse_shared_filter(s).has_value();
  return valid_plain_filter(s);
}

}  // namespace tidegate::mqtt
