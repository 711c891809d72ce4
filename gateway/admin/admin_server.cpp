#include "gateway/admin/admin_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "gateway/ops/log.hpp"

namespace tidegate::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

AdminServer::AdminServer(asio::io_context& main_io, AdminApi& api, const std::string& bind, std::uint16_t port,
                         AdminAccess access)
    : io_(main_io), api_(api), acceptor_(main_io), access_(std::move(access)) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(bind, ec);
  if (ec) throw std::runtime_error("admin.bind: not an IP address: '" + bind + "'");
  asio::ip::tcp::endpoint endpoint(address, port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec == boost::system::errc::address_in_use)
    throw std::runtime_error("admin API cannot listen on " + bind + ":" + std::to_string(port) + ": " + ec.message() +
                             " (another tidegate, or another program, holds it); set admin.port to a free port, or "
                             "admin.enabled: false to run without the admin API");
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

namespace {

Response json_error(unsigned version, http::status status, const std::string& message) {
  Response r{status, version};
  r.set(http::field::content_type, "application/json");
  r.body() = nlohmann::json{{"error", message}}.dump();
  return r;
}

// The answer to a request Beast could not parse; nullopt when there is no one
// to answer (the peer closed, or the 10 s ran out).
std::optional<Response> answer_to_unparsable(const boost::system::error_code& ec) {
  if (ec.category() != http::make_error_code(http::error::bad_target).category() ||
      ec == http::error::end_of_stream || ec == http::error::partial_message)
    return std::nullopt;
  if (ec == http::error::header_limit)
    return json_error(11, http::status::request_header_fields_too_large, "the request's header is over 8 KiB");
  if (ec == http::error::body_limit)
    return json_error(11, http::status::payload_too_large, "the request's body is over 64 KiB");
  return json_error(11, http::status::bad_request, "malformed HTTP request: " + ec.message());
}

}  // namespace

asio::awaitable<void> AdminServer::serve(asio::ip::tcp::socket socket) {
  boost::system::error_code local_ec;
  auto local = socket.local_endpoint(local_ec);
  beast::tcp_stream stream(std::move(socket));
  if (local_ec) co_return;  // already gone
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(8192);
    parser.body_limit(65536);
    stream.expires_after(std::chrono::seconds(10));
    auto [read_ec, n] = co_await http::async_read(stream, buffer, parser, use_nothrow);
    if (read_ec) {
      // What follows a request that did not parse cannot be trusted: answer, then close.
      if (auto answer = answer_to_unparsable(read_ec)) {
        answer->set(http::field::server, "tidegate");
        answer->keep_alive(false);
        answer->prepare_payload();
        stream.expires_after(std::chrono::seconds(10));
        co_await http::async_write(stream, *answer, use_nothrow);
        break;
      }
      co_return;
    }
    Request request = parser.release();
    Response response;
    if (auto refusal = access_.refusal(request, local)) {
      response = std::move(*refusal);
    } else {
      try {
        response = co_await api_.handle(request);
      } catch (const std::exception& e) {
        // A fault of the gateway, not of the request: the detail goes to the log only.
        log::error(std::string("admin API: ") + std::string(request.method_string()) + " " +
                   std::string(request.target()) + ": " + e.what());
        response = json_error(request.version(), http::status::internal_server_error,
                              "internal error; the gateway's log has the detail");
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
