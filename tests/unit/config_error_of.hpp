#pragma once
// The message parse_config refuses a config with ("" when it accepts it).
#include <string>

#include "gateway/config/config.hpp"

inline std::string config_error_of(const std::string& json) {
  try {
    tidegate::parse_config(json);
  } catch (const tidegate::ConfigError& e) {
    return e.what();
  }
  return "";
}
