#include "tools/ctl/commands.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <vector>

#include "tools/ctl/percent_encode.hpp"
#include "tools/ctl/table.hpp"

namespace tidegate::ctl {

namespace {

// ordered_json keeps the gateway's key order: stats shows the keys this tool
// does not know in that order.
using json = nlohmann::ordered_json;

struct Context {
  const HttpClient& client;
  const std::string& token;
  bool json_output;
  std::ostream& out;
};

// ---------------------------------------------------------------- the exchange

std::string error_message(const HttpResponse& res, bool sent_token) {
  if (res.status == 401)
    return sent_token ? "the admin API refused the token (401)"
                      : "the admin API wants a token (401): pass --token-file";
  try {
    auto body = json::parse(res.body);
    if (body.is_object() && body.contains("error") && body["error"].is_string() &&
        !body["error"].get_ref<const std::string&>().empty())
      return printable(body["error"].get<std::string>());  // it may quote a client id
  } catch (const json::exception&) {
    // Not our JSON (a proxy's page?): fall back to the status line.
  }
  return "the admin API answered " + std::to_string(res.status) + (res.reason.empty() ? "" : " " + res.reason);
}

// Returns the body of a 2xx answer; any other status is an ApiError.
std::string call(const Context& ctx, Method method, const std::string& target) {
  HttpResponse res = ctx.client.request(method, target, ctx.token);
  if (res.status < 200 || res.status > 299) throw ApiError(error_message(res, !ctx.token.empty()));
  return res.body;
}

void print_raw(const Context& ctx, const std::string& body) {
  ctx.out << body;
  if (body.empty() || body.back() != '\n') ctx.out << '\n';
}

json parse_object(const std::string& body, const char* what) {
  json doc;
  try {
    doc = json::parse(body);
  } catch (const json::exception&) {
    throw ApiError(std::string("the admin API's answer to ") + what + " is not JSON");
  }
  if (!doc.is_object()) throw ApiError(std::string("the admin API's answer to ") + what + " is not a JSON object");
  return doc;
}

// The array `key` of an answer; anything else is a contract breach.
const json& array_of(const json& doc, const char* key, const char* what) {
  auto it = doc.find(key);
  if (it == doc.end() || !it->is_array())
    throw ApiError(std::string("the admin API's answer to ") + what + " has no \"" + key + "\" list");
  return *it;
}

// ---------------------------------------------------------------- cells

std::string scalar(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  return v.dump();
}

// A field of an object, "-" when missing or null: the table shows what the
// gateway knows and never fails on a field it left out.
std::string field(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() ? "-" : scalar(*it);
}

std::string protocol(const json& obj) {
  auto it = obj.find("protocol");
  if (it == obj.end() || !it->is_number_integer()) return "-";
  switch (it->get<int>()) {
    case 3: return "3.1";
    case 4: return "3.1.1";
    case 5: return "5.0";
    default: return it->dump();
  }
}

std::string state(const json& obj) {
  auto it = obj.find("online");
  if (it == obj.end() || !it->is_boolean()) return "-";
  return it->get<bool>() ? "online" : "offline";
}

std::string human_bytes(std::uint64_t n) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

std::string human_duration(std::uint64_t s) {
  std::string out;
  auto part = [&](std::uint64_t n, const char* unit) {
    if (n || !out.empty()) out += (out.empty() ? "" : " ") + std::to_string(n) + unit;
  };
  part(s / 86400, "d");
  part(s / 3600 % 24, "h");
  part(s / 60 % 60, "m");
  out += (out.empty() ? "" : " ") + std::to_string(s % 60) + "s";
  return out;
}

std::string seconds_field(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return "-";
  if (!it->is_number_unsigned()) return scalar(*it);
  auto s = it->get<std::uint64_t>();
  if (std::string_view(key) == "expiry_interval" && s == 0xFFFFFFFFu) return "never expires";
  return std::to_string(s) + " s";
}

// ---------------------------------------------------------------- listings

struct Listing {
  const char* what;  // "subscriptions", "topics"
  bool filtered;     // a prefix narrowed it
  std::optional<unsigned long long> offset;
};

std::string listing_query(const std::vector<std::pair<const char*, std::string>>& params) {
  std::string query;
  for (const auto& [key, value] : params)
    if (!value.empty()) query += (query.empty() ? "?" : "&") + std::string(key) + "=" + percent_encode(value);
  return query;
}

std::string count_param(const std::optional<unsigned long long>& n) { return n ? std::to_string(*n) : ""; }

// The total of a paged answer (the page's size when the gateway left it out).
std::uint64_t total_of(const json& doc, const json& page) {
  auto it = doc.find("total");
  return it != doc.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : page.size();
}

// Says why a page is empty; false when it is not.
bool print_empty_page(const Context& ctx, const Listing& l, const json& page, std::uint64_t total) {
  if (!page.empty()) return false;
  if (total > 0)  // past the end
    ctx.out << "no " << l.what << " from --offset " << l.offset.value_or(0) << " on: there " << (total == 1 ? "is " : "are ")
            << total << (l.filtered ? " matching" : " in all") << "\n";
  else
    ctx.out << "no " << l.what << (l.filtered ? " match" : "") << "\n";
  return true;
}

// A listing: one page as asked, or with --limit 0 every page (the gateway
// caps a page at 10000) merged into one answer of the same shape.
std::string call_listing(const Context& ctx, const std::string& path,
                         std::vector<std::pair<const char*, std::string>> params, const char* key,
                         std::optional<unsigned long long> limit, std::optional<unsigned long long> offset) {
  if (!limit || *limit != 0) {
    params.emplace_back("limit", count_param(limit));
    params.emplace_back("offset", count_param(offset));
    return call(ctx, Method::get, path + listing_query(params));
  }
  constexpr unsigned long long page_size = 10000;
  json merged;
  unsigned long long at = offset.value_or(0);
  for (;;) {
    auto page_params = params;
    page_params.emplace_back("limit", std::to_string(page_size));
    page_params.emplace_back("offset", std::to_string(at));
    auto doc = parse_object(call(ctx, Method::get, path + listing_query(page_params)), key);
    const auto& page = array_of(doc, key, key);
    const auto total = total_of(doc, page);
    at += page.size();
    if (merged.is_null()) {
      merged = doc;
    } else {
      for (const auto& item : page) merged[key].push_back(item);
      merged["total"] = total;
    }
    if (page.empty() || at >= total) break;
  }
  return merged.dump();
}

// Paging (the gateway caps a page even without --limit): say so when this
// page is not everything.
void print_page_footer(const Context& ctx, const Listing& l, const json& page, std::uint64_t total) {
  if (total <= page.size()) return;
  std::uint64_t first = l.offset.value_or(0);
  ctx.out << "(" << first + 1 << "-" << first + page.size() << " of " << total << " " << l.what
          << "; --offset and --limit page through them)\n";
}

// ---------------------------------------------------------------- sessions

std::string session_path(const std::string& id) { return "/api/v1/sessions/" + percent_encode(id); }

void sessions_list(const Context& ctx, const SessionsList& cmd) {
  auto body = call_listing(ctx, "/api/v1/sessions",
                           {{"prefix", cmd.prefix}, {"state", cmd.online ? (*cmd.online ? "online" : "offline") : ""}},
                           "sessions", cmd.limit, cmd.offset);
  if (ctx.json_output) return print_raw(ctx, body);

  auto doc = parse_object(body, "sessions list");
  const auto& sessions = array_of(doc, "sessions", "sessions list");
  Listing listing{"sessions", !cmd.prefix.empty() || cmd.online.has_value(), cmd.offset};
  auto total = total_of(doc, sessions);
  if (print_empty_page(ctx, listing, sessions, total)) return;
  Table table({{"CLIENT ID"},
               {"USER"},
               {"STATE"},
               {"PROTOCOL"},
               {"ADDRESS"},
               {"CONNECTED SINCE"},
               {"KEEPALIVE", Align::right},
               {"PERSISTENT"}});
  for (const auto& s : sessions)
    table.add_row({field(s, "client_id"), field(s, "username"), state(s), protocol(s), field(s, "address"),
                   field(s, "connected_since"), field(s, "keep_alive"), field(s, "persistent")});
  table.print(ctx.out);
  print_page_footer(ctx, listing, sessions, total);
}

void sessions_show(const Context& ctx, const SessionsShow& cmd) {
  auto body = call(ctx, Method::get, session_path(cmd.id));
  if (ctx.json_output) return print_raw(ctx, body);

  auto s = parse_object(body, "sessions show");
  KeyValueList kv;
  kv.add("client id", field(s, "client_id"));
  kv.add("user name", field(s, "username"));
  kv.add("state", state(s));
  kv.add("protocol", protocol(s));
  kv.add("address", field(s, "address"));
  kv.add("connected since", field(s, "connected_since"));
  kv.add("keep alive", seconds_field(s, "keep_alive"));
  kv.add("persistent", field(s, "persistent"));
  kv.add("expiry interval", seconds_field(s, "expiry_interval"));
  kv.add("inflight", field(s, "inflight"));
  if (s.contains("messages_in")) {
    kv.add("messages in/out", field(s, "messages_in") + " / " + field(s, "messages_out"));
    kv.add("bytes in/out", field(s, "bytes_in") + " / " + field(s, "bytes_out"));
  }
  kv.print(ctx.out);

  auto subs = s.find("subscriptions");
  ctx.out << "\n";
  if (subs == s.end() || !subs->is_array() || subs->empty()) {
    ctx.out << "no subscriptions\n";
  } else {
    Table table({{"FILTER"},
                 {"QOS", Align::right},
                 {"NO LOCAL"},
                 {"RETAIN AS PUBLISHED"},
                 {"RETAIN HANDLING", Align::right},
                 {"SUBSCRIPTION ID", Align::right}});
    for (const auto& sub : *subs)
      table.add_row({field(sub, "filter"), field(sub, "qos"), field(sub, "no_local"),
                     field(sub, "retain_as_published"), field(sub, "retain_handling"), field(sub, "subscription_id")});
    table.print(ctx.out);
  }

  auto queues = s.find("queues");
  if (queues != s.end() && queues->is_array() && !queues->empty()) {
    ctx.out << "\n";
    Table table({{"QUEUE"}, {"POSITION", Align::right}, {"LAG", Align::right}});
    for (const auto& q : *queues) table.add_row({field(q, "queue"), field(q, "position"), field(q, "lag")});
    table.print(ctx.out);
  }
}

void sessions_kick(const Context& ctx, const SessionsKick& cmd) {
  auto body = call(ctx, Method::post, session_path(cmd.id) + "/kick");
  if (ctx.json_output) return print_raw(ctx, body);
  ctx.out << "kicked '" << printable(cmd.id) << "'\n";
}

void sessions_delete(const Context& ctx, const SessionsDelete& cmd) {
  auto body = call(ctx, Method::del, session_path(cmd.id));
  if (ctx.json_output) return print_raw(ctx, body);
  ctx.out << "deleted the session of '" << printable(cmd.id) << "'\n";
}

// ---------------------------------------------------------------- retained

void retained_list(const Context& ctx, const RetainedList& cmd) {
  auto body = call_listing(ctx, "/api/v1/retained", {{"prefix", cmd.prefix}, {"sys", cmd.sys ? "1" : ""}},
                           "retained", cmd.limit, cmd.offset);
  if (ctx.json_output) return print_raw(ctx, body);

  auto doc = parse_object(body, "retained list");
  const auto& list = array_of(doc, "retained", "retained list");
  Listing listing{"retained messages", !cmd.prefix.empty(), cmd.offset};
  auto total = total_of(doc, list);
  if (print_empty_page(ctx, listing, list, total)) return;
  Table table({{"TOPIC"}, {"QOS", Align::right}, {"BYTES", Align::right}, {"PREVIEW"}});
  for (const auto& r : list)
    table.add_row({field(r, "topic"), field(r, "qos"), field(r, "bytes"), field(r, "preview")});
  table.print(ctx.out);
  print_page_footer(ctx, listing, list, total);
}

void retained_delete(const Context& ctx, const RetainedDelete& cmd) {
  auto body = call(ctx, Method::del, "/api/v1/retained/" + percent_encode(cmd.topic));
  if (ctx.json_output) return print_raw(ctx, body);
  ctx.out << "deleted the retained message of '" << printable(cmd.topic) << "'\n";
}

// ---------------------------------------------------------------- subs, topics

void subs(const Context& ctx, const Subs& cmd) {
  auto body = call_listing(ctx, "/api/v1/subscriptions",
                           {{"prefix", cmd.prefix}, {"filter_prefix", cmd.filter_prefix}}, "subscriptions",
                           cmd.limit, cmd.offset);
  if (ctx.json_output) return print_raw(ctx, body);

  auto doc = parse_object(body, "subs");
  const auto& list = array_of(doc, "subscriptions", "subs");
  Listing listing{"subscriptions", !cmd.prefix.empty() || !cmd.filter_prefix.empty(), cmd.offset};
  auto total = total_of(doc, list);
  if (print_empty_page(ctx, listing, list, total)) return;
  Table table({{"CLIENT ID"},
               {"STATE"},
               {"FILTER"},
               {"QOS", Align::right},
               {"NO LOCAL"},
               {"RETAIN AS PUBLISHED"},
               {"RETAIN HANDLING", Align::right},
               {"SUBSCRIPTION ID", Align::right}});
  for (const auto& sub : list)
    table.add_row({field(sub, "client_id"), state(sub), field(sub, "filter"), field(sub, "qos"),
                   field(sub, "no_local"), field(sub, "retain_as_published"), field(sub, "retain_handling"),
                   field(sub, "subscription_id")});
  table.print(ctx.out);
  print_page_footer(ctx, listing, list, total);
}

void topics(const Context& ctx, const Topics& cmd) {
  auto body = call_listing(ctx, "/api/v1/topics", {{"prefix", cmd.prefix}}, "topics", cmd.limit, cmd.offset);
  if (ctx.json_output) return print_raw(ctx, body);

  auto doc = parse_object(body, "topics");
  const auto& list = array_of(doc, "topics", "topics");
  Listing listing{"topics", !cmd.prefix.empty(), cmd.offset};
  auto total = total_of(doc, list);
  if (print_empty_page(ctx, listing, list, total)) return;
  Table table({{"FILTER"}, {"SUBSCRIBERS", Align::right}, {"LAST SEQUENCE", Align::right},
               {"MESSAGES", Align::right}, {"BACKLOG", Align::right}});
  for (const auto& t : list)
    table.add_row({field(t, "filter"), field(t, "subscribers"), field(t, "last_sequence"), field(t, "messages"),
                   field(t, "backlog")});
  table.print(ctx.out);
  print_page_footer(ctx, listing, list, total);
}

// ---------------------------------------------------------------- bridges

void bridges(const Context& ctx) {
  auto body = call(ctx, Method::get, "/api/v1/bridges");
  if (ctx.json_output) return print_raw(ctx, body);
  auto doc = parse_object(body, "bridges");
  const auto& list = array_of(doc, "bridges", "bridges");
  if (list.empty()) {
    ctx.out << "no bridges configured\n";
    return;
  }
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  Table table({{"NAME"}, {"ADDRESS"}, {"STATE"}, {"BACKLOG", Align::right}, {"OUT", Align::right},
               {"IN", Align::right}, {"FAILURES", Align::right}, {"LAST ERROR"}});
  for (const auto& b : list) {
    std::string state = b.value("connected", false) ? "up" : "down";
    if (b.contains("since_ms") && b["since_ms"].is_number()) {
      auto since = b["since_ms"].get<std::int64_t>();
      if (now_ms >= since) state += " " + human_duration(static_cast<std::uint64_t>((now_ms - since) / 1000));
    }
    // The error of a link that is down, with how long ago; none while it is up.
    std::string error = "-";
    if (!b.value("connected", false) && b.contains("last_error") && b["last_error"].is_string()) {
      error = b["last_error"].get<std::string>();
      if (b.contains("last_error_at_ms") && b["last_error_at_ms"].is_number()) {
        auto at = b["last_error_at_ms"].get<std::int64_t>();
        if (now_ms >= at) error += " (" + human_duration(static_cast<std::uint64_t>((now_ms - at) / 1000)) + " ago)";
      }
    }
    table.add_row({field(b, "name"), field(b, "address"), state, field(b, "backlog"), field(b, "messages_out"),
                   field(b, "messages_in"), field(b, "connect_failures"), error});
  }
  table.print(ctx.out);
}

// ---------------------------------------------------------------- rules

std::string rule_path(const std::string& name) { return "/api/v1/rules/" + percent_encode(name); }

void rules_list(const Context& ctx) {
  auto body = call(ctx, Method::get, "/api/v1/rules");
  if (ctx.json_output) return print_raw(ctx, body);
  auto doc = parse_object(body, "rules");
  const auto& list = array_of(doc, "rules", "rules");
  if (list.empty()) {
    ctx.out << "no rules configured\n";
    return;
  }
  Table table({{"RULE"}, {"ACTION"}, {"STATE"}, {"DELIVERED", Align::right}, {"FAILED", Align::right},
               {"DEAD", Align::right}, {"LOST", Align::right}, {"BACKLOG", Align::right}, {"LAST ERROR"}});
  for (const auto& r : list) {
    const std::string state = r.value("paused", false) ? "paused" : "running";
    if (!r.contains("actions") || !r["actions"].is_array()) continue;
    for (const auto& a : r["actions"]) {
      std::uint64_t dead = a.value("dead_lettered", std::uint64_t(0)) + a.value("dropped", std::uint64_t(0));
      std::string error = a.contains("last_error") && a["last_error"].is_string() ? a["last_error"].get<std::string>() : "-";
      table.add_row({field(r, "name"), field(a, "index") + " " + field(a, "kind"), state, field(a, "delivered"),
                     field(a, "failed"), std::to_string(dead), field(a, "lost_retention"), field(a, "backlog"), error});
    }
  }
  table.print(ctx.out);
}

void rules_show(const Context& ctx, const RulesShow& cmd) {
  auto body = call(ctx, Method::get, rule_path(cmd.name));
  if (ctx.json_output) return print_raw(ctx, body);
  auto r = parse_object(body, "rule");
  ctx.out << "rule:    " << field(r, "name") << (r.value("paused", false) ? " (paused)" : "") << '\n'
          << "from:    " << field(r, "from") << '\n';
  if (!r.contains("actions") || !r["actions"].is_array()) return;
  for (const auto& a : r["actions"]) {
    ctx.out << "action " << field(a, "index") << ": " << field(a, "kind") << " " << field(a, "target") << '\n';
    for (const char* key : {"committed", "unfinished", "backlog", "matched", "delivered", "failed", "retries",
                            "dead_lettered", "dropped", "lost_retention", "latency_avg_ms", "last_error", "last_error_at"})
      ctx.out << "  " << key << ": " << std::string(16 - std::string_view(key).size(), ' ') << field(a, key) << '\n';
  }
}

void rules_pause(const Context& ctx, const RulesPause& cmd) {
  auto body = call(ctx, Method::post, rule_path(cmd.name) + (cmd.pause ? "/pause" : "/resume"));
  if (ctx.json_output) return print_raw(ctx, body);
  ctx.out << (cmd.pause ? "paused '" : "resumed '") << printable(cmd.name) << "'\n";
}

void rules_replay(const Context& ctx, const RulesReplay& cmd) {
  std::string query = cmd.from_seq ? "?from_seq=" + std::to_string(*cmd.from_seq)
                                   : "?from_time=" + std::to_string(*cmd.from_time_ms);
  auto body = call(ctx, Method::post, rule_path(cmd.name) + "/replay" + query);
  if (ctx.json_output) return print_raw(ctx, body);
  auto doc = parse_object(body, "replay");
  ctx.out << "'" << printable(cmd.name) << "' delivers again from sequence " << field(doc, "from_seq") << '\n';
}

// ---------------------------------------------------------------- streams

std::string stream_path(const std::string& name) { return "/api/v1/streams/" + percent_encode(name); }

void streams_list(const Context& ctx) {
  auto body = call(ctx, Method::get, "/api/v1/streams");
  if (ctx.json_output) return print_raw(ctx, body);
  auto doc = parse_object(body, "streams");
  const auto& list = array_of(doc, "streams", "streams");
  if (list.empty()) {
    ctx.out << "no streams configured\n";
    return;
  }
  Table table({{"NAME"}, {"FILTER"}, {"LAST SEQ", Align::right}, {"GROUPS"}});
  for (const auto& s : list) {
    std::string groups;
    if (s.contains("groups") && s["groups"].is_array())
      for (const auto& g : s["groups"]) groups += (groups.empty() ? "" : " ") + field(g, "name") + "@" + field(g, "committed");
    table.add_row({field(s, "name"), field(s, "filter"), field(s, "last_seq"), groups.empty() ? "-" : groups});
  }
  table.print(ctx.out);
}

void streams_show(const Context& ctx, const StreamsShow& cmd) {
  auto body = call(ctx, Method::get, stream_path(cmd.name));
  if (ctx.json_output) return print_raw(ctx, body);
  auto s = parse_object(body, "stream");
  ctx.out << "stream:   " << field(s, "name") << "\nfilter:   " << field(s, "filter") << "\nlast seq: " << field(s, "last_seq")
          << '\n';
  if (s.contains("groups") && s["groups"].is_array())
    for (const auto& g : s["groups"]) ctx.out << "group:    " << field(g, "name") << " committed " << field(g, "committed") << '\n';
}

void streams_read(const Context& ctx, const StreamsRead& cmd) {
  std::string query = "?max=" + std::to_string(cmd.max) + "&wait=" + std::to_string(cmd.wait);
  if (cmd.from_seq) query += "&from_seq=" + std::to_string(*cmd.from_seq);
  if (cmd.from_time_ms) query += "&from_time=" + std::to_string(*cmd.from_time_ms);
  if (!cmd.group.empty()) query += "&group=" + percent_encode(cmd.group);
  auto body = call(ctx, Method::get, stream_path(cmd.name) + "/messages" + query);
  auto doc = parse_object(body, "messages");
  const auto& list = array_of(doc, "messages", "messages");
  if (ctx.json_output) {
    print_raw(ctx, body);
  } else {
    for (const auto& m : list)
      ctx.out << field(m, "seq") << ' ' << printable(m.value("topic", std::string())) << ' '
              << (m.contains("payload") ? printable(m["payload"].get<std::string>())
                                        : "base64:" + m.value("payload_base64", std::string()))
              << '\n';
  }
  if (cmd.commit && !list.empty())
    call(ctx, Method::post, stream_path(cmd.name) + "/groups/" + percent_encode(cmd.group) + "/commit?seq=" +
                                std::to_string(list.back().value("seq", std::uint64_t(0))));
}

// ---------------------------------------------------------------- stats

// Nested key/value lines. Known keys come in a reading order (the gateway's
// JSON object may be sorted alphabetically); keys this tool does not know
// follow in the API's order, so a counter the gateway adds later shows up
// without a new release of the tool. Sizes and the uptime get a readable form
// next to the exact number.
using KeyOrder = std::map<std::string, std::vector<std::string>>;  // section -> its keys in reading order

const KeyOrder& stats_key_order() {
  static const KeyOrder order = {
      {"",
       {"version", "uptime_seconds", "connections", "sessions", "messages", "bytes", "store", "retained", "queues",
        "drops"}},
      {"connections", {"open", "accepted", "refused_limit"}},
      {"sessions", {"online", "offline"}},
      {"messages", {"received", "sent"}},
      {"bytes", {"received", "sent"}},
      {"store", {"map_bytes", "message_bytes", "messages"}},
      {"retained", {"count", "bytes"}},
  };
  return order;
}

const KeyOrder& cluster_key_order() {
  static const KeyOrder order = {
      {"", {"enabled", "node", "store", "notify", "lookup", "shared_groups", "takeovers", "sessions_moved"}},
      {"store", {"stream", "replicas", "servers", "connected", "appended", "append_errors", "pending_appends"}},
      {"notify",
       {"mode", "sent", "targeted", "broadcast", "events_received", "fetched", "skipped", "fetch_errors",
        "fetch_backlog", "catch_ups", "caught_up", "settling_routes", "settle_reads", "settled", "relayed"}},
      {"lookup",
       {"epoch", "stable", "complete", "members", "slots_owned", "entries", "answered", "fallbacks", "epoch_changes"}},
      {"fallbacks", {"unstable", "unreachable", "epoch"}},
      {"takeovers", {"sessions_ended", "sent_targeted", "sent_broadcast"}},
      {"sessions_moved", {"in", "out", "unconfirmed_kept", "failed"}},
      {"shared_groups", {"live", "messages", "redelivered", "setup_errors"}},
  };
  return order;
}

const std::vector<std::string>& key_order(const KeyOrder& order, const std::string& section) {
  static const std::vector<std::string> none;
  auto it = order.find(section);
  return it == order.end() ? none : it->second;
}

// One line of the stats listing: a section header has no value.
struct StatsLine {
  int indent;
  std::string key;
  std::optional<std::string> value;
};

void collect_stats(const json& obj, const KeyOrder& key_orders, const std::string& section, int indent,
                   std::vector<StatsLine>& lines) {
  std::vector<std::pair<std::string, const json*>> items;
  for (const auto& [key, value] : obj.items()) items.emplace_back(key, &value);
  const auto& order = key_order(key_orders, section);
  auto rank = [&](const std::string& key) {
    return static_cast<std::size_t>(std::find(order.begin(), order.end(), key) - order.begin());
  };
  std::stable_sort(items.begin(), items.end(), [&](const auto& a, const auto& b) { return rank(a.first) < rank(b.first); });

  for (const auto& [key, value_ptr] : items) {
    const json& value = *value_ptr;
    if (value.is_object() && !value.empty()) {
      lines.push_back({indent, key, std::nullopt});
      collect_stats(value, key_orders, key, indent + 2, lines);
      continue;
    }
    std::string text = value.is_object() ? "none" : scalar(value);
    if (value.is_number_unsigned()) {
      auto n = value.get<std::uint64_t>();
      bool size = section == "bytes" || key == "bytes" || key.ends_with("_bytes");
      if (size && n >= 1024) text += " (" + human_bytes(n) + ")";
      if (key == "uptime_seconds" && n >= 60) text += " (" + human_duration(n) + ")";
    }
    lines.push_back({indent, key, printable(text)});
  }
}

// Values line up within each run of sibling lines (a section's counters);
// one global column would be as wide as the longest drop reason.
void print_stats(const json& doc, const KeyOrder& key_orders, std::ostream& out) {
  std::vector<StatsLine> lines;
  collect_stats(doc, key_orders, "", 0, lines);
  std::size_t run_end = 0, width = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto& l = lines[i];
    std::size_t used = static_cast<std::size_t>(l.indent) + display_width(l.key) + 1;
    if (l.value && i >= run_end) {  // a new run: siblings with values, up to a header or another depth
      width = 0;
      for (run_end = i; run_end < lines.size() && lines[run_end].value && lines[run_end].indent == l.indent; ++run_end)
        width = std::max(width, static_cast<std::size_t>(l.indent) + display_width(lines[run_end].key) + 1);
    }
    out << std::string(static_cast<std::size_t>(l.indent), ' ') << printable(l.key) << ':';
    if (l.value) out << std::string(width - used + 2, ' ') << *l.value;
    out << '\n';
  }
}

void stats(const Context& ctx) {
  auto body = call(ctx, Method::get, "/api/v1/stats");
  if (ctx.json_output) return print_raw(ctx, body);
  print_stats(parse_object(body, "stats"), stats_key_order(), ctx.out);
}

void cluster(const Context& ctx) {
  auto body = call(ctx, Method::get, "/api/v1/cluster");
  if (ctx.json_output) return print_raw(ctx, body);
  auto doc = parse_object(body, "cluster");
  if (!doc.value("enabled", false)) {
    ctx.out << "not in a cluster (no \"cluster\" section in the gateway's config)\n";
    return;
  }
  print_stats(doc, cluster_key_order(), ctx.out);
}

// Exit code 4 when a changed key needs a restart: the reload did not do all
// that the file now says.
int reload(const Context& ctx) {
  auto body = call(ctx, Method::post, "/api/v1/reload");
  auto doc = parse_object(body, "reload");
  auto keys = [&](const char* field) {
    std::string out;
    if (doc.contains(field) && doc[field].is_array())
      for (const auto& k : doc[field]) out += (out.empty() ? "" : ", ") + k.get<std::string>();
    return out;
  };
  const bool restart = !keys("restart_needed").empty();
  if (ctx.json_output) {
    print_raw(ctx, body);
    return restart ? 4 : 0;
  }
  if (keys("changed").empty()) {
    ctx.out << "reloaded; no key changed (the files it names were read again)\n";
    return 0;
  }
  ctx.out << "reloaded\n";
  if (auto k = keys("applied"); !k.empty()) ctx.out << "  applied now:          " << k << '\n';
  if (auto k = keys("new_connections"); !k.empty()) ctx.out << "  new connections:      " << k << '\n';
  if (restart)
    ctx.out << "  NEED A RESTART:       " << keys("restart_needed")
            << "\n  (the running values stay until the gateway restarts)\n";
  return restart ? 4 : 0;
}

}  // namespace

int run_command(const Command& command, const HttpClient& client, const std::string& token, bool json,
                std::ostream& out) {
  Context ctx{client, token, json, out};
  if (auto* c = std::get_if<SessionsList>(&command)) sessions_list(ctx, *c);
  else if (auto* c = std::get_if<SessionsShow>(&command)) sessions_show(ctx, *c);
  else if (auto* c = std::get_if<SessionsKick>(&command)) sessions_kick(ctx, *c);
  else if (auto* c = std::get_if<SessionsDelete>(&command)) sessions_delete(ctx, *c);
  else if (auto* c = std::get_if<RetainedList>(&command)) retained_list(ctx, *c);
  else if (auto* c = std::get_if<RetainedDelete>(&command)) retained_delete(ctx, *c);
  else if (auto* c = std::get_if<Subs>(&command)) subs(ctx, *c);
  else if (auto* c = std::get_if<Topics>(&command)) topics(ctx, *c);
  else if (std::holds_alternative<Bridges>(command)) bridges(ctx);
  else if (std::holds_alternative<RulesList>(command)) rules_list(ctx);
  else if (auto* c = std::get_if<RulesShow>(&command)) rules_show(ctx, *c);
  else if (auto* c = std::get_if<RulesPause>(&command)) rules_pause(ctx, *c);
  else if (auto* c = std::get_if<RulesReplay>(&command)) rules_replay(ctx, *c);
  else if (std::holds_alternative<StreamsList>(command)) streams_list(ctx);
  else if (auto* c = std::get_if<StreamsShow>(&command)) streams_show(ctx, *c);
  else if (auto* c = std::get_if<StreamsRead>(&command)) streams_read(ctx, *c);
  else if (std::holds_alternative<Cluster>(command)) cluster(ctx);
  else if (std::holds_alternative<Stats>(command)) stats(ctx);
  else if (std::holds_alternative<Reload>(command)) return reload(ctx);
  else throw std::logic_error("run_command: help, version, completion, pub and sub are main's");
  return 0;
}

}  // namespace tidegate::ctl
