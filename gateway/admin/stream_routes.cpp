// The admin API's stream routes (docs/events.md, "Reading a stream"): list,
// read by sequence, time or consumer group with a long poll, and the groups'
// committed offsets. Main thread.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>

#include "gateway/admin/admin_api.hpp"
#include "gateway/admin/await_answer.hpp"
#include "gateway/admin/session_json.hpp"
#include "gateway/admin/stream_json.hpp"
#include "gateway/events/streams.hpp"

namespace tidegate::admin {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using nlohmann::json;

namespace {

constexpr std::size_t kDefaultMax = 100, kMaxMax = 1000;
constexpr unsigned kMaxWaitSeconds = 30;
// A long poll looks at the store this often while it waits (read transactions only).
constexpr auto kPollEvery = std::chrono::milliseconds(50);

template <typename T>
bool number(const std::string& text, T& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

bool valid_group(const std::string& g) {
  return !g.empty() && g.size() <= 64 &&
         g.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == std::string::npos;
}

json stream_json(const events::Streams& streams, const events::StreamConfig& s) {
  json groups = json::array();
  for (const auto& [name, seq] : streams.groups(s)) groups.push_back({{"name", name}, {"committed", seq}});
  return {{"name", s.name}, {"filter", s.filter}, {"last_seq", streams.last_seq(s)}, {"groups", groups}};
}

}  // namespace

asio::awaitable<Response> AdminApi::streams(const Request& request, std::string_view rest, std::string_view query) {
  const auto method = request.method();
  auto* streams = broker_.streams;
  // rest: "", "/NAME", "/NAME/messages", "/NAME/groups/G", "/NAME/groups/G/commit"
  std::vector<std::string> parts;
  for (std::size_t at = 1; at <= rest.size();) {
    auto slash = rest.find('/', at);
    parts.emplace_back(rest.substr(at, slash == std::string_view::npos ? std::string_view::npos : slash - at));
    if (slash == std::string_view::npos) break;
    at = slash + 1;
  }
  if (parts.empty()) {
    if (method != http::verb::get) co_return method_not_allowed(request, "GET");
    json list = json::array();
    if (streams)
      for (const auto& [name, s] : streams->all()) list.push_back(stream_json(*streams, s));
    co_return reply(request, http::status::ok, json{{"streams", list}});
  }
  const events::StreamConfig* stream = streams ? streams->find(parts[0]) : nullptr;
  if (!stream) co_return error(request, http::status::not_found, "no stream named '" + parts[0] + "'");
  if (parts.size() == 1) {
    if (method != http::verb::get) co_return method_not_allowed(request, "GET");
    co_return reply(request, http::status::ok, stream_json(*streams, *stream));
  }
  if (parts[1] == "groups" && (parts.size() == 3 || (parts.size() == 4 && parts[3] == "commit"))) {
    const std::string& group = parts[2];
    if (!valid_group(group))
      co_return error(request, http::status::bad_request, "a group name is 1 to 64 letters, digits, '_', '-' or '.'");
    if (parts.size() == 3) {
      if (method != http::verb::get) co_return method_not_allowed(request, "GET");
      co_return reply(request, http::status::ok, json{{"group", group}, {"committed", streams->committed(*stream, group)}});
    }
    if (method != http::verb::post) co_return method_not_allowed(request, "POST");
    std::uint64_t seq = 0;
    if (!number(query_param(query, "seq"), seq) || seq == UINT64_MAX)
      co_return error(request, http::status::bad_request, "commit wants seq=N: the last sequence the group has finished");
    std::function<void(std::function<void(std::error_code)>)> ask = [streams, stream, group, seq](auto done) {
      streams->commit(*stream, group, seq, [done](std::error_code ec) { done(ec); });
    };
    auto result = co_await await_answer<std::error_code>(main_io_, std::move(ask));
    if (!result) co_return error(request, http::status::gateway_timeout, "the store thread did not answer");
    if (*result) co_return error(request, http::status::service_unavailable, "cannot store the offset: " + result->message());
    co_return reply(request, http::status::ok, json{{"group", group}, {"committed", seq}});
  }
  if (parts.size() != 2 || parts[1] != "messages")
    co_return error(request, http::status::not_found, "no such endpoint: streams" + std::string(rest));
  if (method != http::verb::get) co_return method_not_allowed(request, "GET");
  const auto from_seq_text = query_param(query, "from_seq"), from_time_text = query_param(query, "from_time"),
             group = query_param(query, "group"), max_text = query_param(query, "max"), wait_text = query_param(query, "wait");
  if (!from_seq_text.empty() + !from_time_text.empty() + !group.empty() > 1)
    co_return error(request, http::status::bad_request, "give one of from_seq, from_time and group");
  std::uint64_t from = 0;
  if (!from_seq_text.empty() && !number(from_seq_text, from))
    co_return error(request, http::status::bad_request, "from_seq: not a sequence number");
  if (!from_time_text.empty()) {
    std::int64_t ms = 0;
    if (!number(from_time_text, ms)) co_return error(request, http::status::bad_request, "from_time: not milliseconds since the epoch");
    from = store_.first_sequence_since(ms);
  }
  if (!group.empty()) {
    if (!valid_group(group))
      co_return error(request, http::status::bad_request, "a group name is 1 to 64 letters, digits, '_', '-' or '.'");
    from = streams->committed(*stream, group) + 1;
  }
  std::size_t max = kDefaultMax;
  if (!max_text.empty() && (!number(max_text, max) || max == 0 || max > kMaxMax))
    co_return error(request, http::status::bad_request, "max: a number from 1 to " + std::to_string(kMaxMax));
  unsigned wait = 0;
  if (!wait_text.empty() && (!number(wait_text, wait) || wait > kMaxWaitSeconds))
    co_return error(request, http::status::bad_request, "wait: seconds from 0 to " + std::to_string(kMaxWaitSeconds));
  auto messages = streams->read(*stream, from, max);
  // Long poll: nothing yet, so look again until something comes or `wait` passes.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait);
  asio::steady_timer timer(main_io_);
  while (messages.empty() && std::chrono::steady_clock::now() < deadline && !broker_.shutting_down) {
    timer.expires_after(kPollEvery);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    const auto* again = streams->find(stream->name);  // a reload may have removed it meanwhile
    if (!again) co_return error(request, http::status::not_found, "no stream named '" + parts[0] + "'");
    stream = again;
    messages = streams->read(*stream, from, max);
  }
  json list = json::array();
  for (const auto& m : messages) list.push_back(message_json(*m));
  const std::uint64_t next = messages.empty() ? std::max<std::uint64_t>(from, 1) : messages.back()->seq + 1;
  co_return reply(request, http::status::ok, json{{"stream", stream->name}, {"messages", list}, {"next_seq", next}});
}

}  // namespace tidegate::admin
