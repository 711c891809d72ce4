#pragma once
// Cluster mode: takeover announcements (docs/cluster.md, "Takeover"). A
// client that connects here is announced with its connect time to the
// gateway the lookup names as its previous holder (`tg.c.<node>`; `tg.c.all`
// when it cannot say); the gateway that holds an older connection with the
// same client id closes it (v5 0x8E) and ends its session there; a session
// parked there ends too. Claims reach the lookup in any order: the newer
// connection keeps the id, ties are decided by node id.
//
// Threads: announce_connect() and announce_disconnect() run on workers (any
// thread); the announcement itself is sent on the control thread (claiming
// the id in the lookup blocks); on_announced() runs on a libnats thread;
// notice() on a libnats thread, the lookup's threads or the handover's
// serving thread.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "gateway/cluster/cluster_control_thread.hpp"
#include "gateway/cluster/cluster_stats.hpp"
#include "gateway/session/session_registry.hpp"
#include "lookup/lookup.hpp"
#include "storeclient/jetstream_client.hpp"

namespace tidegate {

class ClusterTakeovers {
 public:
  // `lookup`: null when cluster.lookup is false (every takeover is broadcast).
  ClusterTakeovers(std::string node, store::JetStreamClient& client, lookup::Lookup* lookup,
                   SessionRegistry& registry, ControlThread& control);

  // `client_id` connected here; the gateway that held it closes its connection.
  void announce_connect(const std::string& client_id, std::int64_t connected_ms);
  // A connection announced above has ended; `session_kept`: its session
  // stays here (parked), so the lookup still names this gateway.
  void announce_disconnect(const std::string& client_id, bool session_kept);
  // A libnats thread: another gateway announced a connection.
  void on_announced(std::string_view data);
  // Another gateway holds `client_id` since claimed_at: close ours if older.
  // `origin`: that gateway (empty: unknown, the lookup found it).
  void notice(const std::string& client_id, std::int64_t claimed_at, const std::string& origin);
  // After the link stopped: connections are no longer announced.
  void stop() { stopped_ = true; }
  void fill(ClusterStats& s) const;

  // Client connections, for takeover across gateways (broadcast).
  static constexpr const char* kConnectSubject = "tg.c.all";
  // Per node: targeted takeover.
  static std::string connect_subject(const std::string& node) { return "tg.c." + node; }

 private:
  // The control thread. `to`: the gateway to tell (empty: whoever the lookup names).
  void send(const std::string& client_id, std::int64_t connected_ms, const std::string& to = {});

  std::string node_;
  store::JetStreamClient& client_;
  lookup::Lookup* lookup_;
  SessionRegistry& registry_;
  ControlThread& control_;
  std::mutex connections_lock_;
  std::unordered_map<std::string, std::size_t> local_connections_;  // client id -> connections announced here
  std::atomic<bool> stopped_{false};
  std::atomic<std::uint64_t> ended_{0}, targeted_{0}, broadcast_{0};
};

}  // namespace tidegate
