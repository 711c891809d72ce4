// MQTT over WebSocket (MQTT 5 §6): binary messages; a packet may span
// messages and a message may hold several packets — the connection's frame
// reader sees one byte stream either way. A text frame is a protocol
// violation (MQTT-6.0.0-1): read_some fails with errc::protocol_error.
// The upgrade must ask for the configured path; when the client offers
// subprotocols, "mqtt" must be one of them and is the one selected
// (MQTT-6.0.0-3, 6.0.0-4).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "gateway/net/transport.hpp"

namespace tidegate {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

bool offers_mqtt(std::string_view offered) {
  // A comma-separated list of tokens, e.g. "mqtt, mqttv3.1".
  while (!offered.empty()) {
    auto comma = offered.find(',');
    auto token = offered.substr(0, comma);
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
    if (token == "mqtt") return true;
    if (comma == std::string_view::npos) break;
    offered.remove_prefix(comma + 1);
  }
  return false;
}

template <typename NextLayer>
class WebSocketTransport final : public Transport {
 public:
  template <typename... Args>
  WebSocketTransport(std::shared_ptr<asio::ssl::context> tls, std::string path, std::size_t max_message, Args&&... args)
      : tls_(std::move(tls)), ws_(std::forward<Args>(args)...), path_(std::move(path)) {
    ws_.binary(true);
    ws_.read_message_max(max_message);
  }

  asio::awaitable<error_code> handshake() override {
    if constexpr (!std::is_same_v<NextLayer, asio::ip::tcp::socket>) {
      auto [ec] = co_await ws_.next_layer().async_handshake(asio::ssl::stream_base::server, use_nothrow);
      if (ec) co_return ec;
    }
    beast::flat_buffer buffer;
    http::request_parser<http::empty_body> parser;
    parser.header_limit(8192);  // a bounded upgrade request
    auto [read_ec, n] = co_await http::async_read(ws_.next_layer(), buffer, parser, use_nothrow);
    if (read_ec) co_return read_ec;
    const auto& request = parser.get();
    auto offered = request[http::field::sec_websocket_protocol];
    bool path_ok = request.target() == path_;
    if (!websocket::is_upgrade(request) || !path_ok || (!offered.empty() && !offers_mqtt(offered))) {
      http::response<http::string_body> refusal{path_ok ? http::status::bad_request : http::status::not_found,
                                                request.version()};
      refusal.set(http::field::connection, "close");
      refusal.body() = path_ok ? "MQTT over WebSocket needs an upgrade offering the mqtt subprotocol\n"
                               : "not found\n";
      refusal.prepare_payload();
      co_await http::async_write(ws_.next_layer(), refusal, use_nothrow);
      co_return make_error_code(websocket::error::no_connection_upgrade);
    }
    bool select_mqtt = !offered.empty();
    ws_.set_option(websocket::stream_base::decorator([select_mqtt](websocket::response_type& response) {
      if (select_mqtt) response.set(http::field::sec_websocket_protocol, "mqtt");
      response.set(http::field::server, "tidegate");
    }));
    auto [accept_ec] = co_await ws_.async_accept(request, use_nothrow);
    co_return accept_ec;
  }

  asio::awaitable<std::tuple<error_code, std::size_t>> read_some(asio::mutable_buffer b) override {
    auto [ec, n] = co_await ws_.async_read_some(b, use_nothrow);
    // MQTT-6.0.0-1: MQTT travels in binary frames; a text frame closes the
    // connection, and its bytes are not handed on.
    if (!ec && ws_.got_text()) co_return std::tuple{make_error_code(boost::system::errc::protocol_error), std::size_t{0}};
    co_return std::tuple{ec, n};
  }
  asio::awaitable<std::tuple<error_code, std::size_t>> write(asio::const_buffer b) override {
    co_return co_await ws_.async_write(b, use_nothrow);
  }
  asio::awaitable<void> end_output() override {
    // WebSocket over TLS: close_notify, as TlsTransport does (transport.hpp).
    // No WebSocket close frame: the read the connection cancelled before
    // this may have left the WebSocket layer failed; the TCP end follows.
    if constexpr (!std::is_same_v<NextLayer, asio::ip::tcp::socket>) co_await ws_.next_layer().async_shutdown(use_nothrow);
    co_return;
  }
  void close() override {
    error_code ignored;
    beast::get_lowest_layer(ws_).close(ignored);
  }
  asio::ip::tcp::socket& socket() override { return beast::get_lowest_layer(ws_); }
  std::optional<std::string> peer_common_name() override {
    if constexpr (std::is_same_v<NextLayer, asio::ip::tcp::socket>) {
      return std::nullopt;
    } else {
      return verified_peer_common_name(ws_.next_layer().native_handle());
    }
  }

 private:
  std::shared_ptr<asio::ssl::context> tls_;
  websocket::stream<NextLayer> ws_;
  std::string path_;
};

}  // namespace

std::unique_ptr<Transport> make_ws_transport(asio::ip::tcp::socket socket, std::string path, std::size_t max_message) {
  return std::make_unique<WebSocketTransport<asio::ip::tcp::socket>>(nullptr, std::move(path), max_message,
                                                                      std::move(socket));
}

std::unique_ptr<Transport> make_wss_transport(asio::ip::tcp::socket socket, std::shared_ptr<asio::ssl::context> tls,
                                              std::string path, std::size_t max_message) {
  auto& context = *tls;
  return std::make_unique<WebSocketTransport<asio::ssl::stream<asio::ip::tcp::socket>>>(
      std::move(tls), std::move(path), max_message, std::move(socket), context);
}

}  // namespace tidegate
