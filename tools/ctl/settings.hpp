#pragma once
// Where tidegatectl connects and with what, from the command line, then the
// environment (TIDEGATE_ADMIN, TIDEGATE_TOKEN_FILE, TIDEGATE_CA_FILE,
// TIDEGATE_MQTT), then the user's ctl.json, then the defaults. No network here.
#include <functional>
#include <optional>
#include <string>

#include "tools/ctl/options.hpp"

namespace tidegate::ctl {

struct Settings {
  std::string admin = default_admin;
  std::string token_file;  // empty: no token
  std::string ca_file;     // empty: the system's CAs
  std::string mqtt = "127.0.0.1:1883";
  std::optional<std::string> username;
  std::string password_file;
};

// $XDG_CONFIG_HOME/tidegate/ctl.json, else $HOME/.config/tidegate/ctl.json ("" without either).
std::string ctl_config_path(const std::function<const char*(const char*)>& getenv);

// Throws UsageError: an unreadable or malformed ctl.json (a missing one is fine), an unknown key.
Settings resolve_settings(const Invocation& inv, const std::function<const char*(const char*)>& getenv);

}  // namespace tidegate::ctl
