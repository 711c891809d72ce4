#include "gateway/admin/payload_preview.hpp"

#include "gateway/ops/base64.hpp"

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
  // A UTF-8 character is at most 4 bytes: look back no further than 3 (a run
  // of continuation bytes is not text anyway).
  for (int back = 0; back < 3 && bytes > 0 && (static_cast<unsigned char>(s[bytes]) & 0xC0) == 0x80; ++back) --bytes;
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

nlohmann::json payload_view(std::string_view payload) {
  // A text cut at kPayloadViewBytes stays text: cut at a character's start.
  auto text = cut(payload, kPayloadViewBytes);
  if (mqtt::valid_mqtt_utf8(text)) return {{"encoding", "text"}, {"data", std::string(text)}};
  payload = payload.substr(0, kPayloadViewBytes);
  return {{"encoding", "base64"}, {"data", base64(payload)}};
}

}  // namespace tidegate::admin
