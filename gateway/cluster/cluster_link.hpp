#pragma once
// Cluster mode (docs/cluster.md): this gateway's link to the shared
// JetStream store and to the other gateways. It owns the NATS connection and
// assembles the parts, one concern each:
//  - cluster_replication.hpp: the publish path (append, then ingest, then notify);
//  - cluster_notify.hpp: the notify channel, sending and receiving;
//  - cluster_fetcher.hpp: the fetch thread (fetch, catch-up, route settling);
//  - cluster_takeover.hpp: takeover announcements;
//  - cluster_groups.hpp: shared subscriptions (one JetStream consumer a group);
//  - cluster_handover.hpp: sessions moving between gateways (with the lookup),
//    and cluster_relays.hpp for what reaches this gateway after one left;
//  - cluster_control_thread.hpp: the control thread the senders share;
//  - lookup/lookup.hpp: where clients and filters are (cluster.lookup).
//
// Threads: start(), stop() and the constructor on the main thread; the
// Cluster calls from any thread; replicate() from any thread that publishes
// and filter_live() on the ingest thread (Ingest::Replicator). The threads it
// adds are listed in docs/design.md, "Threads".
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "gateway/cluster/cluster.hpp"
#include "gateway/cluster/cluster_control_thread.hpp"
#include "gateway/cluster/cluster_fetcher.hpp"
#include "gateway/cluster/cluster_groups.hpp"
#include "gateway/cluster/cluster_handover.hpp"
#include "gateway/cluster/cluster_notify.hpp"
#include "gateway/cluster/cluster_relays.hpp"
#include "gateway/cluster/cluster_replication.hpp"
#include "gateway/cluster/cluster_stream_position.hpp"
#include "gateway/cluster/cluster_takeover.hpp"
#include "gateway/config/config.hpp"
#include "gateway/pipeline/ingest.hpp"
#include "gateway/session/session_registry.hpp"
#include "lookup/lookup.hpp"
#include "storeclient/jetstream_client.hpp"

namespace tidegate {

class ClusterLink final : public Cluster, public Ingest::Replicator {
 public:
  // Connects and creates the stream; throws store::StoreOpenError.
  ClusterLink(const ClusterConfig& config, Ingest& ingest, cache::QueueCache& cache, SessionRegistry& registry);
  ~ClusterLink() override;

  // Subscribes to the other gateways' subjects, starts the lookup, the
  // handover, the fetch thread and the control thread.
  void start() override;
  // Waits (bounded) for appends in flight, then stops fetching.
  void stop() override;

  std::optional<ClusterStats> stats() const override;
  std::string lookup_owner(const std::string& key) const override {
    return lookup_ ? lookup_->owner_of(key) : std::string();
  }
  void find_client_holder(const std::string& client_id, HolderFound done) override;
  void announce_connect(const std::string& client_id, std::int64_t connected_ms) override {
    takeovers_.announce_connect(client_id, connected_ms);
  }
  void announce_disconnect(const std::string& client_id, bool session_kept) override {
    takeovers_.announce_disconnect(client_id, session_kept);
  }
  // Only with the lookup: without it, nobody can say who held the client.
  bool moves_sessions() const override { return handover_ != nullptr; }
  // `done` runs on the handover's asking thread (it must only post).
  void fetch_remote_session(const std::string& client_id, std::int64_t connected_ms, SessionFetched done) override;

  void replicate(std::vector<Ingest::PublishRequest> requests) override { replication_.replicate(std::move(requests)); }
  void filter_live(std::string_view filter, const std::string& name, bool live) override;

  static constexpr const char* kHeartbeatSubject = "tg.hb";  // lookup membership

 private:
  std::unique_ptr<lookup::Lookup> make_lookup();  // null: cluster.lookup is false
  std::unique_ptr<SessionHandover> make_handover(Ingest& ingest, cache::QueueCache& cache);
  void subscribe();  // start(): the other gateways' subjects

  ClusterConfig config_;
  SessionRegistry& registry_;
  StreamPosition position_;
  // Shared: acknowledgements of group messages (on the ingest thread) may
  // still be running as the link stops.
  std::shared_ptr<store::JetStreamClient> client_;
  SharedGroupConsumers groups_;  // $share/ groups with members here
  MovedSessionRelays relays_;    // sessions handed to another gateway, for the hold
  std::unique_ptr<lookup::Lookup> lookup_;  // null: cluster.lookup is false
  ControlThread control_;
  NotifySender notify_;
  ClusterFetcher fetcher_;
  NotifyReceiver receiver_;
  ClusterReplication replication_;
  ClusterTakeovers takeovers_;
  std::unique_ptr<SessionHandover> handover_;  // with the lookup only
  std::atomic<bool> stopping_{false};
};

}  // namespace tidegate
