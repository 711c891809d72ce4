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

}  // namespace tidegate::admin
