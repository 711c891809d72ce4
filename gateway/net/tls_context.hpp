#pragma once
// Builds the OpenSSL 3 server context of an mqtts or wss listener from its
// config: certificate chain, key, CA for client certificates, minimum TLS
// version, cipher lists. Called at start and on SIGHUP (main thread); a
// connection keeps the context it was accepted with.
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "gateway/config/config.hpp"

namespace tidegate {

// Throws ConfigError("<where>.<key>: reason").
std::shared_ptr<boost::asio::ssl::context> make_tls_context(const ListenerConfig& listener, const std::string& where);

// The admin listener's server context (admin.cert, admin.key): the same
// checks and defaults as an mqtts listener's; errors name "admin.cert"/"admin.key".
std::shared_ptr<boost::asio::ssl::context> make_admin_tls_context(const AdminConfig& admin);

// The client context of a bridge's TLS link: CA (or the system's), optional
// client certificate and key. Built at start (main thread).
std::shared_ptr<boost::asio::ssl::context> make_bridge_tls_context(const BridgeTls& tls, const std::string& where);

}  // namespace tidegate
