#pragma once
// Helpers shared by the parsers of the config file's sections: each failure
// names the key path and the reason (ConfigError "key: reason").
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

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

// Every unknown key of the object, in one ConfigError.
inline void refuse_unknown(const json& object, const std::string& where, const std::set<std::string>& known) {
  std::vector<std::string> unknown;
  for (auto it = object.begin(); it != object.end(); ++it)
    if (!known.count(it.key())) unknown.push_back(where + printable_key(it.key()) + ": unknown key");
  if (!unknown.empty()) throw ConfigError(std::move(unknown));
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

// A name that goes into ids, topics and URLs (a bridge's, a rule's, the node's).
inline std::string get_name(const json& j, const std::string& key) {
  auto name = get_string(j, key);
  if (name.empty() || name.size() > 64 ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != std::string::npos)
    fail(key, "must be 1 to 64 letters, digits, '_', '-' or '.'");
  return name;
}

inline bool get_bool(const json& j, const std::string& key) {
  if (!j.is_boolean()) fail(key, "must be true or false");
  return j.get<bool>();
}

// Collects every problem of a config instead of stopping at the first: each
// key is read on its own, and a ConfigError it throws is kept.
class Problems {
 public:
  template <typename F>
  void attempt(F&& read) {
    try {
      read();
    } catch (const ConfigError& e) {
      list_.insert(list_.end(), e.problems().begin(), e.problems().end());
    }
  }
  void add(std::string problem) { list_.push_back(std::move(problem)); }
  template <typename T>
  void uint_key(const json& object, const char* key, T& out, std::uint64_t min, std::uint64_t max) {
    if (object.contains(key)) attempt([&] { out = get_uint<T>(object[key], key, min, max); });
  }
  void bool_key(const json& object, const char* key, bool& out) {
    if (object.contains(key)) attempt([&] { out = get_bool(object[key], key); });
  }
  bool empty() const { return list_.empty(); }
  std::vector<std::string> take() { return std::move(list_); }
  void throw_if_any() {
    if (!list_.empty()) throw ConfigError(std::move(list_));
  }

 private:
  std::vector<std::string> list_;
};

}  // namespace tidegate::config_json
