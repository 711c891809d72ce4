#include "gateway/config/config_check.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "gateway/admin/admin_config.hpp"
#include "gateway/auth/access_control.hpp"
#include "gateway/config/config.hpp"
#include "gateway/net/tls_context.hpp"

namespace tidegate {
namespace {

namespace asio = boost::asio;

struct Checker {
  ConfigCheck& out;

  template <typename F>
  void attempt(F&& check) {
    try {
      check();
    } catch (const ConfigError& e) {
      out.errors.insert(out.errors.end(), e.problems().begin(), e.problems().end());
    }
  }

  void readable(const std::string& key, const std::string& path) {
    if (::access(path.c_str(), R_OK) != 0) out.errors.push_back(key + ": cannot read " + path + ": " + std::strerror(errno));
  }

  // A directory the gateway writes into: it exists and is writable, or can be made.
  void writable_directory(const std::string& key, const std::filesystem::path& dir, bool may_create) {
    std::error_code ec;
    auto path = dir.empty() ? std::filesystem::path(".") : dir;
    if (std::filesystem::is_directory(path, ec)) {
      if (::access(path.c_str(), W_OK) != 0)
        out.errors.push_back(key + ": cannot write in " + path.string() + ": " + std::strerror(errno));
      return;
    }
    if (std::filesystem::exists(path, ec)) {
      out.errors.push_back(key + ": " + path.string() + " is not a directory");
      return;
    }
    if (!may_create) {
      out.errors.push_back(key + ": directory " + path.string() + " does not exist");
      return;
    }
    auto parent = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
    if (::access(parent.c_str(), W_OK) != 0)
      out.errors.push_back(key + ": " + path.string() + " does not exist and cannot be made in " + parent.string() +
                           ": " + std::strerror(errno));
  }

  // Binds and lets go at once: in use now is a warning (a running gateway may
  // hold it, and be stopped before this config starts).
  void port(const std::string& key, const std::string& bind, std::uint16_t port) {
    if (port == 0) return;
    boost::system::error_code ec;
    auto address = asio::ip::make_address(bind, ec);
    if (ec) return;  // the parser said so already
    asio::io_context io;
    asio::ip::tcp::acceptor acceptor(io);
    asio::ip::tcp::endpoint endpoint(address, port);
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(1, ec);
    const std::string where = bind + ":" + std::to_string(port);
    if (ec == boost::system::errc::address_in_use)
      out.warnings.push_back(key + ": " + where + " is in use now (by a running gateway, or another program)");
    else if (ec == boost::system::errc::permission_denied)
      out.warnings.push_back(key + ": " + where + " cannot be bound by this user: " + ec.message() +
                             " (ports below 1024 need root or CAP_NET_BIND_SERVICE)");
    else if (ec)
      out.errors.push_back(key + ": cannot listen on " + where + ": " + ec.message());
  }
};

bool overlapping(const std::string& a, const std::string& b) {
  boost::system::error_code ea, eb;
  auto x = asio::ip::make_address(a, ea), y = asio::ip::make_address(b, eb);
  if (ea || eb) return false;
  return x == y || x.is_unspecified() || y.is_unspecified();
}

}  // namespace

ConfigCheck check_config_file(const std::string& path) {
  ConfigCheck out;
  Checker check{out};
  nlohmann::json root;
  try {
    root = read_config_json(read_config_text(path));
  } catch (const ConfigError& e) {
    out.errors.push_back(e.what());
    return out;
  }
  Config c;
  try {
    c = config_from_json(root, &out.errors);
  } catch (const ConfigError& e) {
    out.errors.push_back(e.what());  // not an object: nothing further to check
    return out;
  }

  // The files it names: the same loaders the gateway uses.
  check.attempt([&] { AccessControl access(c); });
  for (std::size_t i = 0; i < c.listeners.size(); ++i) {
    const auto where = "listeners[" + std::to_string(i) + "]";
    if (c.listeners[i].tls()) check.attempt([&] { make_tls_context(c.listeners[i], where); });
  }
  for (std::size_t i = 0; i < c.bridges.size(); ++i) {
    const auto where = "bridges[" + std::to_string(i) + "].tls";
    if (c.bridges[i].tls) check.attempt([&] { make_bridge_tls_context(*c.bridges[i].tls, where); });
  }
  if (c.admin.enabled) {
    if (c.admin.token_file) check.attempt([&] { admin::read_admin_token("admin.token_file", *c.admin.token_file); });
    if (c.admin.read_token_file)
      check.attempt([&] { admin::read_admin_token("admin.read_token_file", *c.admin.read_token_file); });
    if (c.admin.stream_token_file)
      check.attempt([&] { admin::read_admin_token("admin.stream_token_file", *c.admin.stream_token_file); });
    if (c.admin.cert) check.attempt([&] { make_admin_tls_context(c.admin); });
  }
  for (std::size_t i = 0; i < c.plugins.size(); ++i)
    check.readable("plugins[" + std::to_string(i) + "].path", c.plugins[i].path);
  check.writable_directory("data_dir", c.data_dir, true);
  if (c.log_file) {
    auto file = std::filesystem::path(*c.log_file);
    check.writable_directory("log_file", file.parent_path(), false);
    std::error_code ec;
    if (std::filesystem::exists(file, ec) && ::access(file.c_str(), W_OK) != 0)
      out.errors.push_back("log_file: cannot write " + file.string() + ": " + std::strerror(errno));
  }

  // Addresses: two of ours on one port cannot both listen; others' are warnings.
  struct Address {
    std::string key, bind;
    std::uint16_t port;
  };
  std::vector<Address> addresses;
  for (std::size_t i = 0; i < c.listeners.size(); ++i)
    addresses.push_back({"listeners[" + std::to_string(i) + "]", c.listeners[i].bind, c.listeners[i].port});
  if (c.admin.enabled) addresses.push_back({"admin", c.admin.bind, c.admin.port});
  if (c.cluster && c.cluster->lookup) addresses.push_back({"cluster.lookup_port", c.cluster->lookup_bind, c.cluster->lookup_port});
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    bool clash = false;
    for (std::size_t j = 0; j < i; ++j)
      if (addresses[i].port != 0 && addresses[i].port == addresses[j].port &&
          overlapping(addresses[i].bind, addresses[j].bind)) {
        out.errors.push_back(addresses[i].key + ": port " + std::to_string(addresses[i].port) + " is also " +
                             addresses[j].key + "'s");
        clash = true;
      }
    if (!clash) check.port(addresses[i].key, addresses[i].bind, addresses[i].port);
  }
  return out;
}

}  // namespace tidegate
