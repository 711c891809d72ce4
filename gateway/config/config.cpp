#include "gateway/config/config.hpp"

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "gateway/admin/admin_config.hpp"
#include "gateway/bridge/bridge_config.hpp"
#include "gateway/codec/utf8.hpp"
#include "gateway/config/config_json.hpp"

namespace tidegate {
namespace {

using namespace config_json;

ListenerConfig parse_listener(const json& j, const std::string& where) {
  if (!j.is_object()) fail(where, "must be an object");
  refuse_unknown(j, where + ".", {"protocol", "bind", "port", "path", "cert", "key", "ca", "require_certificate",
                                  "use_identity_as_username", "tls_version", "ciphers", "ciphersuites"});
  ListenerConfig l;
  if (j.contains("protocol")) l.protocol = get_string(j["protocol"], where + ".protocol");
  if (l.protocol != "mqtt" && l.protocol != "mqtts" && l.protocol != "ws" && l.protocol != "wss")
    fail(where + ".protocol", "must be one of mqtt, mqtts, ws, wss");
  if (j.contains("bind")) l.bind = get_string(j["bind"], where + ".bind");
  if (!j.contains("port")) fail(where + ".port", "is required");
  l.port = get_uint<std::uint16_t>(j["port"], where + ".port", 0, 65535);
  if (j.contains("path")) {
    if (!l.websocket()) fail(where + ".path", "only for ws and wss listeners");
    l.path = get_string(j["path"], where + ".path");
    if (l.path.empty() || l.path[0] != '/') fail(where + ".path", "must start with /");
  }
  auto tls_string = [&](const char* key, std::optional<std::string>& out) {
    if (!j.contains(key)) return;
    if (!l.tls()) fail(where + "." + key, "only for mqtts and wss listeners");
    out = get_string(j[key], where + "." + key);
  };
  tls_string("cert", l.cert);
  tls_string("key", l.key);
  tls_string("ca", l.ca);
  tls_string("ciphers", l.ciphers);
  tls_string("ciphersuites", l.ciphersuites);
  for (const char* key : {"require_certificate", "use_identity_as_username"}) {
    if (!j.contains(key)) continue;
    if (!l.tls()) fail(where + "." + key, "only for mqtts and wss listeners");
    (std::string(key) == "require_certificate" ? l.require_certificate : l.use_identity_as_username) =
        get_bool(j[key], where + "." + key);
  }
  if (j.contains("tls_version")) {
    if (!l.tls()) fail(where + ".tls_version", "only for mqtts and wss listeners");
    l.tls_version = get_string(j["tls_version"], where + ".tls_version");
    if (l.tls_version != "tlsv1.2" && l.tls_version != "tlsv1.3")
      fail(where + ".tls_version", "must be tlsv1.2 or tlsv1.3 (the lowest version accepted)");
  }
  if (l.tls() && !l.cert) fail(where + ".cert", "is required for " + l.protocol);
  if (l.tls() && !l.key) fail(where + ".key", "is required for " + l.protocol);
  if ((l.require_certificate || l.use_identity_as_username) && !l.ca)
    fail(where + ".ca", "is required to verify client certificates");
  if (l.use_identity_as_username && !l.require_certificate)
    fail(where + ".use_identity_as_username", "needs require_certificate: true");
  return l;
}

ClusterConfig parse_cluster(const json& j) {
#ifndef TIDEGATE_CLUSTER
  fail("cluster", "this gateway was built without cluster mode (TIDEGATE_CLUSTER=OFF)");
#endif
  if (!j.is_object()) fail("cluster", "must be an object");
  refuse_unknown(j, "cluster.", {"node", "nats", "stream", "replicas", "request_timeout_ms", "max_pending_appends",
                                 "max_handover_bytes", "lookup", "lookup_bind", "lookup_port", "lookup_advertise"});
  ClusterConfig c;
  if (!j.contains("node")) fail("cluster.node", "is required: this gateway's id, unique in the cluster");
  c.node = get_string(j["node"], "cluster.node");
  // The id is a NATS subject token (notify subjects name the node).
  auto token_safe = [](const std::string& s) {
    return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](unsigned char ch) {
      return std::isalnum(ch) || ch == '_' || ch == '-';
    });
  };
  if (!token_safe(c.node)) fail("cluster.node", "must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-'");
  if (!j.contains("nats")) fail("cluster.nats", "is required: the NATS server URLs");
  const auto& urls = j["nats"];
  if (!urls.is_array() || urls.empty()) fail("cluster.nats", "must be a non-empty array of nats://host:port URLs");
  for (std::size_t i = 0; i < urls.size(); ++i) {
    std::string where = "cluster.nats[" + std::to_string(i) + "]";
    auto url = get_string(urls[i], where);
    if (!url.starts_with("nats://") && !url.starts_with("tls://")) fail(where, "must start with nats:// or tls://");
    c.nats.push_back(url);
  }
  if (j.contains("stream")) {
    c.stream = get_string(j["stream"], "cluster.stream");
    if (!token_safe(c.stream)) fail("cluster.stream", "must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-'");
  }
  if (j.contains("replicas")) {
    c.replicas = get_uint<int>(j["replicas"], "cluster.replicas", 1, 5);
    if (c.replicas % 2 == 0) fail("cluster.replicas", "must be 1, 3 or 5 (JetStream needs a majority)");
  }
  if (j.contains("request_timeout_ms"))
    c.request_timeout_ms = get_uint<std::int64_t>(j["request_timeout_ms"], "cluster.request_timeout_ms", 100, 60000);
  if (j.contains("max_pending_appends"))
    c.max_pending_appends = get_uint<std::size_t>(j["max_pending_appends"], "cluster.max_pending_appends", 1, 1 << 20);
  if (j.contains("max_handover_bytes"))
    c.max_handover_bytes =
        get_uint<std::size_t>(j["max_handover_bytes"], "cluster.max_handover_bytes", 64u << 10, std::size_t{1} << 30);
  if (j.contains("lookup")) c.lookup = get_bool(j["lookup"], "cluster.lookup");
  auto ip_address = [](const json& v, const std::string& where) {
    auto text = get_string(v, where);
    boost::system::error_code ec;
    auto address = boost::asio::ip::make_address(text, ec);
    if (ec) fail(where, "must be an IP address");
    return std::pair{text, address};
  };
  if (j.contains("lookup_bind")) c.lookup_bind = ip_address(j["lookup_bind"], "cluster.lookup_bind").first;
  if (j.contains("lookup_port")) c.lookup_port = get_uint<std::uint16_t>(j["lookup_port"], "cluster.lookup_port", 0, 65535);
  if (j.contains("lookup_advertise")) {
    auto [text, address] = ip_address(j["lookup_advertise"], "cluster.lookup_advertise");
    if (address.is_unspecified()) fail("cluster.lookup_advertise", "must be an address other gateways can reach");
    c.lookup_advertise = text;
  }
  if (c.lookup_advertise.empty() && boost::asio::ip::make_address(c.lookup_bind).is_unspecified())
    fail("cluster.lookup_advertise", "is required when lookup_bind is a wildcard address (other gateways connect to it)");
  return c;
}

}  // namespace

namespace {
// Settings that are each valid but cannot work together (docs/durability.md).
void refuse_impossible_combinations(const Config& c) {
  if (c.max_store_bytes) {
    // Retention is what frees the store: the stored messages it keeps (up to
    // retention_bytes) must fit in half the cap, and with the retained ones
    // (up to max_retained_bytes) in three quarters, the rest being LMDB's
    // indexes, sessions, offsets and the pages a copy-on-write commit needs.
    // Otherwise a store full of messages every session has acknowledged
    // refuses every QoS 1/2 publish.
    const std::size_t half = c.max_store_bytes / 2;
    if (c.retention_bytes == 0 || c.retention_bytes > half)
      fail("retention_bytes", "must be between 1 and half of max_store_bytes (" + std::to_string(half) +
                                  ") when max_store_bytes is set: retention must free the store before the cap "
                                  "refuses publishes (now " + std::to_string(c.retention_bytes) + ")");
    const std::size_t three_quarters = c.max_store_bytes / 4 * 3;
    if (c.retention_bytes + c.max_retained_bytes > three_quarters)
      fail("max_retained_bytes", "retention_bytes + max_retained_bytes must be at most three quarters of "
                                 "max_store_bytes (" + std::to_string(three_quarters) + "); now " +
                                     std::to_string(c.retention_bytes) + " + " + std::to_string(c.max_retained_bytes));
  }
  // Each gateway of a cluster would run the same rule on the same messages.
  if (c.cluster && !c.rules.empty())
    fail("rules", "cannot be used with cluster yet: every gateway would deliver each event (docs/events.md)");
  if (c.cluster && !c.streams.empty())
    fail("streams", "cannot be used with cluster yet: each gateway would hold a part of the stream (docs/events.md)");
}
}  // namespace

namespace {
// Connections, packets and sessions (docs/configuration.md lists each key).
void parse_connection_limits(const json& root, Config& c, Problems& problems) {
  problems.uint_key(root, "workers", c.workers, 0, 256);
  problems.uint_key(root, "receive_maximum", c.receive_maximum, 1, 65535);
  problems.uint_key(root, "max_inflight", c.max_inflight, 1, 65535);
  problems.uint_key(root, "max_packet_size", c.max_packet_size, 64, 268435460);
  problems.uint_key(root, "topic_alias_maximum", c.topic_alias_maximum, 0, 65535);
  problems.uint_key(root, "connect_timeout", c.connect_timeout, 1, 3600);
  problems.uint_key(root, "close_linger_ms", c.close_linger_ms, 100, 60000);
  problems.uint_key(root, "close_linger_max_bytes", c.close_linger_max_bytes, 0, std::size_t(1) << 30);
  problems.uint_key(root, "max_output_bytes", c.max_output_bytes, 1024, 1ull << 32);
  problems.bool_key(root, "tcp_nodelay", c.tcp_nodelay);
  problems.uint_key(root, "max_connections", c.max_connections, 1, 10000000);
  problems.uint_key(root, "max_subscriptions_per_client", c.max_subscriptions_per_client, 1, 1 << 24);
  problems.uint_key(root, "max_topic_length", c.max_topic_length, 1, 65535);
  problems.uint_key(root, "max_topic_levels", c.max_topic_levels, 1, 65535);
  problems.uint_key(root, "queue_cache_entries", c.queue_cache_entries, 1, 1 << 24);
  problems.uint_key(root, "max_shared_publish_bytes", c.max_shared_publish_bytes, 0, 1ull << 40);
}

// The store, retention and the per-session and retained bounds.
void parse_store_limits(const json& root, Config& c, Problems& problems) {
  problems.uint_key(root, "store_map_size", c.store_map_size, 1 << 20, 1ull << 44);
  problems.attempt([&] {
    if (!root.contains("max_store_bytes")) return;
    c.max_store_bytes = get_uint<std::size_t>(root["max_store_bytes"], "max_store_bytes", 0, 1ull << 44);
    if (c.max_store_bytes && c.max_store_bytes < (1u << 20)) fail("max_store_bytes", "must be 0 or at least 1048576");
  });
  problems.uint_key(root, "retention_bytes", c.retention_bytes, 0, 1ull << 44);
  problems.uint_key(root, "retention_seconds", c.retention_seconds, 0, 1ull << 32);
  problems.uint_key(root, "max_retained_messages", c.max_retained_messages, 0, 1ull << 32);
  problems.uint_key(root, "max_session_backlog", c.max_session_backlog, 0, 1ull << 32);
  problems.uint_key(root, "max_retained_bytes", c.max_retained_bytes, 0, 1ull << 40);
  problems.uint_key(root, "sys_interval", c.sys_interval, 0, 86400);
}

void parse_logging(const json& root, Config& c, Problems& problems) {
  problems.attempt([&] {
    if (!root.contains("log_level")) return;
    c.log_level = get_string(root["log_level"], "log_level");
    if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" && c.log_level != "error")
      fail("log_level", "must be one of debug, info, warn, error");
  });
  problems.attempt([&] {
    if (!root.contains("log_format")) return;
    c.log_format = get_string(root["log_format"], "log_format");
    if (c.log_format != "text" && c.log_format != "json") fail("log_format", "must be \"text\" or \"json\"");
  });
  problems.attempt([&] {
    if (!root.contains("log_file")) return;
    // Opened when the gateway starts (a file that cannot be opened is refused
    // then, with this key), as password_file is read then.
    c.log_file = get_string(root["log_file"], "log_file");
    if (c.log_file->empty()) fail("log_file", "must not be empty (leave the key out to log to stderr)");
    if (c.log_file->back() == '/') fail("log_file", "must name a file, not a directory");
  });
}

void parse_acl_deny(const json& rules, Config& c) {
  if (!rules.is_array()) fail("acl_deny", "must be an array");
  for (std::size_t i = 0; i < rules.size(); ++i) {
    std::string where = "acl_deny[" + std::to_string(i) + "]";
    const auto& r = rules[i];
    if (!r.is_object()) fail(where, "must be an object");
    refuse_unknown(r, where + ".", {"filter", "access"});
    AclDenyRule rule;
    if (!r.contains("filter")) fail(where + ".filter", "is required");
    rule.filter = get_string(r["filter"], where + ".filter");
    if (!mqtt::valid_topic_filter(rule.filter)) fail(where + ".filter", "is not a valid topic filter");
    std::string access = r.contains("access") ? get_string(r["access"], where + ".access") : "readwrite";
    if (access == "subscribe") rule.publish = false;
    else if (access == "publish") rule.subscribe = false;
    else if (access != "readwrite") fail(where + ".access", "must be subscribe, publish or readwrite");
    c.acl_deny.push_back(std::move(rule));
  }
}

void parse_plugins(const json& ps, Config& c) {
  if (!ps.is_array()) fail("plugins", "must be an array");
  for (std::size_t i = 0; i < ps.size(); ++i) {
    std::string where = "plugins[" + std::to_string(i) + "]";
    const auto& p = ps[i];
    if (!p.is_object()) fail(where, "must be an object");
    refuse_unknown(p, where + ".", {"path", "options"});
    if (!p.contains("path")) fail(where + ".path", "is required");
    PluginConfig plugin;
    plugin.path = get_string(p["path"], where + ".path");
    if (plugin.path.empty()) fail(where + ".path", "must not be empty");
    if (p.contains("options")) plugin.options_json = p["options"].dump();
    c.plugins.push_back(std::move(plugin));
  }
}

AuthHttpConfig parse_auth_http(const json& a) {
  if (!a.is_object()) fail("auth_http", "must be an object");
  refuse_unknown(a, "auth_http.", {"url", "timeout_ms", "cache_seconds", "cache_entries", "on_error"});
  AuthHttpConfig h;
  if (!a.contains("url")) fail("auth_http.url", "is required");
  h.url = get_string(a["url"], "auth_http.url");
  constexpr std::string_view scheme = "http://";
  if (!h.url.starts_with(scheme)) fail("auth_http.url", "must start with http:// (the hook is a local service)");
  std::string rest = h.url.substr(scheme.size());
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  h.target = slash == std::string::npos ? "/" : rest.substr(slash);
  auto colon = authority.rfind(':');
  if (authority.empty()) fail("auth_http.url", "has no host");
  if (colon == std::string::npos || authority.back() == ']') {
    h.host = authority;
    h.port = "80";
  } else {
    h.host = authority.substr(0, colon);
    h.port = authority.substr(colon + 1);
    if (h.port.empty() || h.port.find_first_not_of("0123456789") != std::string::npos || h.port.size() > 5 ||
        std::stoul(h.port) == 0 || std::stoul(h.port) > 65535)
      fail("auth_http.url", "port must be a number from 1 to 65535");
  }
  if (h.host.size() > 2 && h.host.front() == '[' && h.host.back() == ']') h.host = h.host.substr(1, h.host.size() - 2);
  if (a.contains("timeout_ms")) h.timeout_ms = get_uint<unsigned>(a["timeout_ms"], "auth_http.timeout_ms", 10, 60000);
  if (a.contains("cache_seconds"))
    h.cache_seconds = get_uint<unsigned>(a["cache_seconds"], "auth_http.cache_seconds", 0, 86400);
  if (a.contains("cache_entries"))
    h.cache_entries = get_uint<std::size_t>(a["cache_entries"], "auth_http.cache_entries", 1, 10000000);
  if (a.contains("on_error")) {
    auto policy = get_string(a["on_error"], "auth_http.on_error");
    if (policy != "deny" && policy != "allow") fail("auth_http.on_error", "must be \"deny\" or \"allow\"");
    h.fail_open = policy == "allow";
  }
  return h;
}

}  // namespace

json read_config_json(const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    // "line L, column C: what", without the library's prefix.
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    std::string what = e.what();
    if (auto at = what.find(": ", what.find("parse error")); at != std::string::npos) what = what.substr(at + 2);
    throw ConfigError("config: not valid JSON: line " + std::to_string(line) + ", column " + std::to_string(column) +
                      ": " + what);
  } catch (const json::exception& e) {
    // A number too large for a double is out_of_range.
    throw ConfigError(std::string("config: not valid JSON: ") + e.what());
  }
}

Config config_from_json(const json& root, std::vector<std::string>* problems_out) {
  if (!root.is_object()) fail("config", "must be a JSON object");
  Problems problems;
  static const std::set<std::string> known = {
      "data_dir", "durability", "allow_anonymous", "max_keepalive", "listeners", "workers", "receive_maximum",
      "max_inflight", "max_packet_size", "topic_alias_maximum", "acl_deny", "connect_timeout", "close_linger_ms",
      "close_linger_max_bytes", "max_output_bytes", "max_connections", "queue_cache_entries",
      "max_shared_publish_bytes", "tcp_nodelay", "store_map_size", "log_level", "log_format", "log_file",
      "max_subscriptions_per_client", "max_topic_length", "max_topic_levels", "max_store_bytes", "retention_bytes",
      "retention_seconds", "max_retained_messages", "max_retained_bytes", "max_session_backlog", "sys_interval",
      "password_file", "acl_file", "admin", "bind_sessions_to_identity", "bridges", "rules", "streams", "node_name", "plugins", "auth_http",
      "cluster"};
  for (auto it = root.begin(); it != root.end(); ++it)
    if (!known.count(it.key())) problems.add(printable_key(it.key()) + ": unknown key");

  Config c;
  problems.attempt([&] {
    if (!root.contains("data_dir")) return;
    c.data_dir = get_string(root["data_dir"], "data_dir");
    if (c.data_dir.empty()) fail("data_dir", "must not be empty");
  });
  problems.attempt([&] {
    if (!root.contains("durability")) return;
    auto d = get_string(root["durability"], "durability");
    if (d != "os" && d != "fsync") fail("durability", "must be \"os\" or \"fsync\"");
    c.fsync = d == "fsync";
  });
  problems.attempt([&] {
    if (root.contains("admin")) c.admin = admin::parse_admin_config(root["admin"]);
  });
  problems.attempt([&] {
    if (root.contains("password_file")) c.password_file = get_string(root["password_file"], "password_file");
  });
  problems.attempt([&] {
    if (root.contains("acl_file")) c.acl_file = get_string(root["acl_file"], "acl_file");
  });
  problems.attempt([&] {
    if (root.contains("allow_anonymous")) c.allow_anonymous = get_bool(root["allow_anonymous"], "allow_anonymous");
  });
  problems.bool_key(root, "bind_sessions_to_identity", c.bind_sessions_to_identity);
  problems.attempt([&] {
    if (root.contains("max_keepalive"))
      c.max_keepalive = get_uint<std::uint16_t>(root["max_keepalive"], "max_keepalive", 1, 65535);
  });
  problems.attempt([&] {
    if (!root.contains("listeners")) return;
    const auto& ls = root["listeners"];
    if (!ls.is_array() || ls.empty()) fail("listeners", "must be a non-empty array");
    c.listeners.clear();
    for (std::size_t i = 0; i < ls.size(); ++i)
      problems.attempt([&] { c.listeners.push_back(parse_listener(ls[i], "listeners[" + std::to_string(i) + "]")); });
  });
  parse_connection_limits(root, c, problems);
  parse_store_limits(root, c, problems);
  parse_logging(root, c, problems);
  problems.attempt([&] {
    if (root.contains("acl_deny")) parse_acl_deny(root["acl_deny"], c);
  });
  problems.attempt([&] {
    if (root.contains("bridges")) c.bridges = parse_bridges(root["bridges"]);
  });
  problems.attempt([&] {
    if (root.contains("rules")) c.rules = events::parse_rules(root["rules"]);
  });
  problems.attempt([&] {
    if (root.contains("streams")) c.streams = events::parse_streams(root["streams"]);
  });
  problems.attempt([&] {
    if (!root.contains("node_name")) return;
    c.node_name = get_name(root["node_name"], "node_name");
  });
  problems.attempt([&] {
    if (root.contains("cluster")) c.cluster = parse_cluster(root["cluster"]);
  });
  problems.attempt([&] {
    if (root.contains("plugins")) parse_plugins(root["plugins"], c);
  });
  problems.attempt([&] {
    if (root.contains("auth_http")) c.auth_http = parse_auth_http(root["auth_http"]);
  });
  // Combinations only of values that are each valid.
  if (problems.empty()) problems.attempt([&] { refuse_impossible_combinations(c); });
  if (problems_out) {
    *problems_out = problems.take();
    return c;
  }
  problems.throw_if_any();
  return c;
}

Config parse_config(const std::string& text) { return config_from_json(read_config_json(text)); }

std::string read_text_file(const std::string& key, const std::string& path) {
  errno = 0;
  std::ifstream in(path);
  if (!in) throw ConfigError(key + ": cannot read " + path + ": " + std::strerror(errno ? errno : ENOENT));
  std::stringstream s;
  s << in.rdbuf();
  if (in.bad()) throw ConfigError(key + ": cannot read " + path + ": " + std::strerror(errno ? errno : EIO));
  return s.str();
}

std::string read_config_text(const std::string& path) { return read_text_file("config", path); }

Config load_config_file(const std::string& path) { return parse_config(read_config_text(path)); }

}  // namespace tidegate
