#include "gateway/admin/stream_tail.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>

#include "gateway/admin/admin_http.hpp"
#include "gateway/admin/stream_json.hpp"

namespace tidegate::admin {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {
constexpr auto kPollEvery = std::chrono::milliseconds(50);
constexpr auto kKeepAliveEvery = std::chrono::seconds(15);
constexpr std::size_t kBatch = 100;

asio::awaitable<void> refuse(HttpChannel& channel, const Request& request, void (*decorate)(http::response_header<>&),
                             http::status status, const std::string& message) {
  Response r = error(request, status, message);
  r.set(http::field::server, "tidegate");
  decorate(r.base());
  r.keep_alive(false);
  r.prepare_payload();
  co_await channel.write(r);
}

template <typename T>
bool number(std::string_view text, T& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}
}  // namespace

asio::awaitable<void> serve_stream_tail(asio::io_context& io, HttpChannel& channel, const Request& request,
                                        const events::Streams* streams, const store::LmdbStore& store,
                                        const std::atomic<bool>& stopping,
                                        void (*decorate)(http::response_header<>&)) {
  std::string_view target = request.target();
  std::string_view query;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    query = target.substr(q + 1);
    target = target.substr(0, q);
  }
  // target: /api/v1/streams/NAME/tail
  std::string_view name = target.substr(std::string_view("/api/v1/streams/").size());
  name = name.substr(0, name.size() - std::string_view("/tail").size());
  const events::StreamConfig* stream = streams ? streams->find(std::string(name)) : nullptr;
  // A bad request is answered once, from a named status and message (no
  // temporaries across the co_await: see await_answer.hpp).
  http::status bad = http::status::ok;
  std::string problem;
  std::uint64_t from = 0;
  if (!stream) {
    bad = http::status::not_found;
    problem = "no stream named '" + std::string(name) + "'";
  } else {
    from = streams->last_seq(*stream) + 1;  // by default: what comes next
    const auto from_seq = query_param(query, "from_seq"), from_time = query_param(query, "from_time");
    std::string_view last_event = request["Last-Event-ID"];
    std::uint64_t seen = 0;
    std::int64_t ms = 0;
    if (!last_event.empty()) {
      if (number(last_event, seen) && seen < UINT64_MAX) from = seen + 1;
      else bad = http::status::bad_request, problem = "Last-Event-ID: not a sequence";
    } else if (!from_seq.empty()) {
      if (!number(std::string_view(from_seq), from)) bad = http::status::bad_request, problem = "from_seq: not a sequence number";
    } else if (!from_time.empty()) {
      if (number(std::string_view(from_time), ms)) from = store.first_sequence_since(ms);
      else bad = http::status::bad_request, problem = "from_time: not milliseconds since the epoch";
    }
  }
  if (bad != http::status::ok) {
    co_await refuse(channel, request, decorate, bad, problem);
    co_return;
  }
  http::response_header<> head;  // no length: the body runs until the close
  head.version(request.version());
  head.result(http::status::ok);
  head.set(http::field::content_type, "text/event-stream");
  head.set(http::field::cache_control, "no-store");
  head.set(http::field::server, "tidegate");
  head.set(http::field::connection, "close");
  decorate(head);
  if (!co_await channel.write(head)) co_return;
  std::string text = "retry: 2000\n\n";
  asio::steady_timer timer(io);
  auto quiet_since = std::chrono::steady_clock::now();
  const std::string stream_name = stream->name;
  while (!stopping) {
    if (!text.empty()) {
      if (!co_await channel.write_bytes(std::move(text))) co_return;
      text.clear();
      quiet_since = std::chrono::steady_clock::now();
    }
    stream = streams->find(stream_name);
    if (!stream) co_return;  // removed by a reload
    auto batch = streams->read(*stream, from, kBatch);
    for (const auto& m : batch) {
      text += "id: " + std::to_string(m->seq) + "\nevent: message\ndata: " +
              message_json(*m).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
      from = m->seq + 1;
    }
    if (!batch.empty()) continue;
    if (std::chrono::steady_clock::now() - quiet_since >= kKeepAliveEvery) {
      text = ": keep-alive\n\n";
      continue;
    }
    timer.expires_after(kPollEvery);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace tidegate::admin
