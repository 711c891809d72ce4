#include "gateway/admin/admin_access.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

namespace tidegate::admin {

namespace http = boost::beast::http;

namespace {

Response refuse(const Request& request, http::status status, const std::string& message) {
  Response r{status, request.version()};
  r.set(http::field::content_type, "application/json");
  // A header echoed in the message may hold bytes that are not UTF-8.
  r.body() = nlohmann::json{{"error", message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

// Methods that change nothing; everything else (POST, DELETE...) may.
bool read_only(http::verb method) { return method == http::verb::get || method == http::verb::head; }

// The media types a page may send to another site without asking first (a
// CORS "simple" request: a form, or fetch with text/plain).
bool cross_site_simple_type(std::string_view content_type) {
  auto media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && std::isspace(static_cast<unsigned char>(media.back()))) media.remove_suffix(1);
  while (!media.empty() && std::isspace(static_cast<unsigned char>(media.front()))) media.remove_prefix(1);
  std::string lower(media);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower == "text/plain" || lower == "application/x-www-form-urlencoded" || lower == "multipart/form-data";
}

// Compares in a time that does not depend on where the first difference is.
bool same_token(std::string_view given, const std::string& expected) {
  return given.size() == expected.size() && CRYPTO_memcmp(given.data(), expected.data(), given.size()) == 0;
}

// Answered without a token: the console's page and files (the login form is
// one of them), the login and logout, whether the browser is logged in, and
// the health probe.
bool public_route(const Request& request) {
  auto target = request.target();
  auto path = target.substr(0, target.find('?'));
  // Logging out ends only the caller's own login: a read-only one may too.
  if (request.method() == http::verb::post) return path == "/api/v1/login" || path == "/api/v1/logout";
  if (!read_only(request.method())) return false;
  return path == "/" || path.starts_with("/console/") || path == "/favicon.ico" || path == "/healthz" ||
         path == "/api/v1/whoami";
}

}  // namespace

std::string_view cookie_value(const Request& request, std::string_view name) {
  for (auto range = request.equal_range(http::field::cookie); range.first != range.second; ++range.first) {
    std::string_view cookies = range.first->value();
    while (!cookies.empty()) {
      auto end = cookies.find(';');
      auto pair = cookies.substr(0, end);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      if (pair.starts_with(name) && pair.size() > name.size() && pair[name.size()] == '=')
        return pair.substr(name.size() + 1);
      if (end == std::string_view::npos) break;
      cookies.remove_prefix(end + 1);
    }
  }
  return {};
}

std::optional<Role> AdminAccess::role_of_token(std::string_view given) const {
  if (token && same_token(given, *token)) return Role::admin;
  if (read_token && same_token(given, *read_token)) return Role::read;
  if (stream_token && same_token(given, *stream_token)) return Role::stream;
  return std::nullopt;
}

std::optional<Role> AdminAccess::role(const Request& request) const {
  if (!token) return Role::admin;
  std::string_view authorization = request[http::field::authorization];
  constexpr std::string_view bearer = "Bearer ";
  if (authorization.starts_with(bearer)) return role_of_token(authorization.substr(bearer.size()));
  if (auto id = cookie_value(request, kLoginCookie); !id.empty() && logins) return logins->find(id);
  return std::nullopt;
}

bool AdminAccess::names_this_listener(const HostName& host, const boost::asio::ip::address& local) const {
  auto here = normalised(local);
  if (host.ip && *host.ip == here) return true;
  if (host.name == "localhost" && here.is_loopback()) return true;
  return std::find(allowed_hosts.begin(), allowed_hosts.end(), host) != allowed_hosts.end();
}

std::optional<Response> AdminAccess::refusal(const Request& request,
                                             const boost::asio::ip::tcp::endpoint& local_endpoint) const {
  auto local = local_endpoint.address();
  // DNS rebinding: a page of evil.example whose name now resolves to this
  // address sends "Host: evil.example"; the browser lets it read the answers.
  if (request.count(http::field::host) != 1)
    return refuse(request, http::status::bad_request, "exactly one Host header is required");
  auto host_header = request[http::field::host];
  auto host = parse_host_header(host_header);
  if (!host || !names_this_listener(*host, local))
    return refuse(request, http::status::misdirected_request,
                  "Host '" + std::string(host_header) +
                      "' is not this admin API's address; a name it should answer to goes in admin.allowed_hosts");

  // Cross-site request forgery: browsers send Origin with every POST and
  // DELETE (and with cross-origin GETs); tools send none. Only the console,
  // served from this listener, may: a page on another port of this host is
  // another site too.
  if (auto origin_header = request.find(http::field::origin); origin_header != request.end()) {
    auto origin = parse_origin(origin_header->value());
    // The scheme too: over TLS, a page served on plain http (which a network
    // attacker can forge) is another site.
    if (!origin || !names_this_listener(origin->host, local) || origin->port != local_endpoint.port() ||
        origin->https != https)
      return refuse(request, http::status::forbidden,
                    "cross-site request refused: Origin '" + std::string(origin_header->value()) +
                        "' is not this admin API");
  }
  // A browser too old to send Origin still cannot send a change without a
  // preflight unless it is a form or text/plain: those are refused.
  if (!read_only(request.method()))
    if (auto type = request.find(http::field::content_type); type != request.end() && cross_site_simple_type(type->value()))
      return refuse(request, http::status::forbidden,
                    "cross-site request refused: a change may not come as " + std::string(type->value()));

  // Probes (systemd, load balancers) ask without a token; the answer names
  // only what is failing (docs/operations.md, "Health").
  if (public_route(request)) return std::nullopt;
  if (auto who = role(request)) {
    if (*who == Role::stream) {
      // A server application's token: it reads streams and keeps its groups' offsets, nothing else.
      std::string_view target = request.target();
      target = target.substr(0, target.find('?'));
      const bool streams = target == "/api/v1/streams" || target.starts_with("/api/v1/streams/");
      const bool commit = request.method() == http::verb::post && target.ends_with("/commit") &&
                          target.find("/groups/") != std::string_view::npos;
      if (streams && (read_only(request.method()) || commit)) return std::nullopt;
      return refuse(request, http::status::forbidden,
                    "the stream token (admin.stream_token_file) may read streams and commit their groups' offsets only");
    }
    if (*who == Role::admin || read_only(request.method())) return std::nullopt;
    return refuse(request, http::status::forbidden,
                  "the read-only token (admin.read_token_file) allows GET only");
  }
  auto r = refuse(request, http::status::unauthorized, "missing or wrong bearer token (or console login)");
  r.set(http::field::www_authenticate, "Bearer");
  return r;
}

}  // namespace tidegate::admin
