#pragma once
// The command line of tidegatectl, parsed into one Invocation; no I/O here.
//   tidegatectl [--admin HOST:PORT] [--token-file F] [--json] [--timeout S] COMMAND ...
// Global options may stand before or after the command words; "--" ends the
// options, so an id or topic that starts with '-' can still be given.
#include <chrono>
#include <cstdint>
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
struct RetainedList {
  std::string prefix;
  bool sys = false;  // the gateway's own $SYS topics too (after the clients')
  std::optional<unsigned long long> limit;
  std::optional<unsigned long long> offset;
};
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
struct RulesList {};
struct RulesShow { std::string name; };
struct RulesPause { std::string name; bool pause = true; };
// --from: a sequence number, or a time (milliseconds since the epoch) from
// RFC 3339 UTC ("2026-12-07T22:00:00Z") or "-1h", "-30m", "-90s" (ago).
struct StreamsList {};
struct StreamsShow { std::string name; };
struct StreamsRead {
  std::string name;
  std::optional<std::uint64_t> from_seq;
  std::optional<std::int64_t> from_time_ms;
  std::string group;          // read from the group's committed offset
  bool commit = false;        // with group: commit the last sequence read
  unsigned long long max = 100;
  unsigned long long wait = 0;  // seconds
};
struct RulesReplay {
  std::string name;
  std::optional<std::uint64_t> from_seq;
  std::optional<std::int64_t> from_time_ms;
};
struct Cluster {};
struct Stats {};
struct Reload {};
// Quick checks through the gateway's MQTT listener (quick_client.hpp).
struct Pub {
  std::string topic;
  std::string message;
  std::uint8_t qos = 0;
  bool retain = false;
};
struct Sub {
  std::string filter;
  std::uint8_t qos = 0;
  unsigned long long count = 0;  // 0: until interrupted (or --wait)
  std::chrono::milliseconds wait{0};  // 0: no limit
  bool with_topic = true;
};
// Shell completion: the words that may follow `words` (the last one partial).
struct Complete { std::vector<std::string> words; };
// --help anywhere, or "help [COMMAND...]": print this text, exit 0.
struct ShowHelp { std::string text; };
struct ShowVersion {};

using Command = std::variant<SessionsList, SessionsShow, SessionsKick, SessionsDelete, RetainedList, RetainedDelete,
                             Subs, Topics, Bridges, RulesList, RulesShow, RulesPause, RulesReplay, StreamsList, StreamsShow, StreamsRead, Cluster, Stats, Reload, Pub, Sub, Complete, ShowHelp,
                             ShowVersion>;

// Set on the command line; what is not comes from the environment
// (TIDEGATE_ADMIN, TIDEGATE_TOKEN_FILE, TIDEGATE_MQTT), then from the user's
// ctl.json, then the defaults (settings.hpp).
struct Invocation {
  std::optional<std::string> admin;
  std::optional<std::string> token_file;
  std::optional<std::string> ca_file;
  std::optional<std::string> mqtt;
  std::optional<std::string> username;
  std::optional<std::string> password_file;
  bool json = false;
  std::chrono::milliseconds timeout{10000};
  Command command;
};

// Throws UsageError.
Invocation parse_arguments(const std::vector<std::string>& args);

// The words that may come next after `words` (the last one partial): commands
// from the help topics, options from the command's option table.
std::vector<std::string> completions(const std::vector<std::string>& words);
// The help text of a topic: "" (the tool), "sessions", "sessions list", ...
// Unknown topics get the tool's.
std::string help_text(const std::string& topic);

}  // namespace tidegate::ctl
