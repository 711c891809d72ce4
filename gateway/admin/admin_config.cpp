#include "gateway/admin/admin_config.hpp"

#include <cctype>

#include "gateway/admin/host_name.hpp"
#include "gateway/config/config_json.hpp"

namespace tidegate::admin {

using namespace config_json;

std::string read_admin_token(const std::string& key, const std::string& path) {
  std::string text = read_text_file(key, path);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  if (text.empty()) throw ConfigError(key + ": " + path + " is empty");
  return text;
}

AdminConfig parse_admin_config(const json& a) {
  if (!a.is_object()) fail("admin", "must be an object");
  refuse_unknown(a, "admin.",
                 {"enabled", "bind", "port", "token_file", "read_token_file", "stream_token_file", "allowed_hosts",
                  "allow_insecure_remote", "cert", "key", "max_live_streams", "max_logins", "history_seconds"});
  AdminConfig c;
  if (a.contains("enabled")) c.enabled = get_bool(a["enabled"], "admin.enabled");
  if (a.contains("bind")) c.bind = get_string(a["bind"], "admin.bind");
  if (a.contains("port")) c.port = get_uint<std::uint16_t>(a["port"], "admin.port", 0, 65535);
  if (a.contains("token_file")) c.token_file = get_string(a["token_file"], "admin.token_file");
  if (a.contains("read_token_file")) {
    c.read_token_file = get_string(a["read_token_file"], "admin.read_token_file");
    // Without a full token, writes would need none while reads need one.
    if (!c.token_file) fail("admin.read_token_file", "needs admin.token_file (the token that may also change things)");
  }
  if (a.contains("stream_token_file")) {
    c.stream_token_file = get_string(a["stream_token_file"], "admin.stream_token_file");
    if (!c.token_file) fail("admin.stream_token_file", "needs admin.token_file (else nothing asks for a token)");
  }
  if (a.contains("allowed_hosts")) {
    const auto& hosts = a["allowed_hosts"];
    if (!hosts.is_array()) fail("admin.allowed_hosts", "must be an array of host names or IP addresses");
    for (std::size_t i = 0; i < hosts.size(); ++i) {
      auto where = "admin.allowed_hosts[" + std::to_string(i) + "]";
      auto text = get_string(hosts[i], where);
      auto host = parse_host_name(text);
      if (!host) fail(where, "'" + printable_key(text) + "' is not a host name or an IP address (no port, no scheme)");
      c.allowed_hosts.push_back(host->ip ? host->ip->to_string() : host->name);
    }
  }
  if (a.contains("allow_insecure_remote"))
    c.allow_insecure_remote = get_bool(a["allow_insecure_remote"], "admin.allow_insecure_remote");

  if (a.contains("cert")) c.cert = get_string(a["cert"], "admin.cert");
  if (a.contains("key")) c.key = get_string(a["key"], "admin.key");
  if (c.cert.has_value() != c.key.has_value())
    fail(c.cert ? "admin.key" : "admin.cert", "HTTPS needs both admin.cert and admin.key");
  if (a.contains("max_live_streams"))
    c.max_live_streams = get_uint<std::size_t>(a["max_live_streams"], "admin.max_live_streams", 0, 1000);
  if (a.contains("max_logins")) c.max_logins = get_uint<std::size_t>(a["max_logins"], "admin.max_logins", 1, 10000);
  if (a.contains("history_seconds"))
    c.history_seconds = get_uint<std::size_t>(a["history_seconds"], "admin.history_seconds", 60, 3600);

  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(c.bind, ec);
  if (ec) fail("admin.bind", "not an IP address: '" + printable_key(c.bind) + "'");
  if (!normalised(address).is_loopback() && !c.token_file && !c.allow_insecure_remote)
    fail("admin.bind", c.bind + " is reachable from other hosts and admin.token_file is not set: anyone who reaches " +
                           "the port could kick clients and delete sessions; set admin.token_file, or " +
                           "admin.allow_insecure_remote: true to accept that (docs/security.md)");
  return c;
}

}  // namespace tidegate::admin
