#pragma once
// `tidegate --check-config FILE`: everything the gateway would refuse at start,
// found without starting it. It reads the file and the files it names
// (passwords, ACLs, certificates, tokens, plugins), tries each address it would
// listen on and lets it go at once, and opens no store. Main thread, before
// anything else runs.
#include <string>
#include <vector>

namespace tidegate {

struct ConfigCheck {
  std::vector<std::string> errors;    // "key: reason": the gateway would not start
  std::vector<std::string> warnings;  // "key: reason": it may start, and something is likely wrong
};

ConfigCheck check_config_file(const std::string& path);

}  // namespace tidegate
