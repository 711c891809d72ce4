#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "gateway/net/transport.hpp"

namespace tidegate {
namespace {

namespace asio = boost::asio;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

class TlsTransport final : public Transport {
 public:
  TlsTransport(asio::ip::tcp::socket s, std::shared_ptr<asio::ssl::context> tls)
      : tls_(std::move(tls)), stream_(std::move(s), *tls_) {}
  // Client side (a bridge): SNI and, when the context verifies, the server's name.
  TlsTransport(asio::ip::tcp::socket s, std::shared_ptr<asio::ssl::context> tls, std::string server_name)
      : tls_(std::move(tls)), stream_(std::move(s), *tls_), client_(true), server_name_(std::move(server_name)) {}
  asio::awaitable<error_code> handshake() override {
    if (client_) {
      SSL_set_tlsext_host_name(stream_.native_handle(), server_name_.c_str());
      stream_.set_verify_callback(asio::ssl::host_name_verification(server_name_));
    }
    auto [ec] = co_await stream_.async_handshake(client_ ? asio::ssl::stream_base::client : asio::ssl::stream_base::server,
                                                 use_nothrow);
    co_return ec;
  }
  asio::awaitable<std::tuple<error_code, std::size_t>> read_some(asio::mutable_buffer b) override {
    co_return co_await stream_.async_read_some(b, use_nothrow);
  }
  asio::awaitable<std::tuple<error_code, std::size_t>> write(asio::const_buffer b) override {
    co_return co_await asio::async_write(stream_, b, use_nothrow);
  }
  asio::awaitable<void> end_output() override {
    // close_notify goes out first; the wait for the peer's ends with it, with
    // the peer's next record of data (OpenSSL discards it and fails), or when
    // the caller closes the socket at its deadline.
    co_await stream_.async_shutdown(use_nothrow);
  }
  void close() override {
    // No TLS close_notify exchange: a peer that does not answer must not hold us.
    error_code ignored;
    stream_.next_layer().close(ignored);
  }
  asio::ip::tcp::socket& socket() override { return stream_.next_layer(); }
  std::optional<std::string> peer_common_name() override {
    return verified_peer_common_name(stream_.native_handle());
  }

 private:
  std::shared_ptr<asio::ssl::context> tls_;  // the context this session was made with (SIGHUP swaps the listener's)
  asio::ssl::stream<asio::ip::tcp::socket> stream_;
  bool client_ = false;
  std::string server_name_;
};

}  // namespace

std::optional<std::string> verified_peer_common_name(SSL* ssl) {
  if (SSL_get_verify_result(ssl) != X509_V_OK) return std::nullopt;
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert) return std::nullopt;
  X509_NAME* subject = X509_get_subject_name(cert);
  int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return std::nullopt;
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  unsigned char* utf8 = nullptr;
  int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0) return std::nullopt;
  std::string cn(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(length));
  OPENSSL_free(utf8);
  return cn;
}

std::unique_ptr<Transport> make_tls_transport(asio::ip::tcp::socket socket, std::shared_ptr<asio::ssl::context> tls) {
  return std::make_unique<TlsTransport>(std::move(socket), std::move(tls));
}

std::unique_ptr<Transport> make_tls_client_transport(asio::ip::tcp::socket socket,
                                                     std::shared_ptr<asio::ssl::context> tls, std::string server_name) {
  return std::make_unique<TlsTransport>(std::move(socket), std::move(tls), std::move(server_name));
}

}  // namespace tidegate
