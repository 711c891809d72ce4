#pragma once
// What the rest of the gateway asks of cluster mode (docs/cluster.md): the
// Broker starts and stops it, connections announce themselves and fetch a
// session held by another gateway, the admin API and /metrics read its state.
// One gateway has a SingleGateway, which has no other gateway to tell or ask;
// cluster mode has a ClusterLink (cluster_link.hpp). make_cluster() picks
// one; which file defines it depends on the build (gateway/CMakeLists.txt),
// so nothing here depends on TIDEGATE_CLUSTER.
//
// Threads: start() and stop() on the main thread; the rest from any thread.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "gateway/cluster/cluster_stats.hpp"
#include "gateway/session/session.hpp"

namespace tidegate {

struct Config;
class Ingest;
class SessionRegistry;
namespace cache {
class QueueCache;
}

class Cluster {
 public:
  virtual ~Cluster() = default;

  // After the ingest thread started, before any connection is accepted.
  virtual void start() = 0;
  // After the workers stopped, before the ingest thread's last commit:
  // appends in flight finish first.
  virtual void stop() = 0;

  // Cluster mode's state (nullopt: not in a cluster).
  virtual std::optional<ClusterStats> stats() const = 0;
  // The gateway holding a lookup key (empty: no lookup).
  virtual std::string lookup_owner(const std::string& key) const = 0;
  // Admin: which gateway holds `client_id`'s session, asked of the lookup off
  // the caller's thread; `done` gets nullopt when the lookup cannot say (none,
  // or no answer in time), an empty string when no gateway holds it, or the
  // node's name. `done` runs on another thread (it must only post).
  using HolderFound = std::function<void(std::optional<std::string>)>;
  virtual void find_client_holder(const std::string& client_id, HolderFound done) = 0;

  // `client_id` is now connected here: the other gateways close their older
  // connection with it.
  virtual void announce_connect(const std::string& client_id, std::int64_t connected_ms) = 0;
  // A connection given to announce_connect has ended (its session parked
  // here, or ended).
  virtual void announce_disconnect(const std::string& client_id, bool session_kept) = 0;

  // Whether a CONNECT without a session here asks fetch_remote_session()
  // (cluster mode with the lookup: without it, nobody can say who held the
  // client). False: sessions stay where they are.
  virtual bool moves_sessions() const = 0;
  // The persistent session of `client_id` from the gateway that held it
  // (nullptr: none), passed to `done` on another thread (it must only post);
  // retry_later: moving it failed half-way, refuse the CONNECT (0x88).
  using SessionFetched = std::function<void(std::unique_ptr<Session> session, bool retry_later)>;
  virtual void fetch_remote_session(const std::string& client_id, std::int64_t connected_ms,
                                    SessionFetched done) = 0;
};

// One gateway: nothing to tell, nothing to fetch.
class SingleGateway final : public Cluster {
 public:
  void start() override {}
  void stop() override {}
  std::optional<ClusterStats> stats() const override { return std::nullopt; }
  std::string lookup_owner(const std::string&) const override { return {}; }
  void find_client_holder(const std::string&, HolderFound done) override { done(std::nullopt); }
  void announce_connect(const std::string&, std::int64_t) override {}
  void announce_disconnect(const std::string&, bool) override {}
  bool moves_sessions() const override { return false; }
  void fetch_remote_session(const std::string&, std::int64_t, SessionFetched done) override { done(nullptr, false); }
};

// A ClusterLink when `config` has a cluster section (it connects to NATS,
// binds the lookup's listener and becomes `ingest`'s replicator; throws
// store::StoreOpenError), a SingleGateway otherwise. Main thread, before
// ingest.start().
std::unique_ptr<Cluster> make_cluster(const Config& config, Ingest& ingest, cache::QueueCache& cache,
                                      SessionRegistry& registry);

}  // namespace tidegate
