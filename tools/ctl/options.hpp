#pragma once
// The command line of tidegatectl, parsed into one Invocation; no I/O here.
//   tidegatectl [--admin HOST:PORT] [--token-file F] [--json] [--timeout S] COMMAND ...
// Global options may stand before or after the command words; "--" ends the
// options, so an id or topic that starts with '-' can still be given.
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace tidegate::ctl {

inline constexpr const char* default_admin = "127.0.0.1:9883";
inline constexpr const char* default_admin_port = "9883";

// A usage error: exit 2. help_topic names the help to point at ("" = the tool's).
class UsageError : public std::runtime_error {
 public:
  UsageError(const std::string& message, std::string help_topic)
      : std::runtime_error(message), help_topic(std::move(help_topic)) {}
  std::string help_topic;
};

struct SessionsList {
  std::string prefix;
  std::optional<bool> online;  // --online / --offline; none: both
  std::optional<unsigned long long> limit;
  std::optional<unsigned long long> offset;
};
struct SessionsShow { std::string id; };
struct SessionsKick { std::string id; };
struct SessionsDelete { std::string id; };
struct RetainedList { std::string prefix; };
struct RetainedDelete { std::string topic; };
struct Subs {
  std::string prefix;         // of the client id
  std::string filter_prefix;  // of the topic filter
  std::optional<unsigned long long> limit;
  std::optional<unsigned long long> offset;
};
struct Topics {
  std::string prefix;  // of the filter
  std::optional<unsigned long long> limit;
  std::optional<unsigned long long> offset;
};
struct Bridges {};
struct Cluster {};
struct Stats {};
struct Reload {};
// --help anywhere, or "help [COMMAND...]": print this text, exit 0.
struct ShowHelp { std::string text; };
struct ShowVersion {};

using Command = std::variant<SessionsList, SessionsShow, SessionsKick, SessionsDelete, RetainedList, RetainedDelete,
                             Subs, Topics, Bridges, Cluster, Stats, Reload, ShowHelp, ShowVersion>;

struct Invocation {
  std::string admin = default_admin;
  std::string token_file;  // empty: no token
  bool json = false;
  std::chrono::milliseconds timeout{10000};
  Command command;
};

// Throws UsageError.
Invocation parse_arguments(const std::vector<std::string>& args);

// The help text of a topic: "" (the tool), "sessions", "sessions list", ...
// Unknown topics get the tool's.
std::string help_text(const std::string& topic);

}  // namespace tidegate::ctl
