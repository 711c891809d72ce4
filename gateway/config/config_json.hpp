#pragma once
// Helpers shared by the parsers of the config file's sections: each failure
// names the key path and the reason (ConfigError "key: reason").
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "gateway/config/config.hpp"

namespace tidegate::config_json {

using nlohmann::json;

[[noreturn]] inline void fail(const std::string& key, const std::string& reason) { throw ConfigError(key + ": " + reason); }

// A key read from the file, for an error message: control characters are
// escaped, as a NUL would otherwise end the message where the key starts.
inline std::string printable_key(const std::string& key) {
  const char* digits = "0123456789abcdef";
  std::string out;
  for (const unsigned char c : key) {
    if (c >= 0x20 && c != 0x7F) {
      out += static_cast<char>(c);
    } else {
      out += "\\u00";
      out += digits[c >> 4];
      out += digits[c & 0xF];
    }
  }
  return out;
}

inline void refuse_unknown(const json& object, const std::string& where, const std::set<std::string>& known) {
  for (auto it = object.begin(); it != object.end(); ++it)
    if (!known.count(it.key())) fail(where + printable_key(it.key()), "unknown key");
}

template <typename T>
T get_uint(const json& j, const std::string& key, std::uint64_t min, std::uint64_t max) {
  if (!j.is_number_unsigned()) fail(key, "must be a whole number >= 0");
  auto v = j.get<std::uint64_t>();
  if (v < min || v > max) fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  return static_cast<T>(v);
}

inline std::string get_string(const json& j, const std::string& key) {
  if (!j.is_string()) fail(key, "must be a string");
  return j.get<std::string>();
}

inline bool get_bool(const json& j, const std::string& key) {
  if (!j.is_boolean()) fail(key, "must be true or false");
  return j.get<bool>();
}

}  // namespace tidegate::config_json
