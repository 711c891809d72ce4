#include "gateway/admin/admin_http.hpp"

#include <algorithm>
#include <charconv>

#include "gateway/codec/utf8.hpp"

namespace tidegate::admin {

namespace http = boost::beast::http;
using nlohmann::json;

Response reply(const Request& request, http::status status, const json& body) {
  Response r{status, request.version()};
  r.set(http::field::content_type, "application/json");
  // Messages echo what the request named, which may not be UTF-8: such bytes become U+FFFD.
  r.body() = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

Response error(const Request& request, http::status status, const std::string& message) {
  return reply(request, status, json{{"error", message}});
}

Response method_not_allowed(const Request& request, std::string_view allowed) {
  auto r = error(request, http::status::method_not_allowed, "use " + std::string(allowed));
  std::string list(allowed);
  if (auto pos = list.find(" or "); pos != std::string::npos) list.replace(pos, 4, ", ");
  r.set(http::field::allow, list);
  return r;
}

std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      int high = hex(in[i + 1]), low = hex(in[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else if (in[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

// A client id or topic named in the path: decoded, and UTF-8 as MQTT requires.
// The message says what is wrong with it otherwise.
std::optional<std::string> path_name(std::string_view segment, std::string_view what, std::string& problem) {
  auto decoded = percent_decode(segment, false);
  if (!decoded) {
    problem = "the " + std::string(what) + " in the path has a '%' not followed by two hex digits";
  } else if (!mqtt::valid_mqtt_utf8(*decoded)) {
    problem = "the " + std::string(what) + " in the path is not UTF-8 (or holds U+0000), so no " + std::string(what) +
              " has it";
    decoded.reset();
  }
  return decoded;
}

// Every value of the query decodes to UTF-8: checked once, before any route
// reads it with query_param.
std::string query_problem(std::string_view query) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    auto value = percent_decode(pair, true);
    if (!value) return "the query has a '%' not followed by two hex digits";
    if (!mqtt::valid_mqtt_utf8(*value)) return "the query is not UTF-8 (or holds U+0000)";
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

std::string query_param(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == key)  // query_problem() found it decodable
      return eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1), true).value_or("");
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

namespace {
// Digits only: std::stoul would take "-1" as the largest number.
bool parse_count(const std::string& text, std::size_t& out) {
  if (text.empty()) return true;  // not given: the default stays
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::optional<Page> parse_page(std::string_view query) {
  Page page;
  if (!parse_count(query_param(query, "limit"), page.limit) || !parse_count(query_param(query, "offset"), page.offset))
    return std::nullopt;
  page.limit = std::min<std::size_t>(page.limit, 10000);
  return page;
}

}  // namespace tidegate::admin
