#include "tools/ctl/settings.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace tidegate::ctl {

std::string ctl_config_path(const std::function<const char*(const char*)>& getenv) {
  if (const char* xdg = getenv("XDG_CONFIG_HOME"); xdg && *xdg) return std::string(xdg) + "/tidegate/ctl.json";
  if (const char* home = getenv("HOME"); home && *home) return std::string(home) + "/.config/tidegate/ctl.json";
  return "";
}

namespace {

nlohmann::json read_ctl_json(const std::string& path) {
  if (path.empty()) return nlohmann::json::object();
  errno = 0;
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return nlohmann::json::object();  // optional
    throw UsageError("cannot read " + path + ": " + std::strerror(errno), "");
  }
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(path + " is not valid JSON: " + e.what(), "");
  }
  if (!doc.is_object()) throw UsageError(path + " must hold a JSON object", "");
  static const std::set<std::string> known = {"admin", "token_file", "ca_file", "mqtt", "username", "password_file"};
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (!known.count(it.key())) throw UsageError(path + ": unknown key '" + it.key() + "'", "");
    if (!it->is_string()) throw UsageError(path + ": " + it.key() + " must be a string", "");
  }
  return doc;
}

}  // namespace

Settings resolve_settings(const Invocation& inv, const std::function<const char*(const char*)>& getenv) {
  auto file = read_ctl_json(ctl_config_path(getenv));
  Settings s;
  // The first that has a value: option, environment variable, ctl.json key.
  auto pick = [&](const std::optional<std::string>& option, const char* env, const char* key, std::string& out) {
    if (option) {
      out = *option;
    } else if (const char* v = env ? getenv(env) : nullptr; v && *v) {
      out = v;
    } else if (file.contains(key)) {
      out = file[key].get<std::string>();
    }
  };
  pick(inv.admin, "TIDEGATE_ADMIN", "admin", s.admin);
  pick(inv.token_file, "TIDEGATE_TOKEN_FILE", "token_file", s.token_file);
  pick(inv.ca_file, "TIDEGATE_CA_FILE", "ca_file", s.ca_file);
  pick(inv.mqtt, "TIDEGATE_MQTT", "mqtt", s.mqtt);
  pick(inv.password_file, nullptr, "password_file", s.password_file);
  std::string username;
  pick(inv.username, nullptr, "username", username);
  if (!username.empty()) s.username = username;
  return s;
}

}  // namespace tidegate::ctl
