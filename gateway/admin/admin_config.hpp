#pragma once
// The "admin" section of the config file (docs/security.md, "Admin API";
// docs/operations.md). Each refusal names the key and the reason.
#include <nlohmann/json.hpp>

#include "gateway/config/config.hpp"

namespace tidegate::admin {

// Throws ConfigError. Also refuses a listener reachable from other hosts
// (admin.bind not a loopback address) without admin.token_file, unless
// admin.allow_insecure_remote is true.
AdminConfig parse_admin_config(const nlohmann::json& section);

// A token file's content without trailing whitespace; throws ConfigError
// ("KEY: cannot read PATH: REASON", or empty).
std::string read_admin_token(const std::string& key, const std::string& path);

}  // namespace tidegate::admin
