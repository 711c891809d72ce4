// Internal to the codec: bounds-checked big-endian reading and the writers
// used by the encoder. Not part of the public API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace tidegate::mqtt::wire {

// Largest value of a Variable Byte Integer (four bytes).
inline constexpr uint32_t max_vbi = 268'435'455;
inline constexpr std::size_t max_string = 65'535;

inline std::size_t vbi_size(uint32_t v) {
  if (v < 128) return 1;
  if (v < 16'384) return 2;
  if (v < 2'097'152) return 3;
  return 4;
}

// Reads fields from a packet body. Every read returns false when the field
// runs past the end (the reader is then left unchanged).
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> data) : data_(data) {}

  std::size_t remaining() const { return data_.size() - pos_; }
  bool empty() const { return remaining() == 0; }

  bool u8(uint8_t& v) {
    if (remaining() < 1) return false;
    v = data_[pos_++];
    return true;
  }
  bool u16(uint16_t& v) {
    if (remaining() < 2) return false;
    v = static_cast<uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool u32(uint32_t& v) {
    if (remaining() < 4) return false;
    v = (uint32_t{data_[pos_]} << 24) | (uint32_t{data_[pos_ + 1]} << 16) |
        (uint32_t{data_[pos_ + 2]} << 8) | uint32_t{data_[pos_ + 3]};
    pos_ += 4;
    return true;
  }

  enum class VbiStatus { ok, truncated, malformed };
  // Malformed: more than four bytes, or not the minimal encoding [MQTT-1.5.5-1].
  VbiStatus vbi(uint32_t& v) {
    uint32_t value = 0;
    for (std::size_t i = 0; i < 4; ++i) {
      if (pos_ + i >= data_.size()) return VbiStatus::truncated;
      const uint8_t b = data_[pos_ + i];
      value |= uint32_t{static_cast<uint8_t>(b & 0x7F)} << (7 * i);
      if ((b & 0x80) == 0) {
        if (i > 0 && b == 0) return VbiStatus::malformed;
        pos_ += i + 1;
        v = value;
        return VbiStatus::ok;
      }
    }
    return VbiStatus::malformed;
  }

  bool bytes(std::size_t n, std::string& out) {
    if (remaining() < n) return false;
    out.assign(reinterpret_cast<const char*>(data_.data() + pos_), n);
    pos_ += n;
    return true;
  }
  // Two-byte length prefix followed by that many bytes (Binary Data or the raw
  // bytes of a UTF-8 Encoded String; the caller validates UTF-8).
  bool binary(std::string& out) {
    const std::size_t start = pos_;
    uint16_t len = 0;
    if (!u16(len)) return false;
    if (!bytes(len, out)) {
      pos_ = start;
      return false;
    }
    return true;
  }

  std::span<const uint8_t> peek() const { return data_.subspan(pos_); }
  void skip(std::size_t n) { pos_ += n; }

  std::span<const uint8_t> take(std::size_t n) {
    auto s = data_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  std::span<const uint8_t> rest() { return take(remaining()); }

 private:
  std::span<const uint8_t> data_;
  std::size_t pos_ = 0;
};

[[noreturn]] inline void throw_too_long(const char* what) {
  throw std::length_error(std::string("mqtt encode: ") + what + " longer than 65535 bytes");
}

[[noreturn]] inline void throw_vbi_too_large() {
  throw std::length_error("mqtt encode: variable byte integer above 268435455");
}

// Writers share one interface so that each packet body is described once and
// run twice: first to count its size, then to append it.
struct SizeCounter {
  std::size_t n = 0;
  void u8(uint8_t) { n += 1; }
  void u16(uint16_t) { n += 2; }
  void u32(uint32_t) { n += 4; }
  void vbi(uint32_t v) {
    if (v > max_vbi) throw_vbi_too_large();
    n += vbi_size(v);
  }
  void string(std::string_view s, const char* what) {
    if (s.size() > max_string) throw_too_long(what);
    n += 2 + s.size();
  }
  void raw(std::string_view s) { n += s.size(); }
};

struct StringWriter {
  std::string& out;
  void u8(uint8_t v) { out.push_back(static_cast<char>(v)); }
  void u16(uint16_t v) {
    u8(static_cast<uint8_t>(v >> 8));
    u8(static_cast<uint8_t>(v));
  }
  void u32(uint32_t v) {
    u16(static_cast<uint16_t>(v >> 16));
    u16(static_cast<uint16_t>(v));
  }
  void vbi(uint32_t v) {
    if (v > max_vbi) throw_vbi_too_large();
    do {
      uint8_t b = v & 0x7F;
      v >>= 7;
      if (v != 0) b |= 0x80;
      u8(b);
    } while (v != 0);
  }
  void string(std::string_view s, const char* what) {
    if (s.size() > max_string) throw_too_long(what);
    u16(static_cast<uint16_t>(s.size()));
    out.append(s);
  }
  void raw(std::string_view s) { out.append(s); }
};

}  // namespace tidegate::mqtt::wire
