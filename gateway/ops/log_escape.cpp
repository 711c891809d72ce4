#include "gateway/ops/log_escape.hpp"

#include <cstdint>

namespace tidegate::log {
namespace {

// Length of the well-formed UTF-8 sequence starting at s[i] (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF), 0 when there is none.
std::size_t utf8_sequence(std::string_view s, std::size_t i, std::uint32_t& code_point) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  auto continuation = [&](std::size_t k) { return i + k < s.size() && (byte(k) & 0xC0) == 0x80; };
  unsigned char b = byte(0);
  std::size_t n;
  std::uint32_t min;
  if (b >= 0xC2 && b <= 0xDF) {
    n = 2, min = 0x80, code_point = b & 0x1F;
  } else if (b >= 0xE0 && b <= 0xEF) {
    n = 3, min = 0x800, code_point = b & 0x0F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    n = 4, min = 0x10000, code_point = b & 0x07;
  } else {
    return 0;
  }
  for (std::size_t k = 1; k < n; ++k) {
    if (!continuation(k)) return 0;
    code_point = (code_point << 6) | (byte(k) & 0x3F);
  }
  if (code_point < min || code_point > 0x10FFFF || (code_point >= 0xD800 && code_point <= 0xDFFF)) return 0;
  return n;
}

void append_hex(std::string& out, unsigned char c) {
  constexpr char digits[] = "0123456789abcdef";
  out += "\\x";
  out += digits[c >> 4];
  out += digits[c & 0xF];
}

}  // namespace

std::string escape_for_text_line(std::string_view message) {
  std::string out;
  out.reserve(message.size());
  for (std::size_t i = 0; i < message.size();) {
    auto c = static_cast<unsigned char>(message[i]);
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
      ++i;
    } else if (c == '\n') {
      out += "\\n", ++i;
    } else if (c == '\r') {
      out += "\\r", ++i;
    } else if (c == '\t') {
      out += "\\t", ++i;
    } else if (c < 0x80) {
      append_hex(out, c), ++i;  // other C0 controls and DEL
    } else {
      std::uint32_t code_point = 0;
      std::size_t n = utf8_sequence(message, i, code_point);
      if (n == 0) {
        append_hex(out, c), ++i;  // not UTF-8: one escape per byte
      } else if (code_point <= 0x9F) {
        for (std::size_t k = 0; k < n; ++k) append_hex(out, static_cast<unsigned char>(message[i + k]));
        i += n;  // a C1 control (U+009B is a terminal's CSI)
      } else {
        out.append(message.substr(i, n));
        i += n;
      }
    }
  }
  return out;
}

}  // namespace tidegate::log
