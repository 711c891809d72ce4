#include "gateway/cluster/cluster_link.hpp"

#include <chrono>
#include <thread>
#include <utility>

#include "gateway/bridge/bridge_config.hpp"
#include "gateway/ops/log.hpp"
#include "gateway/pipeline/topic_match.hpp"

namespace tidegate {

namespace {
store::JetStreamOptions jetstream_options(const ClusterConfig& c, std::function<void()> on_reconnected) {
  store::JetStreamOptions o;
  o.servers = c.nats;
  o.connection_name = "tidegate " + c.node;
  o.stream = c.stream;
  o.replicas = c.replicas;
  o.request_timeout_ms = c.request_timeout_ms;
  o.max_pending_appends = static_cast<std::int64_t>(c.max_pending_appends);
  o.origin = c.node;
  o.on_reconnected = std::move(on_reconnected);
  return o;
}
}  // namespace

ClusterLink::ClusterLink(const ClusterConfig& config, Ingest& ingest, cache::QueueCache& cache,
                         SessionRegistry& registry)
    : config_(config),
      registry_(registry),
      // Notify messages sent while we were away are lost: the fetch thread
      // reads the stream (a libnats thread).
      client_(std::make_shared<store::JetStreamClient>(jetstream_options(config, [this] { fetcher_.reconnected(); }))),
      groups_(client_, ingest, static_cast<std::int64_t>(config.max_pending_appends)),
      lookup_(make_lookup()),
      notify_(config_.node, *client_, lookup_.get(), control_),
      fetcher_(config_.node, *client_, lookup_.get(), ingest, groups_, relays_, notify_, position_),
      receiver_(fetcher_),
      replication_(*client_, ingest, notify_, position_),
      takeovers_(config_.node, *client_, lookup_.get(), registry, control_),
      handover_(lookup_ ? make_handover(ingest, cache) : nullptr) {
  log::info("cluster: node '" + config_.node + "', stream '" + config_.stream + "' on " + config_.nats.front() +
            (config_.nats.size() > 1 ? " (+" + std::to_string(config_.nats.size() - 1) + ")" : "") +
            (lookup_ ? ", lookup on " + config_.lookup_bind + ":" + std::to_string(lookup_->port())
                     : ", no lookup (notify is broadcast)"));
}

std::unique_ptr<lookup::Lookup> ClusterLink::make_lookup() {
  if (!config_.lookup) return nullptr;
  lookup::LookupOptions o;
  o.node = config_.node;
  o.bind = config_.lookup_bind;
  o.port = config_.lookup_port;
  o.advertise = config_.lookup_advertise;
  return std::make_unique<lookup::Lookup>(
      o, [](std::string_view filter, std::string_view topic) { return topic_matches(filter, topic); },
      [client = client_](const std::string& heartbeat) { client->publish(kHeartbeatSubject, heartbeat); },
      [this](const std::string& client_id, std::int64_t since_ms) {
        // The lookup found a newer connection of this client elsewhere.
        takeovers_.notice(client_id, since_ms, std::string());
      });
}

std::unique_ptr<SessionHandover> ClusterLink::make_handover(Ingest& ingest, cache::QueueCache& cache) {
  SessionHandover::Hooks hooks;
  hooks.takeover = [this](const std::string& client_id, std::int64_t claimed_at, const std::string& origin) {
    takeovers_.notice(client_id, claimed_at, origin);
  };
  hooks.gone = [this](const std::string& client_id) { lookup_->client_gone(client_id); };
  hooks.drain_fetch = [this](std::chrono::milliseconds timeout) { fetcher_.drain(timeout); };
  hooks.moving_out = [this](const std::string& client_id, const std::string& to, std::vector<std::string> filters,
                            std::uint64_t own_up_to, std::chrono::milliseconds hold) {
    relays_.add(client_id, to, std::move(filters), own_up_to, hold);
  };
  hooks.stays = [this](const std::string& client_id) { relays_.end(client_id); };
  hooks.stream_position = [this] { return position_.last(); };
  return std::make_unique<SessionHandover>(config_.node, client_, *lookup_, ingest, cache, registry_,
                                           config_.request_timeout_ms, config_.max_handover_bytes, std::move(hooks));
}

ClusterLink::~ClusterLink() {
  stop();
  handover_.reset();  // stopped (its subscription gone) in stop(); its threads joined
  client_.reset();
}

void ClusterLink::start() {
  subscribe();
  if (lookup_) {
    // Sessions restored from the store are held here: the lookup must name
    // this gateway for them, or their clients start new ones elsewhere.
    for (const auto& view : registry_.list())
      if (!view.online && view.persistent && !view.client_id.starts_with(kBridgeClientIdPrefix))  // bridges: local
        lookup_->note_client(view.client_id, 0);
    lookup_->start();
  }
  if (handover_) handover_->start();
  fetcher_.start();
  control_.start(NotifySender::kSyncInterval, [this] { notify_.send_syncs(); });
}

void ClusterLink::subscribe() {
  auto events = [this](std::string_view subject, std::string_view data, std::string_view) {
    receiver_.on_notify(subject, data);
  };
  auto connects = [this](std::string_view, std::string_view data, std::string_view) { takeovers_.on_announced(data); };
  std::error_code ec;
  for (const auto& [subject, handler] : std::vector<std::pair<std::string, store::JetStreamClient::Handler>>{
           {NotifySender::kBroadcastSubject, events},
           {NotifySender::notify_subject(config_.node), events},
           {ClusterTakeovers::kConnectSubject, connects},
           {ClusterTakeovers::connect_subject(config_.node), connects}})
    if (!ec) ec = client_->subscribe(subject, handler);
  if (!ec && lookup_)
    ec = client_->subscribe(kHeartbeatSubject, [this](std::string_view, std::string_view data, std::string_view) {
      lookup_->on_heartbeat(data);
    });
  if (ec) throw store::StoreOpenError("cluster: cannot subscribe to the other gateways' subjects: " + ec.message());
}

void ClusterLink::stop() {
  if (stopping_.exchange(true)) return;
  fetcher_.stop();
  // The lookup first: a move waiting for it to settle gives up at once
  // instead of holding up the handover's threads.
  if (lookup_) lookup_->stop();
  if (handover_) handover_->stop();
  fetcher_.join();
  // Appends still in flight complete (acknowledged or failed) before the
  // control thread stops: their clients wait for an answer, and their notify
  // messages are still to be sent.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.request_timeout_ms);
  while (client_->pending_appends() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  control_.stop();  // finishes what is queued, then ends
  if (lookup_) lookup_->stop();
  replication_.local_only();
  takeovers_.stop();
  // client_ stays until the destructor: the ingest thread (stopped after
  // this) may still leave a shared group or acknowledge a group message.
}

void ClusterLink::fetch_remote_session(const std::string& client_id, std::int64_t connected_ms,
                                       SessionFetched done) {
  if (!handover_) return done(nullptr, false);  // no lookup: nobody can say who held it
  handover_->fetch(client_id, connected_ms, [done = std::move(done)](SessionHandover::FetchResult r) {
    done(std::move(r.session), r.retry_later);
  });
}

void ClusterLink::filter_live(std::string_view filter, const std::string& name, bool live) {
  if (name.starts_with("$share/")) {
    // Not an interest for notify: group messages come from the group's consumer.
    if (live && !groups_.join(name, filter)) log::warn("cluster: shared group '" + name + "' will be retried");
    if (!live) groups_.leave(name);
    return;
  }
  fetcher_.filter_live(filter, name, live);
}

void ClusterLink::find_client_holder(const std::string& client_id, HolderFound done) {
  if (!lookup_) return done(std::nullopt);
  // A blocking RPC to the key's owner: on the control thread, like the
  // lookup's other questions, never on the admin API's (main) thread.
  control_.post([this, client_id, done = std::move(done)] {
    auto holder = lookup_->holder_of(client_id);
    if (!holder) return done(std::nullopt);
    // An empty answer is "nobody, or this gateway": the caller tells them apart.
    done(holder->value_or(std::string()));
  });
}

std::optional<ClusterStats> ClusterLink::stats() const {
  ClusterStats s;
  s.node = config_.node;
  replication_.fill(s);
  notify_.fill(s);
  receiver_.fill(s);
  fetcher_.fill(s);
  takeovers_.fill(s);
  if (handover_) {
    auto h = handover_->counters();
    s.sessions_fetched = h.fetched;
    s.sessions_handed = h.handed;
    s.sessions_returned = h.returned;
    s.session_fetch_failures = h.failed;
  }
  if (lookup_) {
    s.lookup_enabled = true;
    s.lookup = lookup_->stats();
  }
  auto groups = groups_.counters();
  s.group_received = groups.received;
  s.group_redelivered = groups.redelivered;
  s.group_errors = groups.errors;
  s.groups = groups.groups;
  if (client_) {
    s.pending_appends = client_->pending_appends();
    s.connected = client_->connected();
  }
  return s;
}

}  // namespace tidegate
