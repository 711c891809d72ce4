#include "gateway/admin/http_channel.hpp"

#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <algorithm>
#include <sstream>

namespace tidegate::admin {

namespace asio = boost::asio;
namespace http = boost::beast::http;

constexpr auto kTimeout = std::chrono::seconds(10);
constexpr std::size_t kReadChunk = 4096;

HttpChannel::HttpChannel(asio::io_context& io, std::unique_ptr<Transport> transport)
    : guarded_(std::make_shared<Guarded>(Guarded{std::move(transport), 0})),
      transport_(guarded_->transport.get()),
      deadline_(io) {}

HttpChannel::~HttpChannel() { deadline_.cancel(); }

void HttpChannel::disarm() {
  ++guarded_->generation;  // a handler already queued finds it stale
  deadline_.cancel();
}

void HttpChannel::expire_after(std::chrono::seconds limit) {
  deadline_.expires_after(limit);
  // A new deadline cancels the wait of the old one (operation_aborted).
  const auto generation = ++guarded_->generation;
  deadline_.async_wait([weak = std::weak_ptr<Guarded>(guarded_), generation](boost::system::error_code ec) {
    auto guarded = weak.lock();
    if (!ec && guarded && guarded->generation == generation) guarded->transport->close();
  });
}

void HttpChannel::close() { transport_->close(); }

void HttpChannel::shutdown() {
  boost::system::error_code ignored;
  transport_->socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  transport_->close();
}

asio::awaitable<bool> HttpChannel::handshake() {
  expire_after(kTimeout);
  auto ec = co_await transport_->handshake();
  disarm();
  co_return !ec;
}

asio::awaitable<HttpChannel::Read> HttpChannel::read(Request& request) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(8192);
  parser.body_limit(65536);
  parser.eager(true);
  expire_after(kTimeout);
  for (;;) {
    if (buffer_.size() > 0) {
      boost::system::error_code ec;
      auto used = parser.put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec && ec != http::error::need_more) {
        disarm();
        co_return Read{Read::unparsable, ec};
      }
      if (parser.is_done()) break;
      if (!ec && used > 0) continue;  // more of this request may already be here
    }
    auto room = buffer_.max_size() - buffer_.size();
    if (room == 0) {  // a line that never ends (a chunk size, a trailer): refused as too large
      disarm();
      co_return Read{Read::unparsable, http::error::header_limit};
    }
    auto [ec, n] = co_await transport_->read_some(buffer_.prepare(std::min(kReadChunk, room)));
    buffer_.commit(n);
    if (ec) {
      disarm();
      // Cut off in the middle of a request: answered as malformed; between requests: a quiet end.
      if (parser.got_some() && ec == asio::error::eof) co_return Read{Read::unparsable, http::error::partial_message};
      co_return Read{Read::closed, ec};
    }
  }
  disarm();
  request = parser.release();
  co_return Read{Read::request, {}};
}

asio::awaitable<bool> HttpChannel::write_bytes(std::string bytes) {
  expire_after(kTimeout);
  auto [ec, n] = co_await transport_->write(asio::buffer(bytes));
  disarm();
  co_return !ec;
}

asio::awaitable<bool> HttpChannel::write(Response& response, bool head_request) {
  std::ostringstream header;
  header << response.base();
  std::string wire = std::move(header).str();
  // One write for header and body: two small ones would wait on Nagle and delayed ACKs.
  if (!head_request) wire += response.body();
  co_return co_await write_bytes(std::move(wire));
}

asio::awaitable<bool> HttpChannel::write(http::response_header<>& header) {
  std::ostringstream wire;
  wire << header;
  co_return co_await write_bytes(std::move(wire).str());
}

}  // namespace tidegate::admin
