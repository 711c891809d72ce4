#include "gateway/auth/auth_http.hpp"

#include <openssl/evp.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>

#include "gateway/ops/log.hpp"

namespace tidegate {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using nlohmann::json;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

namespace {

struct Exchange {
  std::string host, port, target, body;
  std::chrono::milliseconds timeout;
};

// One POST; the status and body, or an error text. The whole exchange
// (resolve excepted, which is bounded by the system) shares the timeout.
asio::awaitable<std::pair<int, std::string>> post_json(Exchange ex) {
  auto executor = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(executor);
  auto [resolve_error, endpoints] = co_await resolver.async_resolve(ex.host, ex.port, use_nothrow);
  if (resolve_error) co_return std::pair{-1, "cannot resolve " + ex.host + ": " + resolve_error.message()};
  beast::tcp_stream stream(executor);
  stream.expires_after(ex.timeout);
  auto [connect_error, endpoint] = co_await stream.async_connect(endpoints, use_nothrow);
  if (connect_error) co_return std::pair{-1, "connect: " + connect_error.message()};
  http::request<http::string_body> request{http::verb::post, ex.target, 11};
  request.set(http::field::host, ex.host);
  request.set(http::field::content_type, "application/json");
  request.body() = std::move(ex.body);
  request.prepare_payload();
  auto [write_error, written] = co_await http::async_write(stream, request, use_nothrow);
  if (write_error) co_return std::pair{-1, "write: " + write_error.message()};
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024);  // an answer is small; a huge one is an error
  auto [read_error, read] = co_await http::async_read(stream, buffer, parser, use_nothrow);
  if (read_error)
    co_return std::pair{-1, read_error == beast::error::timeout ? std::string("timed out") : "read: " + read_error.message()};
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  auto response = parser.release();
  co_return std::pair{static_cast<int>(response.result_int()), std::move(response.body())};
}

int access_bits(const std::string& action) {
  if (action == "publish") return TIDEGATE_ACCESS_PUBLISH;
  if (action == "subscribe") return TIDEGATE_ACCESS_SUBSCRIBE | TIDEGATE_ACCESS_READ;
  if (action == "all") return TIDEGATE_ACCESS_PUBLISH | TIDEGATE_ACCESS_SUBSCRIBE | TIDEGATE_ACCESS_READ;
  return 0;
}

}  // namespace

AuthHttp::AuthHttp(AuthHttpConfig config) : config_(std::move(config)) {}

std::optional<AuthHttp::Answer> AuthHttp::parse_answer(const std::string& body) {
  json doc = json::parse(body, nullptr, false);
  if (!doc.is_object() || !doc.contains("result") || !doc["result"].is_string()) return std::nullopt;
  Answer answer;
  const auto& result = doc["result"].get_ref<const std::string&>();
  if (result == "allow") answer.decision = TIDEGATE_ALLOW;
  else if (result == "deny") answer.decision = TIDEGATE_DENY;
  else if (result == "ignore") answer.decision = TIDEGATE_IGNORE;
  else return std::nullopt;
  if (doc.contains("acl")) {
    if (!doc["acl"].is_array()) return std::nullopt;
    answer.acl_given = true;
    for (const auto& r : doc["acl"]) {
      if (!r.is_object() || !r.contains("topic") || !r["topic"].is_string()) return std::nullopt;
      HookAclRule rule;
      std::string permission = r.value("permission", "allow");
      if (permission != "allow" && permission != "deny") return std::nullopt;
      rule.allow = permission == "allow";
      rule.access = access_bits(r.value("action", "all"));
      if (!rule.access) return std::nullopt;
      rule.filter = r["topic"].get<std::string>();
      answer.acl.push_back(std::move(rule));
    }
  }
  return answer;
}

std::string AuthHttp::cache_key(const ClientIdentity& client, const std::optional<std::string>& password) const {
  // Hashed: the cache never holds a password in clear.
  std::string material = client.client_id + '\0' + (client.username ? "u" + *client.username : "-") + '\0' +
                         (password ? "p" + *password : "-") + '\0' + client.address.substr(0, client.address.rfind(':'));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(material.data(), material.size(), digest, &length, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

void AuthHttp::remember(const std::string& key, const Answer& answer) {
  if (!config_.cache_seconds) return;
  auto now = std::chrono::steady_clock::now();
  std::lock_guard guard(lock_);
  if (cache_.size() >= config_.cache_entries) {
    std::erase_if(cache_, [&](const auto& entry) { return entry.second.expires <= now; });
    if (cache_.size() >= config_.cache_entries) cache_.erase(cache_.begin());  // bounded: one out, one in
  }
  cache_[key] = Cached{answer, now + std::chrono::seconds(config_.cache_seconds)};
}

void AuthHttp::authenticate(asio::any_io_executor executor, const ClientIdentity& client,
                            const std::optional<std::string>& password, std::function<void(Answer)> done) {
  auto key = cache_key(client, password);
  if (config_.cache_seconds) {
    std::lock_guard guard(lock_);
    auto it = cache_.find(key);
    if (it != cache_.end() && it->second.expires > std::chrono::steady_clock::now()) {
      cache_hits_.fetch_add(1, std::memory_order_relaxed);
      auto answer = it->second.answer;
      asio::post(executor, [done = std::move(done), answer = std::move(answer)] { done(answer); });
      return;
    }
  }
  requests_.fetch_add(1, std::memory_order_relaxed);
  json body = {{"client_id", client.client_id},
               {"username", client.username ? json(*client.username) : json(nullptr)},
               {"password", password ? json(*password) : json(nullptr)},
               {"address", client.address},
               {"protocol_version", client.protocol_version}};
  Exchange exchange{config_.host, config_.port, config_.target,
                    body.dump(-1, ' ', false, json::error_handler_t::replace),
                    std::chrono::milliseconds(config_.timeout_ms)};
  asio::co_spawn(executor, post_json(std::move(exchange)),
                 [this, key, done = std::move(done)](std::exception_ptr e, std::pair<int, std::string> result) {
                   std::optional<Answer> answer;
                   std::string problem;
                   if (e) problem = "internal error";
                   else if (result.first < 0) problem = result.second;
                   else if (result.first != 200) problem = "HTTP status " + std::to_string(result.first);
                   else if (!(answer = parse_answer(result.second))) problem = "answer is not {\"result\": ...}";
                   if (!answer) {
                     // Not cached: the next CONNECT asks again.
                     failures_.fetch_add(1, std::memory_order_relaxed);
                     log::warn("auth_http: " + config_.url + ": " + problem + "; " +
                               (config_.fail_open ? "allowing (on_error: allow)" : "refusing (on_error: deny)"));
                     Answer fallback;
                     fallback.decision = config_.fail_open ? TIDEGATE_ALLOW : TIDEGATE_DENY;
                     return done(fallback);
                   }
                   remember(key, *answer);
                   done(*answer);
                 });
}

AuthHttp::Stats AuthHttp::stats() const {
  return {requests_.load(std::memory_order_relaxed), cache_hits_.load(std::memory_order_relaxed),
          failures_.load(std::memory_order_relaxed)};
}

}  // namespace tidegate
