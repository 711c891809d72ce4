// The first 16 bytes of every benchmark payload: the publisher's send time
// (steady clock, ns) and its sequence number, little-endian. Publishers and
// subscribers run in the same process, so their steady clocks agree.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>

namespace tidegate::bench {

constexpr std::size_t stamp_size = 16;

inline int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

inline void write_u64le(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline uint64_t read_u64le(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<uint8_t>(p[i])} << (8 * i);
  return v;
}

// payload must hold at least stamp_size bytes.
inline void write_stamp(char* payload, int64_t sent_ns, uint64_t sequence) {
  write_u64le(payload, static_cast<uint64_t>(sent_ns));
  write_u64le(payload + 8, sequence);
}
inline int64_t read_stamp_time(const char* payload) { return static_cast<int64_t>(read_u64le(payload)); }
inline uint64_t read_stamp_sequence(const char* payload) { return read_u64le(payload + 8); }

}  // namespace tidegate::bench
