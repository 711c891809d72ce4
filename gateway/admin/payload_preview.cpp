#include "gateway/admin/payload_preview.hpp"

#include <algorithm>

#include "gateway/codec/utf8.hpp"

namespace tidegate::admin {
namespace {

constexpr std::size_t kTextBytes = 64;
constexpr std::size_t kHexBytes = 24;

bool is_text(std::string_view s) {
  if (!mqtt::valid_mqtt_utf8(s)) return false;
  return std::none_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t' && c != '\n') || u == 0x7f;
  });
}

// Cut at a UTF-8 boundary at or before `bytes`.
std::string_view cut(std::string_view s, std::size_t bytes) {
  if (s.size() <= bytes) return s;
  while (bytes > 0 && (static_cast<unsigned char>(s[bytes]) & 0xC0) == 0x80) --bytes;
  return s.substr(0, bytes);
}

}  // namespace

std::string payload_preview(std::string_view payload) {
  // Judged on what is shown: a long text payload cut mid-character stays text.
  auto head = cut(payload, kTextBytes);
  if (is_text(head)) {
    std::string out(head);
    std::replace(out.begin(), out.end(), '\n', ' ');
    std::replace(out.begin(), out.end(), '\t', ' ');
    return head.size() < payload.size() ? out + "…" : out;
  }
  static const char digits[] = "0123456789abcdef";
  std::string out = "hex:";
  for (std::size_t i = 0; i < std::min(payload.size(), kHexBytes); ++i) {
    auto b = static_cast<unsigned char>(payload[i]);
    out += digits[b >> 4];
    out += digits[b & 0xF];
  }
  return payload.size() > kHexBytes ? out + "…" : out;
}

}  // namespace tidegate::admin
