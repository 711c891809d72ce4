#pragma once
// Which requests the admin API answers at all (docs/security.md, "Admin API"),
// checked before any route: the Host header must name this listener (DNS
// rebinding), a browser's Origin must be this listener too and a change may
// not come as a form or text/plain (cross-site request forgery), and the
// bearer token or the console's login cookie must allow the method. The
// console's page and its files, /healthz and the login itself need neither.
// Main thread.
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <optional>
#include <string>
#include <vector>

#include "gateway/admin/admin_api.hpp"
#include "gateway/admin/host_name.hpp"
#include "gateway/admin/login_sessions.hpp"

namespace tidegate::admin {

struct AdminAccess {
  std::optional<std::string> token;       // everything; none configured: no token asked
  std::optional<std::string> read_token;  // GET and HEAD only
  std::optional<std::string> stream_token;  // /api/v1/streams only: reads, and group commits
  std::vector<HostName> allowed_hosts;    // names besides the listener's own address
  LoginSessions* logins = nullptr;        // the console's cookie logins; null: none accepted
  bool https = false;                     // the listener speaks TLS: a page's Origin must be https too

  static constexpr std::string_view kLoginCookie = "tidegate_session";

  // The answer refusing `request`, which arrived on a connection to `local`;
  // nullopt when it may go on to the routes.
  std::optional<Response> refusal(const Request& request, const boost::asio::ip::tcp::endpoint& local) const;
  // Who sent `request`: by its bearer token, else its login cookie; admin
  // when no token is configured; nullopt when neither is valid.
  std::optional<Role> role(const Request& request) const;
  // The role a token gives; nullopt when it is neither token.
  std::optional<Role> role_of_token(std::string_view given) const;

 private:
  bool names_this_listener(const HostName& host, const boost::asio::ip::address& local) const;
};

// The value of cookie `name` in the request's Cookie header(s); empty when absent.
std::string_view cookie_value(const Request& request, std::string_view name);

}  // namespace tidegate::admin
