#pragma once
// Host names as the admin API compares them (docs/security.md, "Admin API"):
// the Host and Origin headers of a request and the names of
// admin.allowed_hosts. Pure, any thread.
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tidegate::admin {

// An IP literal or a DNS name (lower case, without a trailing dot).
struct HostName {
  std::optional<boost::asio::ip::address> ip;  // an IPv4-mapped IPv6 address is kept as IPv4
  std::string name;                            // set when ip is not

  bool operator==(const HostName& other) const { return ip == other.ip && name == other.name; }
};

// "10.0.0.5", "::1", "[::1]", "gw1.plant.local": nullopt when it is none of
// these (a port, a path, a space, an empty label...).
std::optional<HostName> parse_host_name(std::string_view text);

// A Host header's value: a host name and an optional ":port" ("[::1]:9883",
// "localhost:9883", "gw1"). nullopt when malformed.
std::optional<HostName> parse_host_header(std::string_view text);

// An Origin header's value: "http://" or "https://", then a host name and an
// optional ":port", and nothing more. nullopt when malformed or "null".
struct Origin {
  HostName host;
  std::uint16_t port;  // the scheme's (80, 443) when not given
  bool https = false;
};
std::optional<Origin> parse_origin(std::string_view text);

// The address as a HostName compares it (IPv4-mapped IPv6 becomes IPv4).
boost::asio::ip::address normalised(const boost::asio::ip::address& address);

}  // namespace tidegate::admin
