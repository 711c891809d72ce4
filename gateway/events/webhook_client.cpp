#include "gateway/events/webhook_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <charconv>
#include <ctime>
#include <sstream>

#include "storeclient/message.hpp"

namespace tidegate::events {

namespace asio = boost::asio;
namespace http = boost::beast::http;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view v, std::int64_t now_wall_ms) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  std::uint64_t seconds = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
  if (!v.empty() && ec == std::errc() && end == v.data() + v.size())
    return std::chrono::milliseconds(std::min<std::uint64_t>(seconds, 86400) * 1000);
  std::tm tm{};
  std::string text(v);
  const char* parsed = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!parsed || *parsed) return std::nullopt;
  std::int64_t at_ms = static_cast<std::int64_t>(timegm(&tm)) * 1000;
  return std::chrono::milliseconds(std::max<std::int64_t>(0, at_ms - now_wall_ms));
}

WebhookClient::WebhookClient(asio::io_context& io, const WebhookConfig& config, std::shared_ptr<asio::ssl::context> tls)
    : io_(io), config_(config), tls_(std::move(tls)), deadline_(io) {}

WebhookClient::~WebhookClient() { deadline_.cancel(); }

void WebhookClient::stop() {
  stopped_ = true;
  ++guarded_->generation;
  deadline_.cancel();
  if (guarded_->resolving) guarded_->resolving->cancel();
  if (guarded_->connecting) {
    boost::system::error_code ignored;
    guarded_->connecting->close(ignored);
  }
  if (guarded_->transport) guarded_->transport->close();  // pending reads and writes complete with an error
}

void WebhookClient::drop_connection() {
  if (guarded_->transport) guarded_->transport->close();
  guarded_->transport.reset();
}

void WebhookClient::arm() {
  deadline_.expires_after(std::chrono::milliseconds(config_.timeout_ms));
  const auto generation = ++guarded_->generation;
  guarded_->expired = false;
  deadline_.async_wait([weak = std::weak_ptr<Guarded>(guarded_), generation](boost::system::error_code ec) {
    auto guarded = weak.lock();
    if (ec || !guarded || guarded->generation != generation) return;
    guarded->expired = true;
    if (guarded->resolving) guarded->resolving->cancel();
    if (guarded->connecting) {
      boost::system::error_code ignored;
      guarded->connecting->close(ignored);
    }
    if (guarded->transport) guarded->transport->close();
  });
}

void WebhookClient::disarm() {
  ++guarded_->generation;
  deadline_.cancel();
}

asio::awaitable<std::string> WebhookClient::connect() {
  asio::ip::tcp::resolver resolver(io_);
  guarded_->resolving = &resolver;  // the deadline cancels it
  auto [resolve_error, endpoints] = co_await resolver.async_resolve(config_.host, std::to_string(config_.port), use_nothrow);
  guarded_->resolving = nullptr;
  if (stopped_) co_return "stopped";
  if (guarded_->expired) co_return "timed out resolving " + config_.host;
  if (resolve_error) co_return "cannot resolve " + config_.host + ": " + resolve_error.message();
  asio::ip::tcp::socket socket(io_);
  guarded_->connecting = &socket;  // the deadline closes it
  auto [connect_error, endpoint] = co_await asio::async_connect(socket, endpoints, use_nothrow);
  guarded_->connecting = nullptr;
  if (stopped_) co_return "stopped";
  if (connect_error) co_return guarded_->expired ? "connect timed out" : "cannot connect: " + connect_error.message();
  boost::system::error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  try {
    const std::string server_name = config_.tls && config_.tls->server_name ? *config_.tls->server_name : config_.host;
    guarded_->transport = tls_ ? make_tls_client_transport(std::move(socket), tls_, server_name)
                               : make_tcp_transport(std::move(socket));
  } catch (const std::exception& e) {
    co_return std::string("cannot set up the connection: ") + e.what();
  }
  auto ec = co_await guarded_->transport->handshake();
  if (stopped_) co_return "stopped";
  if (ec) co_return guarded_->expired ? "TLS handshake timed out" : "TLS handshake failed: " + ec.message();
  co_return "";
}

asio::awaitable<WebhookResult> WebhookClient::post(const HttpEvent& event) {
  WebhookResult result;
  if (stopped_) {
    result.error = "stopped";
    co_return result;
  }
  http::request<http::string_body> request{http::verb::post, config_.target, 11};
  bool default_port = config_.port == (config_.https ? 443 : 80);
  std::string host = config_.host.find(':') != std::string::npos ? "[" + config_.host + "]" : config_.host;
  request.set(http::field::host, default_port ? host : host + ":" + std::to_string(config_.port));
  request.set(http::field::user_agent, "tidegate");
  request.set(http::field::content_type, event.content_type);
  for (const auto& [name, value] : config_.headers) request.set(name, value);
  for (const auto& [name, value] : event.headers) request.set(name, value);
  request.body() = event.body;
  request.keep_alive(true);
  request.prepare_payload();
  std::ostringstream header;
  header << request.base();
  // One write for header and body: no wait on Nagle and delayed ACKs.
  const std::string wire = std::move(header).str() + request.body();
  arm();
  // A kept-alive connection the receiver closed while idle fails before any
  // answer: then the request goes once more on a new connection, within the
  // same deadline, and that is not a failed attempt.
  for (int round = 0; round < 2; ++round) {
    const bool reused = guarded_->transport != nullptr;
    if (!reused) {
      if (auto failure = co_await connect(); !failure.empty()) {
        disarm();
        drop_connection();
        result.error = std::move(failure);
        co_return result;
      }
    }
    bool answered = false;
    result = co_await exchange(wire, answered);
    if (stopped_) break;
    if (result.status == 0) drop_connection();
    if (result.status != 0 || !reused || answered || guarded_->expired) break;
  }
  disarm();
  if (stopped_) drop_connection();
  co_return result;
}

asio::awaitable<WebhookResult> WebhookClient::exchange(const std::string& wire, bool& answered) {
  WebhookResult result;
  auto [write_error, written] = co_await guarded_->transport->write(asio::buffer(wire));
  if (stopped_ || write_error) {
    result.error = guarded_->expired ? "timed out sending" : "cannot send: " + write_error.message();
    co_return result;
  }
  http::response_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(64 * 1024);  // the body is not used; a longer one ends the connection after its status
  boost::beast::flat_buffer buffer;
  bool keep = false;
  for (;;) {
    auto [read_error, n] = co_await guarded_->transport->read_some(buffer.prepare(4096));
    if (stopped_) {
      result.error = "stopped";
      co_return result;
    }
    buffer.commit(n);
    if (n > 0) answered = true;
    boost::system::error_code ec;
    while (buffer.size() > 0 && !parser.is_done()) {
      auto used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec || used == 0) break;
    }
    if (parser.is_done()) {
      keep = parser.get().keep_alive() && buffer.size() == 0;
      break;
    }
    if (ec) {
      if (parser.is_header_done()) break;  // a body too long or malformed: the status stands, the connection goes
      result.error = "the answer is not HTTP: " + ec.message();
      co_return result;
    }
    if (read_error) {
      if (read_error == asio::error::eof && parser.is_header_done()) {
        parser.put_eof(ec);  // a body that ran until the close
        break;
      }
      result.error = guarded_->expired                ? "no answer within timeout_ms"
                     : !answered && read_error == asio::error::eof ? "the receiver closed the connection without an answer"
                     : parser.got_some()                           ? "the connection ended in the middle of the answer"
                                                                   : "cannot read the answer: " + read_error.message();
      co_return result;
    }
  }
  const auto& response = parser.get();
  result.status = response.result_int();
  // An interim 1xx answer is not the answer to this request: the connection is not reused.
  if (result.status < 200) keep = false;
  if (result.status == 429 || result.status == 503)
    if (auto it = response.find(http::field::retry_after); it != response.end())
      result.retry_after = parse_retry_after(std::string_view(it->value().data(), it->value().size()), store::wall_clock_ms());
  if (!keep) drop_connection();
  co_return result;
}

}  // namespace tidegate::events
