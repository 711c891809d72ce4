#pragma once
// The HTTP authentication and authorization hook (config "auth_http",
// docs/security.md): at CONNECT the gateway POSTs the client's identity and
// credentials to a service of the operator's, which answers allow, deny or
// ignore, optionally with ACL rules for that client. Asynchronous: the request
// runs on the connection's worker io_context and never blocks it; answers are
// cached; a service that does not answer within the timeout, or answers
// garbage, gets the configured failure policy (fail closed by default).
//
// Threads: authenticate() on a worker; the cache and counters are shared
// between workers under a mutex / atomics.
#include <boost/asio/any_io_executor.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gateway/config/config.hpp"
#include "gateway/auth/plugin_host.hpp"

namespace tidegate {

// One ACL rule from the service's answer: the first rule whose filter
// matches decides; no match: the other authorities decide.
struct HookAclRule {
  bool allow = true;
  int access = 0;      // TIDEGATE_ACCESS_* bits
  std::string filter;  // topic filter the topic (or subscribed filter) must match
};

class AuthHttp {
 public:
  struct Answer {
    int decision = 2;  // TIDEGATE_ALLOW, _DENY or _IGNORE
    std::vector<HookAclRule> acl;
    bool acl_given = false;
  };
  struct Stats {
    std::uint64_t requests = 0, cache_hits = 0, failures = 0;
  };

  explicit AuthHttp(AuthHttpConfig config);

  // Worker thread: `done` runs on `executor`.
  void authenticate(boost::asio::any_io_executor executor, const ClientIdentity& client,
                    const std::optional<std::string>& password, std::function<void(Answer)> done);
  Stats stats() const;

  // Parses the service's JSON answer; nullopt when it is not one.
  static std::optional<Answer> parse_answer(const std::string& body);

 private:
  std::string cache_key(const ClientIdentity& client, const std::optional<std::string>& password) const;
  void remember(const std::string& key, const Answer& answer);

  const AuthHttpConfig config_;
  struct Cached {
    Answer answer;
    std::chrono::steady_clock::time_point expires;
  };
  mutable std::mutex lock_;
  std::map<std::string, Cached> cache_;  // key: SHA-256 of the identity and password
  std::atomic<std::uint64_t> requests_{0}, cache_hits_{0}, failures_{0};
};

}  // namespace tidegate
