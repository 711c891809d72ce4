#include "gateway/admin/admin_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "gateway/log.hpp"

namespace tidegate::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

AdminServer::AdminServer(asio::io_context& main_io, AdminApi& api, const std::string& bind, std::uint16_t port,
                         std::optional<std::string> token)
    : io_(main_io), api_(api), acceptor_(main_io), token_(std::move(token)) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(bind, ec);
  if (ec) throw std::runtime_error("admin.bind: not an IP address: '" + bind + "'");
  asio::ip::tcp::endpoint endpoint(address, port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("admin API cannot listen on " + bind + ":" + std::to_string(port) + ": " + ec.message());
}

void AdminServer::start() { asio::co_spawn(io_, accept_loop(), asio::detached); }

void AdminServer::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

asio::awaitable<void> AdminServer::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_nothrow);
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (!ec) asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> AdminServer::serve(asio::ip::tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(8192);
    parser.body_limit(65536);
    stream.expires_after(std::chrono::seconds(10));
    auto [read_ec, n] = co_await http::async_read(stream, buffer, parser, use_nothrow);
    if (read_ec) co_return;  // closed, timed out or malformed: nothing to answer
    Request request = parser.release();
    Response response;
    bool authorised = true;
    if (token_) {
      auto header = request[http::field::authorization];
      authorised = header == "Bearer " + *token_;
    }
    if (!authorised) {
      response = Response{http::status::unauthorized, request.version()};
      response.set(http::field::content_type, "application/json");
      response.set(http::field::www_authenticate, "Bearer");
      response.body() = nlohmann::json{{"error", "missing or wrong bearer token"}}.dump();
    } else {
      try {
        response = co_await api_.handle(request);
      } catch (const std::exception& e) {
        log::error(std::string("admin API: ") + e.what());
        response = Response{http::status::internal_server_error, request.version()};
        response.set(http::field::content_type, "application/json");
        response.body() = nlohmann::json{{"error", e.what()}}.dump();
      }
    }
    response.set(http::field::server, "tidegate");
    response.keep_alive(request.keep_alive());
    response.prepare_payload();
    stream.expires_after(std::chrono::seconds(10));
    auto [write_ec, written] = co_await http::async_write(stream, response, use_nothrow);
    if (write_ec || !request.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

}  // namespace tidegate::admin
