#include "gateway/admin/admin_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <nlohmann/json.hpp>

#include "gateway/console/live_feed.hpp"
#include "gateway/ops/log.hpp"

namespace tidegate::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

AdminServer::AdminServer(asio::io_context& main_io, AdminApi& api, BrokerContext& broker, const store::LmdbStore& store,
                         AdminListenerOptions options)
    : io_(main_io),
      api_(api),
      metrics_(broker.metrics),
      acceptor_(main_io),
      tls_(std::move(options.tls)),
      access_(std::move(options.access)),
      logins_(options.max_logins, std::chrono::hours(12), &broker.metrics.admin_logins),
      sampler_(main_io, broker, store, options.history_seconds),
      console_(access_, logins_, sampler_, broker.metrics, tls_ != nullptr),
      max_live_streams_(options.max_live_streams) {
  access_.logins = &logins_;
  access_.https = tls_ != nullptr;
  const auto& bind = options.bind;
  const auto port = options.port;
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

void AdminServer::start() {
  sampler_.start();
  asio::co_spawn(io_, accept_loop(), asio::detached);
}

void AdminServer::stop() {
  stopping_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  sampler_.stop();  // ends the live feeds
  // A console polls on a keep-alive connection: left open, it would keep the
  // main thread's io_context (and the gateway) running after SIGTERM.
  for (auto* socket : open_sockets_) socket->close(ignored);
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

// On every answer: the console's page may load only its own files (no inline
// script, no other site), may not be framed, and sends no Referer.
void add_security_headers(http::response_header<>& r) {
  r.set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'");
  r.set("X-Content-Type-Options", "nosniff");
  r.set("Referrer-Policy", "no-referrer");
  if (r.find(http::field::cache_control) == r.end()) r.set(http::field::cache_control, "no-store");
}

}  // namespace

asio::awaitable<void> AdminServer::serve(asio::ip::tcp::socket socket) {
  boost::system::error_code ec;
  auto local = socket.local_endpoint(ec);
  auto remote = socket.remote_endpoint(ec);
  if (ec) co_return;  // already gone
  std::string peer = remote.address().to_string();
  if (!tls_) {
    beast::tcp_stream stream(std::move(socket));
    co_await serve_http(stream, local, std::move(peer));
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *tls_);
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
  auto [handshake_ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, use_nothrow);
  if (handshake_ec) co_return;  // not TLS, or a certificate the client refused: nothing to answer
  co_await serve_http(stream, local, std::move(peer));
}

namespace {
// Keeps a count true however a coroutine leaves its scope.
struct Counted {
  Counted(std::size_t& count, std::atomic<std::int64_t>& gauge) : count(count), gauge(gauge) { set(+1); }
  ~Counted() { set(-1); }
  void set(int by) {
    count += by;
    gauge.store(static_cast<std::int64_t>(count), std::memory_order_relaxed);
  }
  std::size_t& count;
  std::atomic<std::int64_t>& gauge;
};
}  // namespace

template <class Stream>
asio::awaitable<void> AdminServer::serve_live(Stream& stream, const Request& request) {
  if (live_streams_ >= max_live_streams_) {
    Metrics::add(metrics_.admin_live_streams_refused);
    Response r = json_error(request.version(), http::status::service_unavailable,
                            "too many live feeds open (admin.max_live_streams); the history endpoint still answers");
    r.set(http::field::server, "tidegate");
    r.set(http::field::retry_after, "10");
    add_security_headers(r.base());
    r.keep_alive(false);
    r.prepare_payload();
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
    co_await http::async_write(stream, r, use_nothrow);
    co_return;
  }
  Counted open(live_streams_, metrics_.admin_live_streams);
  co_await console::serve_live_feed(stream, request, sampler_, &add_security_headers);
}

template <class Stream>
asio::awaitable<void> AdminServer::serve_http(Stream& stream, asio::ip::tcp::endpoint local, std::string peer) {
  struct Registered {  // in open_sockets_ while this connection is served
    std::set<asio::ip::tcp::socket*>& set;
    asio::ip::tcp::socket* socket;
    ~Registered() { set.erase(socket); }
  } registered{open_sockets_, &beast::get_lowest_layer(stream).socket()};
  open_sockets_.insert(registered.socket);
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(8192);
    parser.body_limit(65536);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
    auto [read_ec, n] = co_await http::async_read(stream, buffer, parser, use_nothrow);
    if (read_ec) {
      // What follows a request that did not parse cannot be trusted: answer, then close.
      if (auto answer = answer_to_unparsable(read_ec)) {
        answer->set(http::field::server, "tidegate");
        answer->keep_alive(false);
        add_security_headers(answer->base());
        answer->prepare_payload();
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
        co_await http::async_write(stream, *answer, use_nothrow);
        break;
      }
      co_return;
    }
    Request request = parser.release();
    Response response;
    std::string_view path = request.target().substr(0, request.target().find('?'));
    auto refusal = access_.refusal(request, local);
    if (!refusal && path == "/api/v1/live" && request.method() == http::verb::get) {
      co_await serve_live(stream, request);
      break;
    }
    if (refusal) {
      response = std::move(*refusal);
    } else {
      try {
        if (auto console_answer = console_.handle(request, peer))
          response = std::move(*console_answer);
        else
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
    add_security_headers(response.base());
    response.keep_alive(request.keep_alive() && !stopping_);
    response.prepare_payload();
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
    auto [write_ec, written] = co_await http::async_write(stream, response, use_nothrow);
    if (write_ec || !response.keep_alive()) break;
  }
  boost::system::error_code ignored;
  beast::get_lowest_layer(stream).socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

}  // namespace tidegate::admin
