#include "gateway/console/live_feed.hpp"

#include <string>

#include "gateway/console/console_routes.hpp"

namespace tidegate::console {

namespace http = boost::beast::http;

boost::asio::awaitable<void> serve_live_feed(admin::HttpChannel& channel, const admin::Request& request,
                                             HistorySampler& sampler, void (*decorate)(http::response_header<>&)) {
  // No length: the body runs until the close.
  http::response_header<> head;
  head.version(request.version());
  head.result(http::status::ok);
  head.set(http::field::content_type, "text/event-stream");
  head.set(http::field::server, "tidegate");
  head.set(http::field::connection, "close");
  decorate(head);
  if (!co_await channel.write(head)) co_return;

  // The browser reconnects after 2 s when the feed breaks. The newest sample
  // at once; then each one after it, by sequence (the wall clock may step back).
  std::string text = "retry: 2000\nevent: columns\ndata: " + history_columns().dump() + "\n\n";
  std::uint64_t sent_up_to = sampler.history().last_seq();
  if (sent_up_to > 0)
    for (const auto& s : sampler.history().after(sent_up_to - 1))
      text += "event: sample\ndata: " + sample_json(s).dump() + "\n\n";
  for (;;) {
    if (!co_await channel.write_bytes(std::move(text))) co_return;
    if (!co_await sampler.next_sample()) co_return;
    text.clear();
    for (const auto& s : sampler.history().after(sent_up_to)) {
      text += "event: sample\ndata: " + sample_json(s).dump() + "\n\n";
      sent_up_to = s.seq;
    }
  }
}

}  // namespace tidegate::console
