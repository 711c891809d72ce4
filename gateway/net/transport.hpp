#pragma once
// The byte stream under one MQTT connection: plain TCP, TLS, WebSocket or
// WebSocket over TLS. The connection drives it from its worker thread only;
// one read and one write may be in progress at a time (full duplex).
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <optional>
#include <string>
#include <tuple>

namespace tidegate {

using boost::system::error_code;

class Transport {
 public:
  virtual ~Transport() = default;

  // TLS and/or WebSocket handshake; the caller bounds it with its CONNECT
  // deadline (closing the transport aborts it). Completes with an error to drop.
  virtual boost::asio::awaitable<error_code> handshake() = 0;
  // Fails with errc::protocol_error when the peer broke the transport's own
  // rules (a WebSocket text frame, MQTT-6.0.0-1).
  virtual boost::asio::awaitable<std::tuple<error_code, std::size_t>> read_some(boost::asio::mutable_buffer b) = 0;
  // Whether the socket's readiness is the transport's: TCP only, where the
  // caller may wait for readability of socket() (holding no read buffer)
  // before read_some(). TLS and WebSocket keep bytes of their own beyond the
  // socket, so readiness of the socket says nothing about theirs; the read
  // loop then reads directly.
  virtual bool waits_for_readability() const { return false; }
  // Writes all of `b` (one WebSocket message for WebSocket transports).
  virtual boost::asio::awaitable<std::tuple<error_code, std::size_t>> write(boost::asio::const_buffer b) = 0;
  // The orderly end of our output once the last bytes are written, before
  // the connection lingers (connection.cpp): TLS (also under WebSocket)
  // sends close_notify (and reads until the peer's, or until it sends
  // anything else); plain TCP and WebSocket have nothing beyond the socket's
  // FIN, which the caller sends.
  // No read may be in progress. The caller bounds the time by closing.
  virtual boost::asio::awaitable<void> end_output() { co_return; }
  // Closes the socket at once; pending operations complete with an error.
  virtual void close() = 0;
  virtual boost::asio::ip::tcp::socket& socket() = 0;
  // TLS: the subject CN of a client certificate that was presented and verified.
  virtual std::optional<std::string> peer_common_name() { return std::nullopt; }
};

std::unique_ptr<Transport> make_tcp_transport(boost::asio::ip::tcp::socket socket);
std::unique_ptr<Transport> make_tls_transport(boost::asio::ip::tcp::socket socket,
                                              std::shared_ptr<boost::asio::ssl::context> tls);
// The client side of TLS (a bridge's link): SNI and name verification with `server_name`.
std::unique_ptr<Transport> make_tls_client_transport(boost::asio::ip::tcp::socket socket,
                                                     std::shared_ptr<boost::asio::ssl::context> tls,
                                                     std::string server_name);
// `path`: the HTTP path the upgrade must ask for; `max_message`: bound on one WebSocket message.
std::unique_ptr<Transport> make_ws_transport(boost::asio::ip::tcp::socket socket, std::string path,
                                             std::size_t max_message);
std::unique_ptr<Transport> make_wss_transport(boost::asio::ip::tcp::socket socket,
                                              std::shared_ptr<boost::asio::ssl::context> tls, std::string path,
                                              std::size_t max_message);

// Reads the subject CN of the verified peer certificate of a TLS session.
std::optional<std::string> verified_peer_common_name(SSL* ssl);

}  // namespace tidegate
