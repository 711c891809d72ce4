#pragma once
// The admin API's HTTP listener (loopback by default). Main thread. Every
// request is bounded: 8 KiB of headers, 64 KiB of body, 10 s to arrive; it
// must pass AdminAccess (Host, Origin, bearer token) before any route.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <optional>
#include <string>

#include "gateway/admin/admin_access.hpp"
#include "gateway/admin/admin_api.hpp"

namespace tidegate::admin {

class AdminServer {
 public:
  // Throws std::runtime_error when it cannot listen.
  AdminServer(boost::asio::io_context& main_io, AdminApi& api, const std::string& bind, std::uint16_t port,
              AdminAccess access);
  void start();
  void stop();
  boost::asio::ip::tcp::endpoint endpoint() const { return acceptor_.local_endpoint(); }

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket);

  boost::asio::io_context& io_;
  AdminApi& api_;
  boost::asio::ip::tcp::acceptor acceptor_;
  AdminAccess access_;
};

}  // namespace tidegate::admin
