#pragma once
// Copies bytes into a FrameReader the way a socket read does (prepare, copy,
// commit): how the unit and fuzz tests give the codec its input.
#include <cstdint>
#include <cstring>
#include <span>

#include "gateway/codec/frame_reader.hpp"

namespace tidegate::mqtt {

inline void feed(FrameReader& reader, std::span<const std::uint8_t> bytes) {
  const std::span<std::uint8_t> destination = reader.prepare(bytes.size());
  if (!bytes.empty()) std::memcpy(destination.data(), bytes.data(), bytes.size());
  reader.commit(bytes.size());
}

}  // namespace tidegate::mqtt
