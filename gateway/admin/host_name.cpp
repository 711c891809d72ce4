#include "gateway/admin/host_name.hpp"

#include <algorithm>
#include <cctype>

namespace tidegate::admin {

namespace ip = boost::asio::ip;

ip::address normalised(const ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    return ip::make_address_v4(ip::v4_mapped, address.to_v6());
  return address;
}

namespace {

bool dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') {
      if (++label > 63) return false;
    } else {
      return false;
    }
  }
  return label > 0;
}

bool digits(std::string_view text) {
  return !text.empty() && text.size() <= 5 &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::optional<HostName> parse_host_name(std::string_view text) {
  if (text.size() > 2 && text.front() == '[' && text.back() == ']') {
    boost::system::error_code ec;
    auto v6 = ip::make_address_v6(std::string(text.substr(1, text.size() - 2)), ec);
    if (ec) return std::nullopt;
    return HostName{normalised(v6), {}};
  }
  boost::system::error_code ec;
  auto address = ip::make_address(std::string(text), ec);
  if (!ec) return HostName{normalised(address), {}};
  if (text.ends_with('.')) text.remove_suffix(1);  // "localhost." is "localhost"
  if (!dns_name(text)) return std::nullopt;
  std::string name(text);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  return HostName{std::nullopt, std::move(name)};
}

std::optional<HostName> parse_host_header(std::string_view text) {
  std::string_view host = text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(0, close + 1);
    auto rest = text.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !digits(rest.substr(1)))) return std::nullopt;
    return parse_host_name(host);
  }
  if (auto colon = text.find(':'); colon != std::string_view::npos) {
    if (!digits(text.substr(colon + 1))) return std::nullopt;  // also a bare IPv6 address: RFC 3986 wants brackets
    host = text.substr(0, colon);
  }
  return parse_host_name(host);
}

std::optional<Origin> parse_origin(std::string_view text) {
  auto scheme_is = [&](std::string_view scheme) {
    return text.size() > scheme.size() &&
           std::equal(scheme.begin(), scheme.end(), text.begin(),
                      [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); });
  };
  std::uint16_t port;
  bool https = false;
  if (scheme_is("http://")) {
    text.remove_prefix(7), port = 80;
  } else if (scheme_is("https://")) {
    text.remove_prefix(8), port = 443, https = true;
  } else {
    return std::nullopt;
  }
  auto host = parse_host_header(text);  // also checks that a port is digits only
  if (!host) return std::nullopt;
  auto colon = text.rfind(':');
  if (colon != std::string_view::npos && text.substr(colon).find(']') == std::string_view::npos) {
    unsigned value = 0;
    for (char c : text.substr(colon + 1)) value = value * 10 + static_cast<unsigned>(c - '0');
    if (value == 0 || value > 65535) return std::nullopt;
    port = static_cast<std::uint16_t>(value);
  }
  return Origin{std::move(*host), port, https};
}

}  // namespace tidegate::admin
