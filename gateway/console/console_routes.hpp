#pragma once
// The admin listener's routes for the web console (docs/console.md): the page
// and its files at / and /console/, the login that turns a token into a
// cookie, who the browser is, and the history the plots start from. The live
// feed (GET /api/v1/live) is a stream, served by live_feed.hpp. Main thread.
#include <optional>
#include <string>

#include "gateway/admin/admin_access.hpp"
#include "gateway/admin/admin_http.hpp"
#include "gateway/admin/login_sessions.hpp"
#include "gateway/admin/login_throttle.hpp"
#include "gateway/console/history_sampler.hpp"
#include "gateway/ops/metrics.hpp"

namespace tidegate::console {

class ConsoleRoutes {
 public:
  // https: the listener speaks TLS, so the login cookie is marked Secure.
  ConsoleRoutes(const admin::AdminAccess& access, admin::LoginSessions& logins, const HistorySampler& sampler,
                Metrics& metrics, bool https)
      : access_(access), logins_(logins), sampler_(sampler), metrics_(metrics), https_(https) {}

  // The answer when `request` (past AdminAccess) is a console route; nullopt
  // when it is not. `peer`: the browser's address, for the log.
  std::optional<admin::Response> handle(const admin::Request& request, const std::string& peer);

 private:
  admin::Response asset(const admin::Request& request, std::string_view path) const;
  admin::Response login(const admin::Request& request, const std::string& peer);
  admin::Response logout(const admin::Request& request);
  admin::Response history(const admin::Request& request, std::string_view query) const;

  const admin::AdminAccess& access_;
  admin::LoginSessions& logins_;
  const HistorySampler& sampler_;
  Metrics& metrics_;
  bool https_;
  static constexpr std::size_t kRefusedLoginsPerMinute = 10;  // docs/security.md
  admin::LoginThrottle throttle_{kRefusedLoginsPerMinute};
};

// One history sample as the JSON array GET /api/v1/history and the live feed send.
nlohmann::json sample_json(const HistorySample& sample);
// ["t_ms", the series...]
nlohmann::json history_columns();

}  // namespace tidegate::console
