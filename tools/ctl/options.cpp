#include "tools/ctl/options.hpp"

#include <charconv>
#include <cmath>
#include <ctime>
#include <map>
#include <set>

namespace tidegate::ctl {

namespace {

const char* const tool_help =
    "usage: tidegatectl [--admin ADDRESS] [--token-file FILE] [--json] [--timeout SECONDS]\n"
    "                   COMMAND [ARGS]\n"
    "\n"
    "Inspects and operates a running tidegate gateway through its admin HTTP API.\n"
    "\n"
    "Commands:\n"
    "  sessions list [--prefix P] [--online|--offline] [--limit N] [--offset M]\n"
    "                          list sessions, sorted by client id\n"
    "  sessions show ID        one session with its subscriptions and queues\n"
    "  sessions kick ID        disconnect a client; a persistent session stays\n"
    "  sessions delete ID      end a session, disconnecting it first if online\n"
    "  retained list [--prefix P] [--sys] [--limit N] [--offset M]\n"
    "                          list retained messages with a payload preview\n"
    "  retained delete TOPIC   delete the retained message of a topic\n"
    "  subs [--prefix P] [--filter-prefix F] [--limit N] [--offset M]\n"
    "                          every session's subscriptions\n"
    "  topics [--prefix P] [--limit N] [--offset M]\n"
    "                          live queues (subscribed filters): subscribers and\n"
    "                          newest message\n"
    "  bridges                 each bridge to a cloud broker: link state, backlog,\n"
    "                          messages out and in, last error\n"
    "  rules list              each rule's actions: delivered, failed, backlog\n"
    "  rules show NAME         one rule's actions with every counter\n"
    "  rules pause|resume NAME stop or restart a rule's deliveries\n"
    "  rules replay NAME --from SEQ|TIME\n"
    "                          deliver again what the store holds from there on\n"
    "  streams list            each stream: filter, newest sequence, groups\n"
    "  streams show NAME       one stream with its consumer groups\n"
    "  streams read NAME [--from SEQ|TIME] [--group G [--commit]] [--max N] [--wait S]\n"
    "                          print a stream's messages\n"
    "  cluster                 cluster mode: this node, its NATS link, notify and\n"
    "                          takeover counters\n"
    "  stats                   counters and gauges of the gateway\n"
    "  reload                  re-read the gateway's config file (as SIGHUP) and\n"
    "                          say what changed and what needs a restart\n"
    "  pub TOPIC MESSAGE [--qos Q] [--retain]\n"
    "                          publish one message through the MQTT listener\n"
    "  sub FILTER [--qos Q] [--count N] [--wait SECONDS] [--payload-only]\n"
    "                          print messages through the MQTT listener\n"
    "  help [COMMAND]          help on a command (as COMMAND --help)\n"
    "\n"
    "Options (before or after the command):\n"
    "  --admin ADDRESS     where the admin API listens: HOST:PORT, [V6]:PORT or\n"
    "                      the URL the gateway logs, http(s)://HOST:PORT\n"
    "                      (default 127.0.0.1:9883)\n"
    "  --token-file FILE   send the token in FILE (trailing whitespace stripped)\n"
    "                      as \"Authorization: Bearer\"; needed when the gateway's\n"
    "                      admin.token_file is set\n"
    "  --ca-file FILE      https: trust this CA instead of the system's\n"
    "  --mqtt HOST:PORT    pub and sub: the gateway's MQTT listener\n"
    "                      (default 127.0.0.1:1883)\n"
    "  --username U        pub and sub: the MQTT user name\n"
    "  --password-file F   pub and sub: the MQTT password, in a file\n"
    "  --json              print the API's JSON answer unchanged\n"
    "  --timeout SECONDS   deadline for connecting and again for the answer\n"
    "                      (default 10)\n"
    "  -h, --help          this help; 'tidegatectl COMMAND --help' for a command\n"
    "  --version           print the version\n"
    "\n"
    "Environment: TIDEGATE_ADMIN, TIDEGATE_TOKEN_FILE, TIDEGATE_CA_FILE and\n"
    "TIDEGATE_MQTT stand for the options of the same names. Then\n"
    "$XDG_CONFIG_HOME/tidegate/ctl.json (default ~/.config/tidegate/ctl.json)\n"
    "may hold {\"admin\", \"token_file\", \"ca_file\", \"mqtt\", \"username\",\n"
    "\"password_file\"}. An option beats the environment, which beats the file.\n"
    "\n"
    "Exit status: 0 done; 1 the API answered with an error (its message is\n"
    "printed); 2 usage error; 3 the admin API (or the MQTT listener) could not be\n"
    "reached; 4 reloaded, but a changed key needs a restart.\n";

const char* const sessions_help =
    "usage: tidegatectl [OPTIONS] sessions list [--prefix P] [--online|--offline]\n"
    "                                           [--limit N] [--offset M]\n"
    "       tidegatectl [OPTIONS] sessions show ID\n"
    "       tidegatectl [OPTIONS] sessions kick ID\n"
    "       tidegatectl [OPTIONS] sessions delete ID\n"
    "\n"
    "  list    sessions sorted by client id, online and offline (persistent) ones\n"
    "  show    one session: connection, subscriptions, inflight messages, queues\n"
    "  kick    disconnect the client (MQTT 5: DISCONNECT 0x98, administrative\n"
    "          action); a persistent session stays, offline\n"
    "  delete  end the session: disconnect it if online, drop its subscriptions\n"
    "          and queued messages\n"
    "\n"
    "ID is the MQTT client id, as it is (it is percent-encoded for the URL).\n"
    "'tidegatectl sessions COMMAND --help' has the details; 'tidegatectl --help'\n"
    "the global options.\n";

const char* const sessions_list_help =
    "usage: tidegatectl [OPTIONS] sessions list [--prefix P] [--online|--offline]\n"
    "                                           [--limit N] [--offset M]\n"
    "\n"
    "Lists sessions sorted by client id: CLIENT ID, STATE, PROTOCOL, ADDRESS,\n"
    "CONNECTED SINCE (UTC), KEEPALIVE (seconds), PERSISTENT.\n"
    "\n"
    "  --prefix P   only client ids that start with P\n"
    "  --online     only connected clients\n"
    "  --offline    only persistent sessions without a connection\n"
    "  --limit N    at most N sessions (the gateway may cap N)\n"
    "  --offset M   skip the first M sessions (paging, with --limit)\n"
    "\n"
    "With --json: {\"total\": T, \"sessions\": [...]} as the API answers it.\n";

const char* const sessions_show_help =
    "usage: tidegatectl [OPTIONS] sessions show ID\n"
    "\n"
    "Shows one session: state, protocol, address, connected since, keep alive,\n"
    "persistence and expiry interval, inflight messages, then its subscriptions\n"
    "(filter, QoS, MQTT 5 options, subscription id) and queue positions.\n"
    "Exit status 1 if there is no session with this client id.\n";

const char* const sessions_kick_help =
    "usage: tidegatectl [OPTIONS] sessions kick ID\n"
    "\n"
    "Disconnects the client with this id. An MQTT 5 client receives DISCONNECT\n"
    "with reason 0x98 (administrative action); an MQTT 3.1.1 client sees the\n"
    "connection close. A persistent session stays, offline, and the client may\n"
    "reconnect to it.\n"
    "Exit status 1 if no client with this id is connected.\n";

const char* const sessions_delete_help =
    "usage: tidegatectl [OPTIONS] sessions delete ID\n"
    "\n"
    "Ends the session of this client id: disconnects it if it is online, then\n"
    "drops its subscriptions and undelivered messages. The next CONNECT with this\n"
    "id starts a new session (session present 0).\n"
    "Exit status 1 if there is no session with this client id.\n";

const char* const retained_help =
    "usage: tidegatectl [OPTIONS] retained list [--prefix P]\n"
    "       tidegatectl [OPTIONS] retained delete TOPIC\n"
    "\n"
    "  list    retained messages: TOPIC, QOS, BYTES, PREVIEW\n"
    "  delete  delete the retained message of TOPIC (an exact topic name, not a\n"
    "          filter), as an empty retained PUBLISH would\n"
    "\n"
    "'tidegatectl retained COMMAND --help' has the details.\n";

const char* const retained_list_help =
    "usage: tidegatectl [OPTIONS] retained list [--prefix P] [--sys] [--limit N]\n"
    "                                           [--offset M]\n"
    "\n"
    "Lists retained messages sorted by topic: TOPIC, QOS, BYTES (payload size),\n"
    "PREVIEW (the payload's start as text, or hex: for binary).\n"
    "\n"
    "  --prefix P   only topics that start with P (a plain string prefix, not a\n"
    "               topic filter)\n"
    "  --sys        the gateway's own $SYS/broker/... topics too, after the others\n"
    "  --limit N    at most N messages (0: all of them; the gateway caps a page)\n"
    "  --offset M   skip the first M (paging, with --limit)\n"
    "\n"
    "With --json: {\"total\": T, \"retained\": [...]} as the API answers it.\n";

const char* const retained_delete_help =
    "usage: tidegatectl [OPTIONS] retained delete TOPIC\n"
    "\n"
    "Deletes the retained message of TOPIC (an exact topic name; wildcards are\n"
    "not expanded). Exit status 1 if the topic has no retained message.\n";

const char* const subs_help =
    "usage: tidegatectl [OPTIONS] subs [--prefix P] [--filter-prefix F]\n"
    "                                  [--limit N] [--offset M]\n"
    "\n"
    "Lists the subscriptions of every session, online and offline (persistent),\n"
    "sorted by client id, then filter: CLIENT ID, STATE, FILTER, QOS, NO LOCAL,\n"
    "RETAIN AS PUBLISHED, RETAIN HANDLING, SUBSCRIPTION ID (MQTT 5 options; a\n"
    "3.1.1 client's are the defaults).\n"
    "\n"
    "  --prefix P          only sessions whose client id starts with P\n"
    "  --filter-prefix F   only filters that start with F (a plain string\n"
    "                      prefix, not a topic filter)\n"
    "  --limit N           at most N subscriptions (the gateway may cap N)\n"
    "  --offset M          skip the first M subscriptions (paging, with --limit)\n"
    "\n"
    "With --json: {\"total\": T, \"subscriptions\": [...]} as the API answers it.\n";

const char* const topics_help =
    "usage: tidegatectl [OPTIONS] topics [--prefix P] [--limit N] [--offset M]\n"
    "\n"
    "Lists the live queues: one per topic filter that a session, online or\n"
    "offline, subscribes to (a shared subscription group $share/G/F is one),\n"
    "sorted by filter: FILTER, SUBSCRIBERS (sessions; for a group its members),\n"
    "LAST SEQUENCE (the newest message put into the queue; - for none),\n"
    "MESSAGES (put into it since it went live: two readings give a rate),\n"
    "BACKLOG (stored messages its persistent sessions have not taken).\n"
    "\n"
    "  --prefix P   only filters that start with P (a plain string prefix)\n"
    "  --limit N    at most N queues (the gateway may cap N)\n"
    "  --offset M   skip the first M queues (paging, with --limit)\n"
    "\n"
    "With --json: {\"total\": T, \"topics\": [...]} as the API answers it.\n";

const char* const bridges_help =
    "usage: tidegatectl [OPTIONS] bridges\n"
    "\n"
    "Lists the gateway's bridges (docs/bridge.md): NAME, ADDRESS, STATE (up or\n"
    "down, and for how long), BACKLOG (stored messages not yet acknowledged by\n"
    "the remote broker), OUT and IN (messages since the start), FAILURES\n"
    "(connection attempts that failed) and LAST ERROR with how long ago (only\n"
    "while the link is down: an error of a link that came up again is in the\n"
    "gateway's log).\n"
    "With --json: {\"bridges\": [...]} as the API answers it.\n";

const char* const rules_help =
    "usage: tidegatectl [OPTIONS] rules list\n"
    "       tidegatectl [OPTIONS] rules show NAME\n"
    "       tidegatectl [OPTIONS] rules pause NAME\n"
    "       tidegatectl [OPTIONS] rules resume NAME\n"
    "       tidegatectl [OPTIONS] rules replay NAME --from SEQ|TIME\n"
    "\n"
    "  list    every rule's actions (docs/events.md): RULE, ACTION (its index\n"
    "          and kind), STATE (running or paused), DELIVERED, FAILED (attempts),\n"
    "          DEAD (dead-lettered or dropped), LOST (to retention), BACKLOG\n"
    "          (stored messages after the committed offset) and LAST ERROR\n"
    "  show    one rule with each action's counters and committed offset\n"
    "  pause   stop delivering; messages wait in the store (the backlog grows)\n"
    "  resume  deliver again from the committed offset\n"
    "  replay  deliver from --from on what the store still holds of the rule's\n"
    "          filter: a sequence number, a time in RFC 3339 UTC\n"
    "          (2026-12-07T22:00:00Z) or ago (-1h, -30m, -90s); events keep their ids\n"
    "With --json, the API's object. Exit status 1 for a rule that does not exist.\n";

const char* const streams_help =
    "usage: tidegatectl [OPTIONS] streams list\n"
    "       tidegatectl [OPTIONS] streams show NAME\n"
    "       tidegatectl [OPTIONS] streams read NAME [--from SEQ|TIME] [--group G [--commit]]\n"
    "                                                [--max N] [--wait SECONDS]\n"
    "\n"
    "  list  every stream (docs/events.md): NAME, FILTER, LAST SEQ (the newest\n"
    "        message in it) and its consumer groups with their committed offsets\n"
    "  show  one stream\n"
    "  read  one line per message, \"SEQ TOPIC PAYLOAD\" (a binary payload as\n"
    "        base64:...), oldest first:\n"
    "    --from SEQ|TIME  from this sequence, or the first message stored at or\n"
    "                     after a time (RFC 3339 UTC, or -1h, -30m, -90s); default:\n"
    "                     the oldest the store holds\n"
    "    --group G        from after consumer group G's committed offset\n"
    "    --commit         with --group: commit the last sequence printed\n"
    "    --max N          at most N messages (default 100, at most 1000)\n"
    "    --wait SECONDS   when there is none yet, wait up to this long (at most 30)\n"
    "With --json, the API's object. Exit status 1 for a stream that does not exist.\n";

const char* const cluster_help =
    "usage: tidegatectl [OPTIONS] cluster\n"
    "\n"
    "Shows cluster mode (docs/cluster.md): this gateway's node id, the JetStream\n"
    "stream and whether the NATS link is up, how notify reaches the other\n"
    "gateways, and the counters of appends, notify events, catch-ups, shared\n"
    "groups, takeovers and sessions moved between gateways. A gateway that is\n"
    "not in a cluster says so.\n"
    "With --json, the API's object.\n";

const char* const stats_help =
    "usage: tidegatectl [OPTIONS] stats\n"
    "\n"
    "Shows the gateway's counters and gauges: version, uptime, connections,\n"
    "sessions, messages and bytes in and out, store and retained sizes, live\n"
    "queues and dropped messages by reason. With --json, the API's object.\n";

const char* const reload_help =
    "usage: tidegatectl [OPTIONS] reload\n"
    "\n"
    "Asks the gateway to read its config file again, as SIGHUP does, and prints\n"
    "the keys that changed: applied now (log settings, live limits, bridges),\n"
    "for new connections (password and ACL files, acl_deny, allow_anonymous),\n"
    "and those that NEED A RESTART (listeners, store, plugins...; the running\n"
    "value stays until then: exit status 4). The files the config names and\n"
    "the TLS certificates are read again in any case. If the file or a file it\n"
    "names is bad, nothing changes and the reason is printed (exit status 1).\n";

const char* const pub_help =
    "usage: tidegatectl [OPTIONS] pub TOPIC MESSAGE [--qos Q] [--retain]\n"
    "\n"
    "Publishes MESSAGE on TOPIC as an MQTT 3.1.1 client of the gateway's MQTT\n"
    "listener (--mqtt, default 127.0.0.1:1883), with --username and\n"
    "--password-file if the listener wants them; returns once the gateway\n"
    "acknowledged it (QoS 1 and 2) or it was sent (QoS 0).\n"
    "\n"
    "  --qos Q     0, 1 or 2 (default 0)\n"
    "  --retain    a retained message (an empty MESSAGE clears the topic)\n";

const char* const sub_help =
    "usage: tidegatectl [OPTIONS] sub FILTER [--qos Q] [--count N] [--wait SECONDS]\n"
    "                                  [--payload-only]\n"
    "\n"
    "Subscribes to FILTER through the gateway's MQTT listener (as pub) and\n"
    "prints one line per message, \"TOPIC PAYLOAD\", retained ones first.\n"
    "\n"
    "  --qos Q          0, 1 or 2 (default 0)\n"
    "  --count N        stop after N messages (exit status 0)\n"
    "  --wait SECONDS   stop when no message came for this long\n"
    "  --payload-only   print the payload only\n";

const std::map<std::string, const char*>& help_topics() {
  static const std::map<std::string, const char*> topics = {
      {"", tool_help},
      {"sessions", sessions_help},
      {"sessions list", sessions_list_help},
      {"sessions show", sessions_show_help},
      {"sessions kick", sessions_kick_help},
      {"sessions delete", sessions_delete_help},
      {"retained", retained_help},
      {"retained list", retained_list_help},
      {"retained delete", retained_delete_help},
      {"subs", subs_help},
      {"topics", topics_help},
      {"bridges", bridges_help},
      {"rules", rules_help},
      {"rules list", rules_help},
      {"rules show", rules_help},
      {"rules pause", rules_help},
      {"rules resume", rules_help},
      {"rules replay", rules_help},
      {"streams", streams_help},
      {"streams list", streams_help},
      {"streams show", streams_help},
      {"streams read", streams_help},
      {"cluster", cluster_help},
      {"stats", stats_help},
      {"reload", reload_help},
      {"pub", pub_help},
      {"sub", sub_help},
  };
  return topics;
}

// Options that take a value, and flags. Global ones are valid with every command.
const std::set<std::string> global_valued = {"--admin",    "--token-file", "--timeout",      "--ca-file",
                                             "--mqtt",     "--username",   "--password-file"};
const std::set<std::string> global_flags = {"--json", "--help", "-h", "--version"};
const std::set<std::string> command_valued = {"--prefix", "--filter-prefix", "--limit", "--offset", "--from", "--group",
                                              "--max",
                                              "--qos",    "--count",         "--wait"};
const std::set<std::string> command_flags = {"--online", "--offline", "--sys", "--retain", "--payload-only", "--commit"};

// The options each command takes (beyond the global ones): for the parser and
// for shell completion.
const std::map<std::string, std::set<std::string>>& command_options() {
  static const std::map<std::string, std::set<std::string>> options = {
      {"sessions list", {"--prefix", "--online", "--offline", "--limit", "--offset"}},
      {"retained list", {"--prefix", "--sys", "--limit", "--offset"}},
      {"subs", {"--prefix", "--filter-prefix", "--limit", "--offset"}},
      {"topics", {"--prefix", "--limit", "--offset"}},
      {"pub", {"--qos", "--retain"}},
      {"sub", {"--qos", "--count", "--wait", "--payload-only"}},
      {"rules replay", {"--from"}},
      {"streams read", {"--from", "--group", "--commit", "--max", "--wait"}},
  };
  return options;
}

std::uint8_t parse_qos(const std::string& value, const std::string& topic) {
  if (value != "0" && value != "1" && value != "2") throw UsageError("--qos wants 0, 1 or 2, not '" + value + "'", topic);
  return static_cast<std::uint8_t>(value[0] - '0');
}

unsigned long long parse_count(const std::string& option, const std::string& value, const std::string& topic) {
  unsigned long long n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size())
    throw UsageError(option + " wants a non-negative integer, not '" + value + "'", topic);
  return n;
}

void parse_replay_from(const std::string& value, RulesReplay& cmd, const std::string& topic) {
  const std::string bad = "--from wants a sequence number, an RFC 3339 UTC time (2026-12-07T22:00:00Z) or -1h, -30m, -90s";
  if (!value.empty() && value.find_first_not_of("0123456789") == std::string::npos) {
    cmd.from_seq = std::stoull(value);
    return;
  }
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  if (value.size() >= 3 && value[0] == '-') {
    std::int64_t n = 0;
    auto [end, ec] = std::from_chars(value.data() + 1, value.data() + value.size() - 1, n);
    const char unit = value.back();
    const std::int64_t scale = unit == 's' ? 1000 : unit == 'm' ? 60'000 : unit == 'h' ? 3'600'000 : unit == 'd' ? 86'400'000 : 0;
    if (ec != std::errc() || end != value.data() + value.size() - 1 || !scale) throw UsageError(bad, topic);
    cmd.from_time_ms = now_ms - n * scale;
    return;
  }
  std::tm tm{};
  const char* rest = strptime(value.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) throw UsageError(bad, topic);
  std::int64_t ms = 0;
  if (*rest == '.') {  // a fraction: its first three digits are milliseconds
    int digits = 0;
    for (++rest; std::isdigit(static_cast<unsigned char>(*rest)); ++rest)
      if (digits++ < 3) ms = ms * 10 + (*rest - '0');
    for (; digits < 3; ++digits) ms *= 10;
  }
  if (std::string_view(rest) != "Z") throw UsageError(bad, topic);
  cmd.from_time_ms = static_cast<std::int64_t>(timegm(&tm)) * 1000 + ms;
}

std::chrono::milliseconds parse_timeout(const std::string& value) {
  double seconds = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size() || !std::isfinite(seconds) ||
      seconds <= 0 || seconds > 86400)
    throw UsageError("--timeout wants a number of seconds above 0, not '" + value + "'", "");
  return std::chrono::milliseconds(static_cast<long long>(std::ceil(seconds * 1000)));
}

}  // namespace

std::string help_text(const std::string& topic) {
  auto it = help_topics().find(topic);
  return it == help_topics().end() ? tool_help : it->second;
}

namespace {
// What the command line holds before the command is known.
struct ScannedArguments {
  std::vector<std::string> words;                               // command words and operands
  std::vector<std::pair<std::string, std::string>> cmd_options;  // in order, value "" for flags
  bool help = false;
  bool version = false;
  bool options_done = false;
  std::optional<std::string> bad_option;  // reported once the command (and its help) is known
};

// Global options go into `inv`; the rest is sorted into words and options.
ScannedArguments scan_arguments(const std::vector<std::string>& args, Invocation& inv) {
  ScannedArguments sc;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (sc.options_done || arg.size() < 2 || arg[0] != '-') {
      sc.words.push_back(arg);
      continue;
    }
    if (arg == "--") {
      sc.options_done = true;
      continue;
    }
    std::string name = arg;
    std::optional<std::string> value;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    bool valued = global_valued.count(name) || command_valued.count(name);
    bool flag = global_flags.count(name) || command_flags.count(name);
    if (!valued && !flag) {
      if (!sc.bad_option) sc.bad_option = "unknown option '" + name + "'";
      continue;
    }
    if (flag && value) {
      if (!sc.bad_option) sc.bad_option = "option '" + name + "' takes no value";
      continue;
    }
    if (valued && !value) {
      if (i + 1 == args.size()) throw UsageError("option '" + name + "' needs a value", "");
      value = args[++i];
    }
    if (name == "--admin") inv.admin = *value;
    else if (name == "--token-file") {
      if (value->empty()) throw UsageError("--token-file wants a file name", "");
      inv.token_file = *value;
    } else if (name == "--ca-file") inv.ca_file = *value;
    else if (name == "--mqtt") inv.mqtt = *value;
    else if (name == "--username") inv.username = *value;
    else if (name == "--password-file") inv.password_file = *value;
    else if (name == "--timeout") inv.timeout = parse_timeout(*value);
    else if (name == "--json") inv.json = true;
    else if (name == "--help" || name == "-h") sc.help = true;
    else if (name == "--version") sc.version = true;
    else sc.cmd_options.emplace_back(name, value.value_or(""));
  }

  return sc;
}

// The help topic the command words name: the longest run that names one
// (topic "" and 0 words used when none does).
std::pair<std::string, std::size_t> find_topic(const std::vector<std::string>& words) {
  std::string topic;
  std::size_t used = 0;
  if (!words.empty() && help_topics().count(words[0])) {
    topic = words[0];
    used = 1;
    if (words.size() > 1 && help_topics().count(topic + " " + words[1])) {
      topic += " " + words[1];
      used = 2;
    }
  }
  return {topic, used};
}

// The command named by `topic`, with its operands and options checked.
Command build_command(const std::string& topic, const std::vector<std::string>& operands,
                      const std::vector<std::pair<std::string, std::string>>& cmd_options) {
  std::set<std::string> allowed;
  if (auto it = command_options().find(topic); it != command_options().end()) allowed = it->second;
  for (const auto& [name, value] : cmd_options)
    if (!allowed.count(name)) throw UsageError("'" + topic + "' has no option '" + name + "'", topic);

  auto one_operand = [&](const char* what) {
    if (operands.size() != 1)
      throw UsageError("'" + topic + "' wants " + (operands.empty() ? "one " : "only one ") + what, topic);
    if (operands[0].empty()) throw UsageError(std::string("the ") + what + " is empty", topic);
    return operands[0];
  };
  auto no_operand = [&] {
    if (!operands.empty()) throw UsageError("'" + topic + "' takes no argument '" + operands[0] + "'", topic);
  };

  if (topic == "sessions list") {
    no_operand();
    SessionsList cmd;
    for (const auto& [name, value] : cmd_options) {
      if (name == "--prefix") cmd.prefix = value;
      else if (name == "--limit") cmd.limit = parse_count(name, value, topic);
      else if (name == "--offset") cmd.offset = parse_count(name, value, topic);
      else {
        bool online = name == "--online";
        if (cmd.online && *cmd.online != online) throw UsageError("--online and --offline exclude each other", topic);
        cmd.online = online;
      }
    }
    return cmd;
  } else if (topic == "sessions show") {
    return SessionsShow{one_operand("client id")};
  } else if (topic == "sessions kick") {
    return SessionsKick{one_operand("client id")};
  } else if (topic == "sessions delete") {
    return SessionsDelete{one_operand("client id")};
  } else if (topic == "retained list") {
    no_operand();
    RetainedList cmd;
    for (const auto& [name, value] : cmd_options) {
      if (name == "--prefix") cmd.prefix = value;
      else if (name == "--sys") cmd.sys = true;
      else if (name == "--limit") cmd.limit = parse_count(name, value, topic);
      else cmd.offset = parse_count(name, value, topic);
    }
    return cmd;
  } else if (topic == "retained delete") {
    return RetainedDelete{one_operand("topic")};
  } else if (topic == "subs") {
    no_operand();
    Subs cmd;
    for (const auto& [name, value] : cmd_options) {
      if (name == "--prefix") cmd.prefix = value;
      else if (name == "--filter-prefix") cmd.filter_prefix = value;
      else if (name == "--limit") cmd.limit = parse_count(name, value, topic);
      else cmd.offset = parse_count(name, value, topic);
    }
    return cmd;
  } else if (topic == "topics") {
    no_operand();
    Topics cmd;
    for (const auto& [name, value] : cmd_options) {
      if (name == "--prefix") cmd.prefix = value;
      else if (name == "--limit") cmd.limit = parse_count(name, value, topic);
      else cmd.offset = parse_count(name, value, topic);
    }
    return cmd;
  } else if (topic == "reload") {
    no_operand();
    return Reload{};
  } else if (topic == "pub") {
    if (operands.size() != 2 || operands[0].empty())
      throw UsageError("'pub' wants a TOPIC and a MESSAGE (\"\" for an empty one)", topic);
    Pub cmd{operands[0], operands[1]};
    for (const auto& [name, value] : cmd_options) {
      if (name == "--qos") cmd.qos = parse_qos(value, topic);
      else cmd.retain = true;
    }
    return cmd;
  } else if (topic == "sub") {
    Sub cmd{one_operand("topic filter")};
    for (const auto& [name, value] : cmd_options) {
      if (name == "--qos") cmd.qos = parse_qos(value, topic);
      else if (name == "--count") cmd.count = parse_count(name, value, topic);
      else if (name == "--wait") cmd.wait = parse_timeout(value);
      else cmd.with_topic = false;
    }
    return cmd;
  } else if (topic == "bridges") {
    no_operand();
    return Bridges{};
  } else if (topic == "rules list") {
    no_operand();
    return RulesList{};
  } else if (topic == "rules show") {
    return RulesShow{one_operand("rule name")};
  } else if (topic == "streams list") {
    no_operand();
    return StreamsList{};
  } else if (topic == "streams show") {
    return StreamsShow{one_operand("stream name")};
  } else if (topic == "streams read") {
    StreamsRead cmd{one_operand("stream name")};
    for (const auto& [name, value] : cmd_options) {
      if (name == "--from") {
        RulesReplay from;
        parse_replay_from(value, from, topic);
        cmd.from_seq = from.from_seq;
        cmd.from_time_ms = from.from_time_ms;
      } else if (name == "--group") {
        cmd.group = value;
      } else if (name == "--commit") {
        cmd.commit = true;
      } else if (name == "--max") {
        cmd.max = parse_count(name, value, topic);
      } else {
        cmd.wait = parse_count(name, value, topic);
      }
    }
    if (cmd.commit && cmd.group.empty()) throw UsageError("--commit needs --group", topic);
    if (!cmd.group.empty() && (cmd.from_seq || cmd.from_time_ms)) throw UsageError("--from and --group exclude each other", topic);
    return cmd;
  } else if (topic == "rules replay") {
    RulesReplay cmd{one_operand("rule name")};
    for (const auto& [name, value] : cmd_options) parse_replay_from(value, cmd, topic);
    if (!cmd.from_seq && !cmd.from_time_ms) throw UsageError("'rules replay' wants --from SEQ|TIME", topic);
    return cmd;
  } else if (topic == "rules pause" || topic == "rules resume") {
    return RulesPause{one_operand("rule name"), topic == "rules pause"};
  } else if (topic == "cluster") {
    no_operand();
    return Cluster{};
  } else {  // stats
    no_operand();
    return Stats{};
  }
}
}  // namespace

std::vector<std::string> completions(const std::vector<std::string>& words) {
  // The words before the one being completed, and that one (possibly empty).
  std::vector<std::string> before(words.begin(), words.empty() ? words.end() : words.end() - 1);
  const std::string partial = words.empty() ? "" : words.back();
  std::vector<std::string> commands;  // command words only, options and their values left out
  for (std::size_t i = 0; i < before.size(); ++i) {
    const auto& w = before[i];
    if (w.starts_with("-")) {
      if ((global_valued.count(w) || command_valued.count(w)) && w.find('=') == std::string::npos) ++i;
      continue;
    }
    commands.push_back(w);
  }
  auto [topic, used] = find_topic(commands);
  std::set<std::string> out;
  if (partial.starts_with("-")) {
    for (const auto& o : global_valued) out.insert(o);
    for (const auto& o : global_flags) out.insert(o);
    if (auto it = command_options().find(topic); it != command_options().end()) out.insert(it->second.begin(), it->second.end());
  } else if (used == commands.size()) {
    // The next command word: the topics one word longer than `topic`.
    for (const auto& [name, text] : help_topics()) {
      if (name.empty()) continue;
      std::string rest;
      if (topic.empty()) rest = name.substr(0, name.find(' '));
      else if (name.starts_with(topic + " ")) rest = name.substr(topic.size() + 1);
      else continue;
      if (!rest.empty() && rest.find(' ') == std::string::npos) out.insert(rest);
    }
    if (topic.empty()) out.insert("help");
  }
  std::vector<std::string> result;
  for (const auto& candidate : out)
    if (candidate.starts_with(partial)) result.push_back(candidate);
  return result;
}

Invocation parse_arguments(const std::vector<std::string>& args) {
  Invocation inv;
  // `tidegatectl __complete WORD...`: what bash completion asks (completion.bash).
  if (!args.empty() && args[0] == "__complete") {
    inv.command = Complete{std::vector<std::string>(args.begin() + 1, args.end())};
    return inv;
  }
  auto sc = scan_arguments(args, inv);
  auto& words = sc.words;
  // "help sessions list" is "sessions list --help".
  if (!words.empty() && words[0] == "help") {
    words.erase(words.begin());
    sc.help = true;
  }
  const auto [topic, used] = find_topic(words);
  if (sc.help) {
    if (!words.empty() && used == 0) throw UsageError("unknown command '" + words[0] + "'", "");
    if (used < words.size() && (topic == "sessions" || topic == "retained"))
      throw UsageError("unknown command '" + topic + " " + words[used] + "'", topic);
    inv.command = ShowHelp{help_text(topic)};
    return inv;
  }
  if (sc.bad_option) throw UsageError(*sc.bad_option, used == 0 ? "" : topic);
  if (sc.version) {
    inv.command = ShowVersion{};
    return inv;
  }
  if (words.empty()) throw UsageError("no command given", "");
  if (used == 0) throw UsageError("unknown command '" + words[0] + "'", "");
  if (topic == "sessions" || topic == "retained") {
    if (words.size() == 1) throw UsageError("'" + topic + "' wants a command: list, show, ...", topic);
    throw UsageError("unknown command '" + topic + " " + words[1] + "'", topic);
  }

  std::vector<std::string> operands(words.begin() + static_cast<std::ptrdiff_t>(used), words.end());
  inv.command = build_command(topic, operands, sc.cmd_options);
  return inv;
}

}  // namespace tidegate::ctl
