#pragma once
// The HTTP side of the admin API's routes: JSON replies and errors, path
// segments and query parameters (percent-decoded and checked), paging.
// Main thread (the admin API runs there), but pure: no state.
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <nlohmann/json.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tidegate::admin {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

Response reply(const Request& request, boost::beast::http::status status, const nlohmann::json& body);
Response error(const Request& request, boost::beast::http::status status, const std::string& message);
Response method_not_allowed(const Request& request, std::string_view allowed);

// %XX escapes of a path segment or a query value; '+' is a space only in a
// query (form encoding). nullopt when a '%' is not followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space);
// A path segment naming `what` (a client id, a topic), decoded; nullopt with `problem` set when it is not valid.
std::optional<std::string> path_name(std::string_view segment, std::string_view what, std::string& problem);
// Why `query` cannot be read (bad escapes, not UTF-8); empty when it can.
std::string query_problem(std::string_view query);
// The decoded value of `key` in `query` ("" when absent).
std::string query_param(std::string_view query, std::string_view key);

// ?limit=N&offset=M of a listing: at most 10000 a page, 100 when not given.
struct Page {
  std::size_t limit = 100;
  std::size_t offset = 0;
  // Counts one more match; true when it belongs on this page.
  bool take(std::size_t& total, std::size_t on_page) const { return total++ >= offset && on_page < limit; }
};
// nullopt: limit or offset is not a count.
std::optional<Page> parse_page(std::string_view query);

}  // namespace tidegate::admin
