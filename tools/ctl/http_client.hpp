#pragma once
// A small synchronous HTTP/1.1 client for the admin API: one request per
// connection ("Connection: close"), a deadline on the connect and on the whole
// exchange after it, and a cap on the answer's size. It runs its own
// io_context on the calling thread; there are no other threads.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace tidegate::ctl {

// Where the admin API listens: "HOST:PORT", "[V6]:PORT" or just "HOST", or
// the URL the gateway logs: "http://HOST:PORT" or "https://HOST:PORT" (a
// trailing "/" is fine; no other path).
struct Endpoint {
  std::string host;
  std::string port;
  bool tls = false;             // https: the certificate is verified (system CAs, or ca_file)
  std::string display() const;  // HOST:PORT, as the Host header wants it
};

// Throws std::invalid_argument with a message for the user.
Endpoint parse_endpoint(std::string_view text, std::string_view default_port);

struct HttpResponse {
  unsigned status = 0;
  std::string reason;
  std::string body;
};

// The gateway could not be reached, or the exchange broke off before a
// complete answer arrived. what() is the whole sentence for the user.
class TransportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Method { get, post, del };

struct HttpClientOptions {
  std::chrono::milliseconds connect_timeout{5000};  // name resolution and TCP connect
  std::chrono::milliseconds read_timeout{10000};    // sending the request and reading the answer
  std::size_t body_limit = 64 * 1024 * 1024;        // a larger answer is a TransportError
  std::string user_agent = "tidegatectl";
  std::string ca_file;  // https: trust this CA (PEM) instead of the system's
};

class HttpClient {
 public:
  HttpClient(Endpoint endpoint, HttpClientOptions options);

  // Sends one request and returns the answer, whatever its status. An empty
  // bearer_token sends no Authorization header. Throws TransportError.
  HttpResponse request(Method method, std::string_view target, const std::string& bearer_token) const;

  const Endpoint& endpoint() const { return endpoint_; }

 private:
  template <typename Stream>
  HttpResponse exchange(boost::asio::io_context& ioc, Stream& stream, Method method, std::string_view target,
                        const std::string& bearer_token) const;
  Endpoint endpoint_;
  HttpClientOptions options_;
};

}  // namespace tidegate::ctl
