#pragma once
// Process-wide counters, updated with relaxed atomics from any thread. The
// admin API and /metrics (docs/operations.md) read them; the startup/shutdown log does now.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>

namespace tidegate {

// Why a CONNECT was refused by authentication; the label on /metrics.
enum class AuthFailure : std::uint8_t {
  bad_credentials,      // a user name with a wrong password, or unknown
  anonymous_denied,     // no user name, and allow_anonymous does not let it in from there
  hook_denied,          // a plugin or the HTTP hook said no
  hook_timeout,         // no answer from them within connect_timeout
  no_certificate_name,  // use_identity_as_username and a certificate without a CN
  session_owner,        // the client id's session belongs to another identity
};
inline const char* to_string(AuthFailure f) {
  static constexpr const char* names[] = {"bad_credentials", "anonymous_denied",    "hook_denied",
                                          "hook_timeout",    "no_certificate_name", "session_owner"};
  return names[static_cast<int>(f)];
}

struct Metrics {
  std::atomic<std::uint64_t> connections_accepted{0};
  std::atomic<std::uint64_t> connections_refused_limit{0};  // max_connections reached
  std::atomic<std::int64_t> connections_open{0};
  std::atomic<std::uint64_t> connections_refused_session_owner{0};  // the id's session is another identity's
  std::atomic<std::uint64_t> protocol_errors{0};
  // A connection closing after a DISCONNECT or refusing CONNACK whose client
  // neither closed nor stopped sending within the linger (docs/durability.md).
  std::atomic<std::uint64_t> close_linger_cut{0};
  std::atomic<std::uint64_t> publish_received{0};
  std::atomic<std::uint64_t> publish_sent{0};
  std::atomic<std::uint64_t> bytes_received{0};
  std::atomic<std::uint64_t> bytes_sent{0};
  std::atomic<std::uint64_t> publish_refused_store{0};      // store error: not acknowledged
  std::atomic<std::uint64_t> publish_denied_acl{0};
  std::atomic<std::uint64_t> dropped_too_large_for_client{0};
  std::atomic<std::uint64_t> dropped_expired{0};
  std::atomic<std::uint64_t> dropped_no_local{0};
  std::atomic<std::uint64_t> dropped_acl{0};  // a subscriber may not read the message's topic
  std::atomic<std::uint64_t> dropped_qos0_slow_subscriber{0};  // left the queue cache before it was read
  std::atomic<std::uint64_t> disconnected_output_overflow{0};  // client stopped reading
  std::atomic<std::uint64_t> refused_subscription_quota{0};
  std::atomic<std::uint64_t> refused_topic_limits{0};
  std::atomic<std::uint64_t> sessions_behind_retention{0};  // a queue position older than retention
  // PUBLISH packets by QoS (index 0..2); each also counts in publish_received / publish_sent.
  std::array<std::atomic<std::uint64_t>, 3> publish_received_by_qos{};
  std::array<std::atomic<std::uint64_t>, 3> publish_sent_by_qos{};
  std::atomic<std::uint64_t> bridge_unmapped{0};  // a bridge received a topic none of its in rules maps
  std::atomic<std::uint64_t> taken_over_elsewhere{0};  // cluster: closed, the client connected on another gateway
  // The admin listener's console (main thread writes): open live feeds
  // (admin.max_live_streams), browser logins (admin.max_logins), refused logins.
  std::atomic<std::int64_t> admin_live_streams{0};
  std::atomic<std::int64_t> admin_logins{0};
  std::atomic<std::uint64_t> admin_login_failures{0};
  std::atomic<std::uint64_t> admin_live_streams_refused{0};
  // CONNECTs refused by authentication, by AuthFailure (tidegate_auth_failures_total{reason}).
  std::array<std::atomic<std::uint64_t>, 6> auth_failures{};

  static void add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }
  // What /metrics and the admin API show: a counter or gauge read on its own.
  template <typename T>
  static T read(const std::atomic<T>& c) {
    return c.load(std::memory_order_relaxed);
  }
  // One call where a PUBLISH is counted: the total and its QoS.
  void count_publish_received(std::uint8_t qos) {
    add(publish_received);
    add(publish_received_by_qos[std::min<std::uint8_t>(qos, 2)]);
  }
  void count_publish_sent(std::uint8_t qos) {
    add(publish_sent);
    add(publish_sent_by_qos[std::min<std::uint8_t>(qos, 2)]);
  }
};

}  // namespace tidegate
