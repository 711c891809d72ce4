#include "tools/ctl/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <cctype>
#include <charconv>
#include <vector>

namespace tidegate::ctl {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;

std::string Endpoint::display() const {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + port;
}

Endpoint parse_endpoint(std::string_view text, std::string_view default_port) {
  Endpoint e;
  if (text.empty()) throw std::invalid_argument("the admin address is empty");
  const std::string whole(text);
  for (std::string_view scheme : {"http://", "https://"}) {
    if (!text.starts_with(scheme)) continue;
    e.tls = scheme == "https://";
    text.remove_prefix(scheme.size());
    if (auto slash = text.find('/'); slash != std::string_view::npos) {
      if (text.substr(slash) != "/")
        throw std::invalid_argument("'" + whole + "' has a path; give the address only (http://HOST:PORT)");
      text = text.substr(0, slash);
    }
    if (text.empty()) throw std::invalid_argument("no host in '" + whole + "'");
    break;
  }
  if (text.find("://") != std::string_view::npos)
    throw std::invalid_argument("'" + whole + "': only http:// and https:// are understood");
  std::string_view port;
  if (text.front() == '[') {  // [V6] or [V6]:PORT
    auto close = text.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("missing ']' in '" + std::string(text) + "'");
    e.host = std::string(text.substr(1, close - 1));
    auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') throw std::invalid_argument("expected ':PORT' after ']' in '" + std::string(text) + "'");
      port = rest.substr(1);
    }
  } else if (auto colon = text.rfind(':'); colon != std::string_view::npos && text.find(':') == colon) {
    e.host = std::string(text.substr(0, colon));  // one colon: HOST:PORT
    port = text.substr(colon + 1);
  } else {
    e.host = std::string(text);  // a name, an IPv4 address or a bare IPv6 address
  }
  if (e.host.empty()) throw std::invalid_argument("no host in '" + std::string(text) + "'");
  if (port.data() == nullptr) port = default_port;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535)
    throw std::invalid_argument("bad port '" + std::string(port) + "' in '" + std::string(text) + "'");
  e.port = std::to_string(value);
  return e;
}

namespace {

// "Connection refused" -> "connection refused": it ends a sentence of ours.
std::string describe(const error_code& ec) {
  if (ec == beast::error::timeout) return "timed out";
  if (ec == net::error::eof || ec == http::error::end_of_stream) return "the connection was closed";
  if (ec == http::error::body_limit) return "the answer is larger than the client accepts";
  std::string m = ec.message();
  if (m.size() > 1 && std::isupper(static_cast<unsigned char>(m[0])) &&
      std::islower(static_cast<unsigned char>(m[1])))
    m[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(m[0])));
  return m;
}

std::string seconds(std::chrono::milliseconds d) {
  auto ms = d.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

http::verb verb_of(Method m) {
  switch (m) {
    case Method::get: return http::verb::get;
    case Method::post: return http::verb::post;
    case Method::del: return http::verb::delete_;
  }
  return http::verb::get;
}

// Resolves a host name within the deadline. A numeric address needs no
// resolver. getaddrinfo itself cannot be interrupted: after the deadline we
// stop waiting for it (the io_context's destructor may still join its thread).
std::vector<tcp::endpoint> resolve(net::io_context& ioc, const Endpoint& ep, std::chrono::milliseconds timeout,
                                   error_code& ec) {
  auto port = static_cast<unsigned short>(std::stoi(ep.port));
  error_code parse_ec;
  auto address = net::ip::make_address(ep.host, parse_ec);
  if (!parse_ec) return {tcp::endpoint(address, port)};

  std::vector<tcp::endpoint> out;
  tcp::resolver resolver(ioc);
  net::steady_timer timer(ioc, timeout);
  bool answered = false;
  resolver.async_resolve(ep.host, ep.port, [&](const error_code& e, const tcp::resolver::results_type& r) {
    answered = true;
    ec = e;
    for (const auto& entry : r) out.push_back(entry.endpoint());
    timer.cancel();
  });
  timer.async_wait([&](const error_code& e) {
    if (!e) resolver.cancel();  // not cancelled by the answer: the deadline passed
  });
  ioc.restart();
  ioc.run_for(timeout + std::chrono::milliseconds(100));
  if (!answered || ec == net::error::operation_aborted) ec = beast::error::timeout;
  ioc.stop();
  return out;
}

}  // namespace

HttpClient::HttpClient(Endpoint endpoint, HttpClientOptions options)
    : endpoint_(std::move(endpoint)), options_(std::move(options)) {}

HttpResponse HttpClient::request(Method method, std::string_view target, const std::string& bearer_token) const {
  const std::string where = "the admin API at " + endpoint_.display();
  net::io_context ioc;
  error_code ec;

  auto endpoints = resolve(ioc, endpoint_, options_.connect_timeout, ec);
  if (ec) throw TransportError("cannot reach " + where + ": " + describe(ec));

  // tcp_stream's expiry cancels the pending operation with error::timeout.
  beast::tcp_stream stream(ioc);
  stream.expires_after(options_.connect_timeout);
  stream.async_connect(endpoints, [&](const error_code& e, const tcp::endpoint&) { ec = e; });
  ioc.restart();
  ioc.run();
  if (ec) {
    std::string why = describe(ec);
    if (ec == beast::error::timeout) why += " after " + seconds(options_.connect_timeout);
    throw TransportError("cannot reach " + where + ": " + why);
  }

  if (!endpoint_.tls) return exchange(ioc, stream, method, target, bearer_token);
  // https: the gateway's certificate must verify (system CAs, or ca_file) for the name given.
  net::ssl::context tls(net::ssl::context::tls_client);
  if (options_.ca_file.empty()) tls.set_default_verify_paths(ec);
  else tls.load_verify_file(options_.ca_file, ec);
  if (ec) throw TransportError("cannot load the CA " + options_.ca_file + ": " + describe(ec));
  tls.set_verify_mode(net::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> secure(std::move(stream), tls);
  if (!SSL_set_tlsext_host_name(secure.native_handle(), endpoint_.host.c_str()))
    throw TransportError("cannot set the TLS server name " + endpoint_.host);
  secure.set_verify_callback(net::ssl::host_name_verification(endpoint_.host));
  beast::get_lowest_layer(secure).expires_after(options_.connect_timeout);
  secure.async_handshake(net::ssl::stream_base::client, [&](const error_code& e) { ec = e; });
  ioc.restart();
  ioc.run();
  if (ec) throw TransportError("TLS with " + where + " failed: " + describe(ec));
  return exchange(ioc, secure, method, target, bearer_token);
}

template <typename Stream>
HttpResponse HttpClient::exchange(net::io_context& ioc, Stream& stream, Method method, std::string_view target,
                                  const std::string& bearer_token) const {
  const std::string where = "the admin API at " + endpoint_.display();
  error_code ec;
  http::request<http::empty_body> req(verb_of(method), std::string(target), 11);
  req.set(http::field::host, endpoint_.display());
  req.set(http::field::user_agent, options_.user_agent);
  req.set(http::field::accept, "application/json");
  req.set(http::field::connection, "close");
  if (!bearer_token.empty()) req.set(http::field::authorization, "Bearer " + bearer_token);
  req.prepare_payload();  // POST and DELETE without a body: Content-Length: 0

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(options_.body_limit);

  // One deadline for the whole exchange: write, then read the full answer.
  beast::get_lowest_layer(stream).expires_after(options_.read_timeout);
  http::async_write(stream, req, [&](const error_code& e, std::size_t) {
    ec = e;
    if (e) return;
    http::async_read(stream, buffer, parser, [&](const error_code& e2, std::size_t) { ec = e2; });
  });
  ioc.restart();
  ioc.run();
  if (ec) {
    std::string why = describe(ec);
    if (ec == beast::error::timeout) why = "no complete answer within " + seconds(options_.read_timeout);
    throw TransportError("no answer from " + where + ": " + why);
  }

  error_code ignored;
  beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);

  auto& res = parser.get();
  HttpResponse out;
  out.status = res.result_int();
  out.reason = std::string(res.reason());
  out.body = std::move(res.body());
  return out;
}

}  // namespace tidegate::ctl
