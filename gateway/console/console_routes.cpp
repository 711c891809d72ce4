#include "gateway/console/console_routes.hpp"

#include <charconv>
#include <nlohmann/json.hpp>

#include "gateway/console/console_assets.hpp"
#include "gateway/ops/log.hpp"

namespace tidegate::console {

namespace http = boost::beast::http;
using nlohmann::json;
using admin::Request;
using admin::Response;

json history_columns() {
  json columns = json::array({"t_ms"});
  for (auto name : kHistorySeries) columns.push_back(name);
  return columns;
}

json sample_json(const HistorySample& sample) {
  json row = json::array({sample.t_ms});
  for (float v : sample.values) row.push_back(v);
  return row;
}

std::optional<Response> ConsoleRoutes::handle(const Request& request, const std::string& peer) {
  std::string_view target = request.target();
  std::string_view query;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    query = target.substr(q + 1);
    target = target.substr(0, q);
  }
  auto method = request.method();
  if (target == "/" || target.starts_with("/console/")) {
    if (method != http::verb::get) return admin::method_not_allowed(request, "GET");
    return asset(request, target);
  }
  if (target == "/favicon.ico") {  // browsers ask; the console has none
    Response r{http::status::no_content, request.version()};
    return r;
  }
  if (target == "/api/v1/login") {
    if (method != http::verb::post) return admin::method_not_allowed(request, "POST");
    return login(request, peer);
  }
  if (target == "/api/v1/logout") {
    if (method != http::verb::post) return admin::method_not_allowed(request, "POST");
    return logout(request);
  }
  if (target == "/api/v1/whoami") {
    if (method != http::verb::get) return admin::method_not_allowed(request, "GET");
    // Answered to anyone (the page asks before it shows the login form).
    auto role = access_.role(request);
    json who{{"logged_in", role.has_value()}, {"login_required", access_.token.has_value()}};
    if (role) who["role"] = to_string(*role);
    return admin::reply(request, http::status::ok, who);
  }
  if (target == "/api/v1/history") {
    if (method != http::verb::get) return admin::method_not_allowed(request, "GET");
    return history(request, query);
  }
  return std::nullopt;
}

Response ConsoleRoutes::asset(const Request& request, std::string_view path) const {
  const ConsoleAsset* file = find_console_asset(path);
  if (!file && path == "/" && console_assets().empty())
    return admin::error(request, http::status::not_found,
                        "this gateway was built without its console (TIDEGATE_CONSOLE=OFF); the API is under /api/v1");
  if (!file) return admin::error(request, http::status::not_found, "no such console file: " + std::string(path));
  // The browser asks again each time (no-cache) and gets 304 while the build is the same.
  if (request[http::field::if_none_match] == file->etag) {
    Response r{http::status::not_modified, request.version()};
    r.set(http::field::etag, file->etag);
    r.set(http::field::cache_control, "no-cache");
    return r;
  }
  Response r{http::status::ok, request.version()};
  r.set(http::field::content_type, file->content_type);
  r.set(http::field::etag, file->etag);
  r.set(http::field::cache_control, "no-cache");
  r.body().assign(file->body);
  return r;
}

Response ConsoleRoutes::login(const Request& request, const std::string& peer) {
  json body = json::parse(request.body(), nullptr, false);
  if (!body.is_object() || !body.contains("token") || !body["token"].is_string())
    return admin::error(request, http::status::bad_request, "send {\"token\": \"...\"} as application/json");
  if (!access_.token)  // no token configured: everyone is admin, no cookie needed
    return admin::reply(request, http::status::ok, json{{"role", "admin"}});
  if (auto wait = throttle_.wait_seconds()) {
    Metrics::add(metrics_.admin_login_failures);
    Response r = admin::error(request, http::status::too_many_requests,
                              "too many wrong tokens in the last minute; try again in " + std::to_string(wait) + " s");
    r.set(http::field::retry_after, std::to_string(wait));
    return r;
  }
  auto role = access_.role_of_token(body["token"].get<std::string>());
  if (!role) {
    Metrics::add(metrics_.admin_login_failures);
    log::event(log::Level::warn, "console_login_refused", "console login refused: wrong token",
               {{"address", peer}});
    if (throttle_.refused())
      log::warn("console logins refused for the rest of the minute: " + std::to_string(kRefusedLoginsPerMinute) +
                " wrong tokens (the next are not logged)");
    return admin::error(request, http::status::unauthorized, "wrong token");
  }
  if (*role == admin::Role::stream)
    return admin::error(request, http::status::forbidden,
                        "the stream token (admin.stream_token_file) cannot log in to the console");
  // A browser logging in again leaves its old login behind: end it.
  if (auto old = admin::cookie_value(request, admin::AdminAccess::kLoginCookie); !old.empty()) logins_.close(old);
  auto id = logins_.open(*role);
  log::event(log::Level::info, "console_login", "console login", {{"address", peer}, {"role", to_string(*role)}});
  Response r = admin::reply(request, http::status::ok, json{{"role", to_string(*role)}});
  // HttpOnly: no script reads it; SameSite=Strict: no other site's page sends it.
  std::string cookie = std::string(admin::AdminAccess::kLoginCookie) + "=" + id + "; Path=/; HttpOnly; SameSite=Strict";
  if (https_) cookie += "; Secure";
  r.set(http::field::set_cookie, cookie);
  return r;
}

Response ConsoleRoutes::logout(const Request& request) {
  std::string name = std::string(admin::AdminAccess::kLoginCookie) + "=";
  if (auto id = admin::cookie_value(request, admin::AdminAccess::kLoginCookie); !id.empty()) logins_.close(id);
  Response r = admin::reply(request, http::status::ok, json{{"logged_out", true}});
  r.set(http::field::set_cookie, name + "; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
  return r;
}

Response ConsoleRoutes::history(const Request& request, std::string_view query) const {
  std::string since_text = admin::query_param(query, "since_ms");
  std::int64_t since = 0;
  if (!since_text.empty()) {
    auto [end, ec] = std::from_chars(since_text.data(), since_text.data() + since_text.size(), since);
    if (ec != std::errc() || end != since_text.data() + since_text.size())
      return admin::error(request, http::status::bad_request, "since_ms must be a whole number (milliseconds)");
  }
  const auto& history = sampler_.history();
  json samples = json::array();
  for (const auto& s : history.since(since)) samples.push_back(sample_json(s));
  return admin::reply(request, http::status::ok,
                      json{{"interval_ms", 1000},
                           {"capacity", history.capacity()},
                           {"columns", history_columns()},
                           {"samples", std::move(samples)}});
}

}  // namespace tidegate::console
