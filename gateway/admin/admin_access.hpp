#pragma once
// Which requests the admin API answers at all (docs/security.md, "Admin API"),
// checked before any route: the Host header must name this listener (DNS
// rebinding), a browser's Origin must be this listener too and a change may
// not come as a form or text/plain (cross-site request forgery), and the
// bearer token must allow the method. Main thread; reads only.
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <optional>
#include <string>
#include <vector>

#include "gateway/admin/admin_api.hpp"
#include "gateway/admin/host_name.hpp"

namespace tidegate::admin {

struct AdminAccess {
  std::optional<std::string> token;       // everything; none configured: no token asked
  std::optional<std::string> read_token;  // GET and HEAD only
  std::vector<HostName> allowed_hosts;    // names besides the listener's own address

  // The answer refusing `request`, which arrived on a connection to `local`;
  // nullopt when it may go on to the routes.
  std::optional<Response> refusal(const Request& request, const boost::asio::ip::tcp::endpoint& local) const;

 private:
  bool names_this_listener(const HostName& host, const boost::asio::ip::address& local) const;
};

}  // namespace tidegate::admin
