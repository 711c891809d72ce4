#include "gateway/admin/admin_server.hpp"

#include "gateway/admin/stream_tail.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
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
      broker_(broker),
      store_(store),
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
  for (auto* channel : open_channels_) channel->close();
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
  if (ec || stopping_) co_return;  // already gone, or accepted just before stop()
  std::string peer = remote.address().to_string();
  HttpChannel channel(io_, tls_ ? make_tls_transport(std::move(socket), tls_) : make_tcp_transport(std::move(socket)));
  // In open_channels_ while served, so stop() can close a connection a console keeps busy.
  struct Registered {
    std::set<HttpChannel*>& set;
    HttpChannel* channel;
    ~Registered() { set.erase(channel); }
  } registered{open_channels_, &channel};
  open_channels_.insert(&channel);
  // Not TLS, or a certificate the client refused: nothing to answer.
  if (!co_await channel.handshake()) co_return;
  for (;;) {
    Request request;
    auto read = co_await channel.read(request);
    if (read.outcome == HttpChannel::Read::closed) co_return;
    if (read.outcome == HttpChannel::Read::unparsable) {
      // What follows a request that did not parse cannot be trusted: answer, then close.
      if (auto answer = answer_to_unparsable(read.error)) {
        answer->set(http::field::server, "tidegate");
        add_security_headers(answer->base());
        answer->keep_alive(false);
        answer->prepare_payload();
        co_await channel.write(*answer);
      }
      break;
    }
    std::string_view path = request.target().substr(0, request.target().find('?'));
    auto refusal = access_.refusal(request, local);
    if (!refusal && path == "/api/v1/live" && request.method() == http::verb::get) {
      co_await serve_live(channel, request);
      break;
    }
    // Exactly /api/v1/streams/NAME/tail (a group may be named "tail").
    constexpr std::string_view streams_prefix = "/api/v1/streams/";
    if (!refusal && path.starts_with(streams_prefix) && path.ends_with("/tail") &&
        path.find('/', streams_prefix.size()) == path.size() - 5 && request.method() == http::verb::get) {
      co_await serve_tail(channel, request);
      break;
    }
    Response response;
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
    if (!co_await channel.write(response, request.method() == http::verb::head) || !response.keep_alive()) break;
  }
  channel.shutdown();
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

asio::awaitable<bool> AdminServer::refuse_beyond_live_limit(HttpChannel& channel, const Request& request,
                                                            const std::string& what) {
  if (live_streams_ < max_live_streams_) co_return false;
  Metrics::add(metrics_.admin_live_streams_refused);
  Response r = json_error(request.version(), http::status::service_unavailable, what);
  r.set(http::field::server, "tidegate");
  r.set(http::field::retry_after, "10");
  add_security_headers(r.base());
  r.keep_alive(false);
  r.prepare_payload();
  co_await channel.write(r);
  co_return true;
}

asio::awaitable<void> AdminServer::serve_tail(HttpChannel& channel, const Request& request) {
  const std::string what = "too many live feeds and stream tails open (admin.max_live_streams); a long poll still answers";
  if (co_await refuse_beyond_live_limit(channel, request, what)) co_return;
  Counted open(live_streams_, metrics_.admin_live_streams);
  co_await serve_stream_tail(io_, channel, request, broker_.streams, store_, broker_.shutting_down, &add_security_headers);
}

asio::awaitable<void> AdminServer::serve_live(HttpChannel& channel, const Request& request) {
  const std::string what = "too many live feeds open (admin.max_live_streams); the history endpoint still answers";
  if (co_await refuse_beyond_live_limit(channel, request, what)) co_return;
  Counted open(live_streams_, metrics_.admin_live_streams);
  co_await console::serve_live_feed(channel, request, sampler_, &add_security_headers);
}

}  // namespace tidegate::admin
