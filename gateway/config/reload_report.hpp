#pragma once
// What a reload (SIGHUP, POST /api/v1/reload) changed, key by key, and what
// became of each change: in effect now, for new connections, or only after a
// restart (docs/configuration.md has each key's column). Pure; main thread.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace tidegate {

struct ReloadReport {
  std::string error;                         // not empty: the file was refused, nothing changed
  std::vector<std::string> changed;          // keys whose value in the file differs from the running one
  std::vector<std::string> applied;          // of those: in effect now
  std::vector<std::string> new_connections;  // in effect for connections made from now on
  std::vector<std::string> restart_needed;   // still the running value until the gateway restarts
};

// Compares the config the gateway runs with (`running`, as JSON) with the
// file read again (`next`), key by key: top-level keys, and `admin.*` and
// `cluster.*` by their own keys. A key absent from one side counts as changed.
ReloadReport compare_for_reload(const nlohmann::json& running, const nlohmann::json& next);

// `running` after the reload: the keys that took effect take their new value,
// the restart-only ones keep theirs (so the next reload reports them again).
nlohmann::json running_after_reload(const nlohmann::json& running, const nlohmann::json& next,
                                    const ReloadReport& report);

}  // namespace tidegate
