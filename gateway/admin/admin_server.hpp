#pragma once
// The admin listener (loopback by default; HTTPS with admin.cert and
// admin.key): the admin API, /metrics, /healthz and the web console. Main
// thread. Every request is bounded: 8 KiB of headers, 64 KiB of body, 10 s to
// arrive; it must pass AdminAccess (Host, Origin, token or login cookie)
// before any route. docs/operations.md, docs/console.md.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "gateway/admin/admin_access.hpp"
#include "gateway/admin/admin_api.hpp"
#include "gateway/admin/http_channel.hpp"
#include "gateway/admin/login_sessions.hpp"
#include "gateway/console/console_routes.hpp"
#include "gateway/console/history_sampler.hpp"

namespace tidegate::admin {

struct AdminListenerOptions {
  std::string bind;
  std::uint16_t port = 0;
  std::shared_ptr<boost::asio::ssl::context> tls;  // null: plain HTTP
  AdminAccess access;
  std::size_t max_live_streams = 8;
  std::size_t max_logins = 32;
  std::size_t history_seconds = 3600;
};

class AdminServer {
 public:
  // Throws std::runtime_error when it cannot listen.
  AdminServer(boost::asio::io_context& main_io, AdminApi& api, BrokerContext& broker, const store::LmdbStore& store,
              AdminListenerOptions options);
  void start();
  // Closes the listener and ends the live feeds.
  void stop();
  boost::asio::ip::tcp::endpoint endpoint() const { return acceptor_.local_endpoint(); }
  bool https() const { return tls_ != nullptr; }

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket);
  boost::asio::awaitable<void> serve_live(HttpChannel& channel, const Request& request);
  boost::asio::awaitable<void> serve_tail(HttpChannel& channel, const Request& request);  // a stream's SSE tail
  // At admin.max_live_streams: answers 503 with Retry-After (`what` says why) and returns true.
  boost::asio::awaitable<bool> refuse_beyond_live_limit(HttpChannel& channel, const Request& request,
                                                        const std::string& what);

  boost::asio::io_context& io_;
  AdminApi& api_;
  BrokerContext& broker_;
  const store::LmdbStore& store_;
  Metrics& metrics_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  AdminAccess access_;
  LoginSessions logins_;
  console::HistorySampler sampler_;
  console::ConsoleRoutes console_;
  std::size_t max_live_streams_;
  std::size_t live_streams_ = 0;
  bool stopping_ = false;
  // Every open connection, so stop() can close those a console keeps busy.
  std::set<HttpChannel*> open_channels_;
};

}  // namespace tidegate::admin
