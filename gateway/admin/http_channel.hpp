#pragma once
// One connection to the admin listener as HTTP/1.1 messages, over the same
// Transport as the MQTT listeners (plain TCP, or TLS with admin.cert): reads a
// request with Beast's parser fed by hand and writes answers serialised to
// bytes, so the HTTP code exists once whatever the transport (one template
// instantiation instead of one per stream type: the firmware's size). Every
// read and write has a deadline; past it the connection is closed. Main
// thread.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "gateway/admin/admin_http.hpp"
#include "gateway/net/transport.hpp"

namespace tidegate::admin {

class HttpChannel {
 public:
  HttpChannel(boost::asio::io_context& io, std::unique_ptr<Transport> transport);
  ~HttpChannel();

  // The TLS handshake (nothing for plain TCP); false: drop the connection.
  boost::asio::awaitable<bool> handshake();

  struct Read {
    enum { request, closed, unparsable } outcome = closed;
    boost::system::error_code error;  // unparsable: Beast's reason (header_limit, body_limit, bad_target...)
  };
  // The next request into `request` (8 KiB of headers, 64 KiB of body, 10 s).
  boost::asio::awaitable<Read> read(Request& request);
  // Writes `response` whole, as it is (the caller prepared it), without its
  // body when it answers a HEAD; false: the peer is gone.
  boost::asio::awaitable<bool> write(Response& response, bool head_request = false);
  // Writes a header with no length (a body that runs until the close), or raw body bytes.
  boost::asio::awaitable<bool> write(boost::beast::http::response_header<>& header);
  boost::asio::awaitable<bool> write_bytes(std::string bytes);

  // Closes at once; what is pending completes with an error.
  void close();
  // The orderly end: no more output (FIN), then close.
  void shutdown();

 private:
  void expire_after(std::chrono::seconds limit);
  void disarm();

  // Shared with the deadline's handler, which may already be queued when the
  // channel goes (it holds only a weak reference) or when a new deadline
  // replaced its own (it checks the generation).
  struct Guarded {
    std::unique_ptr<Transport> transport;
    std::uint64_t generation = 0;
  };
  std::shared_ptr<Guarded> guarded_;
  Transport* transport_;
  boost::asio::steady_timer deadline_;
  // Bytes read and not yet parsed (the next request may start here). Bounded:
  // the parser takes a body as it comes, so only a header or a chunk's size
  // line waits here, and neither may be longer than this.
  boost::beast::flat_buffer buffer_{16 * 1024};
};

}  // namespace tidegate::admin
