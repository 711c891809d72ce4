#pragma once
// GET /api/v1/live: the console's live feed as Server-Sent Events. After the
// header it sends the column names once ("columns"), then each new history
// sample as it is taken ("sample", once a second) until the browser goes or
// the gateway stops. A browser that stops reading is cut after 10 s of a
// blocked write. Main thread (a coroutine per feed). docs/console.md.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http.hpp>
#include <string>

#include "gateway/admin/admin_http.hpp"
#include "gateway/console/console_routes.hpp"
#include "gateway/console/history_sampler.hpp"

namespace tidegate::console {

// Writes the response header (no length: the body runs until the close),
// then the events. Returns when the feed ends.
template <class Stream>
boost::asio::awaitable<void> serve_live_feed(Stream& stream, const admin::Request& request, HistorySampler& sampler,
                                             void (*decorate)(boost::beast::http::response_header<>&)) {
  namespace asio = boost::asio;
  namespace http = boost::beast::http;
  constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
  http::response<http::empty_body> head{http::status::ok, request.version()};
  head.set(http::field::content_type, "text/event-stream");
  head.set(http::field::server, "tidegate");
  head.keep_alive(false);
  decorate(head.base());
  http::response_serializer<http::empty_body> serializer{head};
  boost::beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
  auto [header_ec, header_bytes] = co_await http::async_write_header(stream, serializer, use_nothrow);
  if (header_ec) co_return;

  // The browser reconnects after 2 s when the feed breaks.
  std::string text = "retry: 2000\nevent: columns\ndata: " + history_columns().dump() + "\n\n";
  // The newest sample at once; then each one after it, by sequence (the wall clock may step back).
  std::uint64_t sent_up_to = sampler.history().last_seq();
  if (auto latest = sampler.history().after(sent_up_to ? sent_up_to - 1 : 0); !latest.empty())
    text += "event: sample\ndata: " + sample_json(latest.back()).dump() + "\n\n";
  for (;;) {
    boost::beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
    auto [write_ec, written] = co_await asio::async_write(stream, asio::buffer(text), use_nothrow);
    if (write_ec) co_return;
    if (!co_await sampler.next_sample()) co_return;
    text.clear();
    for (const auto& s : sampler.history().after(sent_up_to)) {
      text += "event: sample\ndata: " + sample_json(s).dump() + "\n\n";
      sent_up_to = s.seq;
    }
  }
}

}  // namespace tidegate::console
