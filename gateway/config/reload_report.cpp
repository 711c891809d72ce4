#include "gateway/config/reload_report.hpp"

#include <algorithm>
#include <set>

namespace tidegate {
namespace {

using nlohmann::json;

// Applied at once: the log settings, the live limits (LiveLimits, the ingest
// thread's limits), the bridges (started, restarted or stopped) and the rules.
const std::set<std::string>& applied_now() {
  static const std::set<std::string> keys = {
      "log_level", "log_format", "log_file", "max_connections", "max_output_bytes", "max_inflight",
      "max_subscriptions_per_client", "max_topic_length", "max_topic_levels", "max_retained_messages",
      "max_retained_bytes", "retention_bytes", "retention_seconds", "max_session_backlog",
      "max_shared_publish_bytes", "bridges", "rules", "streams"};
  return keys;
}

// Bound to a connection at CONNECT: later connections get the new rules.
const std::set<std::string>& for_new_connections() {
  static const std::set<std::string> keys = {"password_file", "acl_file", "acl_deny", "allow_anonymous"};
  return keys;
}

// Sections compared by their own keys, so the report names the one that changed.
bool compared_by_subkey(const std::string& key) { return key == "admin" || key == "cluster"; }

void compare_object(const json& a, const json& b, const std::string& prefix, std::vector<std::string>& changed) {
  std::set<std::string> keys;
  if (a.is_object())
    for (auto it = a.begin(); it != a.end(); ++it) keys.insert(it.key());
  if (b.is_object())
    for (auto it = b.begin(); it != b.end(); ++it) keys.insert(it.key());
  for (const auto& key : keys) {
    const bool in_a = a.is_object() && a.contains(key), in_b = b.is_object() && b.contains(key);
    if (in_a && in_b && a[key] == b[key]) continue;
    if (prefix.empty() && compared_by_subkey(key) && (!in_a || a[key].is_object()) && (!in_b || b[key].is_object())) {
      compare_object(in_a ? a[key] : json::object(), in_b ? b[key] : json::object(), key + ".", changed);
      continue;
    }
    changed.push_back(prefix + key);
  }
}

}  // namespace

ReloadReport compare_for_reload(const json& running, const json& next) {
  ReloadReport report;
  compare_object(running, next, "", report.changed);
  for (const auto& key : report.changed) {
    if (applied_now().count(key)) report.applied.push_back(key);
    else if (for_new_connections().count(key)) report.new_connections.push_back(key);
    else report.restart_needed.push_back(key);
  }
  return report;
}

json running_after_reload(const json& running, const json& next, const ReloadReport& report) {
  json out = running.is_object() ? running : json::object();
  auto take = [&](const std::string& key) {
    if (next.contains(key)) out[key] = next[key];
    else out.erase(key);
  };
  for (const auto& key : report.applied) take(key);
  for (const auto& key : report.new_connections) take(key);
  return out;
}

}  // namespace tidegate
