#include "gateway/net/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tidegate {

namespace ssl = boost::asio::ssl;

namespace {
std::string openssl_reason(const boost::system::error_code& ec) {
  std::string reason = ec.message();
  if (unsigned long e = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(e, buffer, sizeof buffer);
    reason = buffer;
  }
  ERR_clear_error();
  return reason;
}
}  // namespace

std::shared_ptr<ssl::context> make_tls_context(const ListenerConfig& l, const std::string& where) {
  for (auto [key, path] : {std::pair{"cert", l.cert}, std::pair{"key", l.key}, std::pair{"ca", l.ca}})
    if (path && ::access(path->c_str(), R_OK) != 0)
      throw ConfigError(where + "." + key + ": cannot read " + *path + ": " + std::strerror(errno));
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::single_dh_use);
  SSL_CTX* native = context->native_handle();
  int min_version = l.tls_version == "tlsv1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
  SSL_CTX_set_min_proto_version(native, min_version);
  if (l.ciphers && SSL_CTX_set_cipher_list(native, l.ciphers->c_str()) != 1)
    throw ConfigError(where + ".ciphers: no usable cipher in '" + *l.ciphers + "'");
  if (l.ciphersuites && SSL_CTX_set_ciphersuites(native, l.ciphersuites->c_str()) != 1)
    throw ConfigError(where + ".ciphersuites: no usable TLS 1.3 suite in '" + *l.ciphersuites + "'");

  boost::system::error_code ec;
  context->use_certificate_chain_file(*l.cert, ec);
  if (ec) throw ConfigError(where + ".cert: cannot use " + *l.cert + ": " + openssl_reason(ec));
  context->use_private_key_file(*l.key, ssl::context::pem, ec);
  if (ec) throw ConfigError(where + ".key: cannot use " + *l.key + ": " + openssl_reason(ec));
  if (SSL_CTX_check_private_key(native) != 1)
    throw ConfigError(where + ".key: does not match the certificate " + *l.cert);
  if (l.ca) {
    context->load_verify_file(*l.ca, ec);
    if (ec) throw ConfigError(where + ".ca: cannot use " + *l.ca + ": " + openssl_reason(ec));
    // With a CA, a client certificate is asked for and verified when given;
    // require_certificate refuses the handshake without one.
    context->set_verify_mode(ssl::verify_peer |
                             (l.require_certificate ? ssl::verify_fail_if_no_peer_cert : ssl::verify_none));
  }
  return context;
}

std::shared_ptr<ssl::context> make_admin_tls_context(const AdminConfig& admin) {
  ListenerConfig listener;
  listener.cert = admin.cert;
  listener.key = admin.key;
  return make_tls_context(listener, "admin");
}

std::shared_ptr<ssl::context> make_bridge_tls_context(const BridgeTls& t, const std::string& where) {
  for (auto [key, path] : {std::pair{"cert", t.cert}, std::pair{"key", t.key}, std::pair{"ca", t.ca}})
    if (path && ::access(path->c_str(), R_OK) != 0)
      throw ConfigError(where + "." + key + ": cannot read " + *path + ": " + std::strerror(errno));
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3);
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  if (t.ca) {
    context->load_verify_file(*t.ca, ec);
    if (ec) throw ConfigError(where + ".ca: cannot use " + *t.ca + ": " + openssl_reason(ec));
  } else {
    context->set_default_verify_paths(ec);
    if (ec) throw ConfigError(where + ".ca: no CA given and the system's CAs cannot be loaded: " + openssl_reason(ec));
  }
  if (t.cert) {
    context->use_certificate_chain_file(*t.cert, ec);
    if (ec) throw ConfigError(where + ".cert: cannot use " + *t.cert + ": " + openssl_reason(ec));
    context->use_private_key_file(*t.key, ssl::context::pem, ec);
    if (ec) throw ConfigError(where + ".key: cannot use " + *t.key + ": " + openssl_reason(ec));
    if (SSL_CTX_check_private_key(context->native_handle()) != 1)
      throw ConfigError(where + ".key: does not match the certificate " + *t.cert);
  }
  context->set_verify_mode(t.verify ? ssl::verify_peer : ssl::verify_none);
  return context;
}

}  // namespace tidegate
