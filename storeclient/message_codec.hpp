#pragma once
// The on-disk encoding of a Message (the value in the LMDB `messages` table).
// Format version 1: a version byte, then fields in a fixed order; strings are
// u32 length + bytes; optional fields are preceded by a presence byte. Decoding
// is bounds-checked: a corrupt record yields nullopt, never a crash.
#include <optional>
#include <string>
#include <string_view>

#include "storeclient/message.hpp"

namespace tidegate::store {

inline constexpr std::uint8_t kMessageFormatVersion = 1;

void encode_message(const Message& message, std::string& out);
std::optional<Message> decode_message(std::string_view bytes);

// Small helpers shared by every table encoding in the store.
void put_u64_be(std::string& out, std::uint64_t v);
std::uint64_t get_u64_be(std::string_view bytes);
void put_u32_be(std::string& out, std::uint32_t v);
// Reads a u32 from the front of `in` and consumes it; false when too short.
bool take_u32_be(std::string_view& in, std::uint32_t& v);

}  // namespace tidegate::store
