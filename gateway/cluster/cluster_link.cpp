#include "gateway/cluster/cluster_link.hpp"

#include <algorithm>
#include <utility>

#include "gateway/bridge/bridge_config.hpp"
#include "gateway/ops/log.hpp"
#include "gateway/ops/metrics.hpp"
#include "gateway/pipeline/topic_match.hpp"

#include <map>
#include <set>

namespace tidegate {

namespace {
// A message read from the stream, on its way to this node's ingest thread
// (which gives it a local sequence): it keeps its stream sequence.
std::shared_ptr<store::Message> message_from_stream(store::Message&& message) {
  message.stream_seq = message.seq;
  return std::make_shared<store::Message>(std::move(message));
}

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

// The gateway's own $SYS topics describe this node: never shared.
bool node_local(const store::Message& m) { return m.topic.starts_with("$SYS/"); }
}  // namespace

// One connection's batch on its way through JetStream: it goes on to the
// ingest thread, in order, when its last append is acknowledged.
struct ClusterLink::PendingBatch {
  std::vector<Ingest::PublishRequest> requests;
  std::vector<std::error_code> errors;
  std::vector<std::uint64_t> seqs;
  std::atomic<std::size_t> remaining{0};
};

ClusterLink::ClusterLink(const ClusterConfig& config, Ingest& ingest, cache::QueueCache& cache,
                         SessionRegistry& registry)
    : config_(config), ingest_(ingest), registry_(registry), client_(std::make_shared<store::JetStreamClient>(jetstream_options(config, [this] {
        // Notify messages sent while we were away are lost: read the stream.
        log::info("cluster: reconnected to NATS; catching up from the stream");
        {
          std::lock_guard guard(events_lock_);
          request_catch_up_locked(reconnect_floor());  // before new events move last_seen_
        }
        events_ready_.notify_one();
      }))),
      groups_(client_, ingest, static_cast<std::int64_t>(config.max_pending_appends)) {
  if (config_.lookup) {
    lookup::LookupOptions o;
    o.node = config_.node;
    o.bind = config_.lookup_bind;
    o.port = config_.lookup_port;
    o.advertise = config_.lookup_advertise;
    lookup_ = std::make_unique<lookup::Lookup>(
        o, [](std::string_view filter, std::string_view topic) { return topic_matches(filter, topic); },
        [client = client_](const std::string& heartbeat) { client->publish(kHeartbeatSubject, heartbeat); },
        [this](const std::string& client_id, std::int64_t since_ms) {
          // The lookup found a newer connection of this client elsewhere.
          takeover_notice(client_id, since_ms, std::string());
        });
    SessionHandover::Hooks hooks;
    hooks.takeover = [this](const std::string& client_id, std::int64_t claimed_at, const std::string& origin) {
      takeover_notice(client_id, claimed_at, origin);
    };
    hooks.gone = [this](const std::string& client_id) { lookup_->client_gone(client_id); };
    hooks.drain_fetch = [this](std::chrono::milliseconds timeout) { drain_fetch(timeout); };
    hooks.moving_out = [this](const std::string& client_id, const std::string& to, std::vector<std::string> filters,
                              std::uint64_t own_up_to, std::chrono::milliseconds hold) {
      relay_moved(client_id, to, std::move(filters), own_up_to, hold);
    };
    hooks.stays = [this](const std::string& client_id) { relay_ended(client_id); };
    hooks.stream_position = [this] { return last_seen(); };
    handover_ = std::make_unique<SessionHandover>(config_.node, client_, *lookup_, ingest, cache, registry,
                                                  config_.request_timeout_ms, config_.max_handover_bytes,
                                                  std::move(hooks));
  }
  log::info("cluster: node '" + config_.node + "', stream '" + config_.stream + "' on " + config_.nats.front() +
            (config_.nats.size() > 1 ? " (+" + std::to_string(config_.nats.size() - 1) + ")" : "") +
            (lookup_ ? ", lookup on " + config_.lookup_bind + ":" + std::to_string(lookup_->port())
                     : ", no lookup (notify is broadcast)"));
}

ClusterLink::~ClusterLink() {
  stop();
  handover_.reset();  // stopped (its subscription gone) in stop(); its threads joined
  client_.reset();
}

void ClusterLink::start() {
  auto events = [this](std::string_view subject, std::string_view data, std::string_view) { on_events(subject, data); };
  auto connects = [this](std::string_view, std::string_view data, std::string_view) { on_connect_announced(data); };
  std::error_code ec;
  for (const auto& [subject, handler] : std::vector<std::pair<std::string, store::JetStreamClient::Handler>>{
           {kBroadcastSubject, events},
           {notify_subject(config_.node), events},
           {kConnectSubject, connects},
           {connect_subject(config_.node), connects}})
    if (!ec) ec = client_->subscribe(subject, handler);
  if (!ec && lookup_)
    ec = client_->subscribe(kHeartbeatSubject, [this](std::string_view, std::string_view data, std::string_view) {
      lookup_->on_heartbeat(data);
    });
  if (ec) throw store::StoreOpenError("cluster: cannot subscribe to the other gateways' subjects: " + ec.message());
  if (lookup_) {
    // Sessions restored from the store are held here: the lookup must name
    // this gateway for them, or their clients start new ones elsewhere.
    for (const auto& view : registry_.list())
      if (!view.online && view.persistent && !view.client_id.starts_with(kBridgeClientIdPrefix))  // bridges: local
        lookup_->note_client(view.client_id, 0);
    lookup_->start();
  }
  if (handover_) handover_->start();
  fetch_thread_ = std::thread([this] { fetch_loop(); });
  control_thread_ = std::thread([this] { control_loop(); });
}

void ClusterLink::post_task(std::function<void()> task) {
  {
    std::lock_guard guard(tasks_lock_);
    if (tasks_stopping_) return;
    tasks_.push_back(std::move(task));
  }
  tasks_ready_.notify_one();
}

void ClusterLink::control_loop() {
  std::unique_lock guard(tasks_lock_);
  auto next_sync = std::chrono::steady_clock::now() + kNotifySyncInterval;
  for (;;) {
    tasks_ready_.wait_until(guard, next_sync, [this] { return tasks_stopping_ || !tasks_.empty(); });
    if (std::chrono::steady_clock::now() >= next_sync) {
      guard.unlock();
      send_notify_syncs();
      guard.lock();
      next_sync = std::chrono::steady_clock::now() + kNotifySyncInterval;
    }
    if (tasks_.empty()) {
      if (tasks_stopping_) return;  // everything posted before is done
      continue;
    }
    auto task = std::move(tasks_.front());
    tasks_.pop_front();
    guard.unlock();
    task();
    guard.lock();
  }
}

void ClusterLink::send_notify_syncs() {
  // An empty notify repeating a channel's last counter: a receiver that has
  // not seen that counter lost the channel's last message, which no later
  // message would reveal (the sender may have nothing more to say to it).
  auto sync = [this](const std::string& subject, std::uint64_t counter) {
    std::string data;
    encode_cluster_notify_header(data, config_.node, counter);
    client_->publish(subject, data);
  };
  if (std::exchange(broadcast_since_sync_, false)) sync(kBroadcastSubject, notify_counter_);
  for (const auto& node : std::exchange(targeted_since_sync_, {})) sync(notify_subject(node), notify_counter_to_[node]);
}

void ClusterLink::stop() {
  {
    std::lock_guard guard(events_lock_);
    if (stopping_) return;
    stopping_ = true;
  }
  events_ready_.notify_one();
  fetch_round_done_.notify_all();
  // The lookup first: a move waiting for it to settle gives up at once
  // instead of holding up the handover's threads.
  if (lookup_) lookup_->stop();
  if (handover_) handover_->stop();
  if (fetch_thread_.joinable()) fetch_thread_.join();
  // Appends still in flight complete (acknowledged or failed) before the
  // control thread stops: their clients wait for an answer, and their notify
  // messages are still to be sent.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.request_timeout_ms);
  while (client_->pending_appends() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  {
    std::lock_guard guard(tasks_lock_);
    tasks_stopping_ = true;  // the control thread finishes what is queued, then ends
  }
  tasks_ready_.notify_one();
  if (control_thread_.joinable()) control_thread_.join();
  if (lookup_) lookup_->stop();
  stopped_ = true;
  // client_ stays until the destructor: the ingest thread (stopped after
  // this) may still leave a shared group or acknowledge a group message.
}

void ClusterLink::replicate(std::vector<Ingest::PublishRequest> requests) {
  // Only after shutdown (workers joined): a last will published while the
  // process stops reaches this node's sessions alone.
  if (stopped_) return ingest_.publish_local_batch(std::move(requests));
  auto batch = std::make_shared<PendingBatch>();
  std::vector<Ingest::PublishRequest> local;
  for (auto& r : requests) (node_local(*r.message) ? local : batch->requests).push_back(std::move(r));
  if (!local.empty()) ingest_.publish_local_batch(std::move(local));
  if (batch->requests.empty()) return;
  std::size_t n = batch->requests.size();
  batch->errors.resize(n);
  batch->seqs.resize(n);
  batch->remaining = n;
  for (std::size_t i = 0; i < n; ++i) {
    client_->append(*batch->requests[i].message, [this, batch, i](std::error_code ec, std::uint64_t seq) {
      batch->errors[i] = ec;
      batch->seqs[i] = seq;
      if (batch->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) batch_appended(batch);
    });
  }
}

void ClusterLink::batch_appended(const std::shared_ptr<PendingBatch>& batch) {
  std::vector<Ingest::PublishRequest> stored;
  std::vector<Event> events;
  for (std::size_t i = 0; i < batch->requests.size(); ++i) {
    auto& r = batch->requests[i];
    if (batch->errors[i]) {
      Metrics::add(counters_.append_errors);
      log::warn("cluster: publish to '" + r.message->topic + "' not stored: " + batch->errors[i].message());
      if (r.done) r.done(batch->errors[i], 0, 0);
      continue;
    }
    Metrics::add(counters_.appended);
    note_seen(batch->seqs[i]);
    r.message->stream_seq = batch->seqs[i];
    events.push_back({batch->seqs[i], r.message->retain, r.message->topic});
    if (r.done)
      // Subscribers on other gateways are not counted here: never report
      // "no matching subscribers" (v5 0x10) for what they may receive.
      r.done = [done = std::move(r.done)](std::error_code ec, std::uint64_t seq, std::size_t queues) {
        done(ec, seq, std::max<std::size_t>(queues, 1));
      };
    stored.push_back(std::move(r));
  }
  ingest_.publish_local_batch(std::move(stored));
  // Batches complete in order on one libnats thread, and the control thread
  // sends their notify messages in that order.
  if (!events.empty()) post_task([this, events = std::move(events)] { send_notify(events); });
}

void ClusterLink::send_notify(const std::vector<Event>& events) {
  // Retained messages go to every gateway (a later subscriber anywhere needs
  // them); the rest to the gateways the lookup names.
  std::optional<std::map<std::string, std::set<std::string>>> targets;
  bool retained = std::any_of(events.begin(), events.end(), [](const Event& e) { return e.retain; });
  if (lookup_ && !retained) {
    std::vector<std::string> topics;
    for (const auto& e : events) topics.push_back(e.topic);
    std::sort(topics.begin(), topics.end());
    topics.erase(std::unique(topics.begin(), topics.end()), topics.end());
    targets = lookup_->nodes_for(topics);
  }
  if (!targets) {
    std::vector<const Event*> all;
    for (const auto& e : events) all.push_back(&e);
    publish_notify(kBroadcastSubject, ++notify_counter_, all);
    broadcast_since_sync_ = true;
    Metrics::add(counters_.notify_broadcast);
    return;
  }
  std::map<std::string, std::vector<const Event*>> per_node;
  for (const auto& e : events)
    for (const auto& node : (*targets)[e.topic])
      if (node != config_.node) per_node[node].push_back(&e);
  for (const auto& [node, list] : per_node) send_notify_to(node, list);
}

void ClusterLink::send_notify_to(const std::string& node, const std::vector<const Event*>& events) {
  publish_notify(notify_subject(node), ++notify_counter_to_[node], events);
  targeted_since_sync_.insert(node);
  Metrics::add(counters_.notify_targeted);
}

void ClusterLink::publish_notify(const std::string& subject, std::uint64_t counter,
                                 const std::vector<const Event*>& events) {
  std::string data;
  encode_cluster_notify_header(data, config_.node, counter);
  for (const auto* e : events) encode_cluster_event(data, e->seq, e->retain, e->topic);
  if (auto ec = client_->publish(subject, data))
    log::warn("cluster: notify not sent (" + ec.message() + "): the other gateways catch up from the stream");
  else
    Metrics::add(counters_.events_sent);
}

void ClusterLink::on_events(std::string_view subject, std::string_view data) {
  const bool broadcast = subject == kBroadcastSubject;
  std::size_t added = 0;
  {
    std::lock_guard guard(events_lock_);
    ClusterNotifyHeader header;
    std::uint64_t first_seq = 0, last_seq = 0;
    bool ok = decode_cluster_notify(data, header, [&](std::uint64_t seq, bool retain, std::string_view topic) {
      if (!first_seq) first_seq = seq;
      last_seq = seq;
      if (events_.size() >= kMaxFetchBacklog) {
        request_catch_up_locked(seq);  // read back from the stream once the backlog is gone
        return;
      }
      events_.push_back({seq, retain, std::string(topic)});
      ++added;
    });
    if (!ok) log::warn("cluster: a malformed notify message was ignored");
    if (!header.origin.empty()) {
      // Broadcast and targeted notify are numbered apart.
      std::string channel = std::string(header.origin) + (broadcast ? "/all" : "/me");
      auto [it, first] = notify_counters_.try_emplace(std::move(channel), Channel{header.counter, 0});
      // A jump means a notify of that node never reached us (a counter that
      // goes back is that node restarted): what it held came after the last
      // sequence this channel brought. An empty message (a sync) repeats the
      // last counter sent.
      const std::uint64_t expected = it->second.counter + (first_seq ? 1 : 0);
      if (!first && header.counter > expected) {
        log::warn("cluster: " + std::to_string(header.counter - expected) + " notify message(s) from '" +
                  it->first + "' lost; catching up from the stream");
        request_catch_up_locked(it->second.last_seq ? it->second.last_seq + 1
                                                    : (first_seq > kCatchUpMargin ? first_seq - kCatchUpMargin : 1));
      }
      it->second.counter = header.counter;
      if (last_seq) it->second.last_seq = last_seq;
    }
  }
  Metrics::add(counters_.events_received, added);
  events_ready_.notify_one();
}

void ClusterLink::announce_connect(const std::string& client_id, std::int64_t connected_ms) {
  if (stopped_) return;
  {
    std::lock_guard guard(connections_lock_);
    ++local_connections_[client_id];
  }
  post_task([this, client_id, connected_ms] { send_takeover(client_id, connected_ms); });
}

void ClusterLink::announce_disconnect(const std::string& client_id, bool session_kept) {
  {
    std::lock_guard guard(connections_lock_);
    auto it = local_connections_.find(client_id);
    if (it == local_connections_.end()) return;
    // A takeover here announces the new connection before the old one ends.
    if (--it->second > 0) return;
    local_connections_.erase(it);
  }
  if (lookup_ && !session_kept) lookup_->client_gone(client_id);
}

void ClusterLink::send_takeover(const std::string& client_id, std::int64_t connected_ms, const std::string& to) {
  // u8 node length, node, u64 connected_ms, client id.
  std::string data;
  encode_cluster_notify_header(data, config_.node, static_cast<std::uint64_t>(connected_ms));
  data += client_id;
  std::string subject = to.empty() ? kConnectSubject : connect_subject(to);
  if (lookup_) {
    // The owner of the client's key swaps its holder for us in one step and
    // says who held it: only that gateway needs to hear about it.
    auto previous = lookup_->claim_client(client_id, connected_ms);
    log::debug("cluster: claim of '" + client_id + "': " +
               (!previous ? std::string("lookup cannot say") : !*previous ? std::string("held nowhere else") : "held by " + **previous));
    if (to.empty() && previous && !*previous) return;  // held nowhere else
    if (to.empty() && previous) subject = connect_subject(**previous);
  }
  Metrics::add(subject == kConnectSubject ? counters_.takeover_broadcast : counters_.takeover_targeted);
  if (auto ec = client_->publish(subject, data))
    log::warn("cluster: connect of '" + client_id + "' not announced (" + ec.message() +
              "): another gateway may keep an older connection with it");
}

void ClusterLink::on_connect_announced(std::string_view data) {
  ClusterNotifyHeader header;
  if (data.empty() || data.size() < 1 + std::size_t(static_cast<unsigned char>(data[0])) + 8) return;
  std::size_t header_size = 1 + static_cast<unsigned char>(data[0]) + 8;
  decode_cluster_notify(data.substr(0, header_size), header, [](std::uint64_t, bool, std::string_view) {});
  std::string client_id(data.substr(header_size));
  takeover_notice(client_id, static_cast<std::int64_t>(header.counter), std::string(header.origin));
}

void ClusterLink::takeover_notice(const std::string& client_id, std::int64_t claimed_at, const std::string& origin) {
  std::optional<SessionView> parked;
  if (auto owner = registry_.find(client_id, parked)) {
    // Claims reach the lookup in any order: if ours is the newer connection,
    // claim again and tell the other gateway to close its older one.
    owner->taken_over_elsewhere(claimed_at, origin.empty() || config_.node < origin,
                                [this, client_id, origin](std::int64_t connected_ms) {
                                  post_task([this, client_id, connected_ms, origin] {
                                    send_takeover(client_id, connected_ms, origin);
                                  });
                                });
  } else if (parked && registry_.end_parked(client_id)) {
    Metrics::add(counters_.takeovers);
    if (lookup_) lookup_->client_gone(client_id);
    log::info("session '" + client_id + "' ended: its client connected on " +
              (origin.empty() ? std::string("another gateway") : "gateway '" + origin + "'"));
  }
}

void ClusterLink::note_seen(std::uint64_t seq) {
  auto seen = last_seen_.load(std::memory_order_relaxed);
  while (seq > seen && !last_seen_.compare_exchange_weak(seen, seq, std::memory_order_relaxed)) {
  }
}

bool ClusterLink::remember_delivered(std::uint64_t seq) {
  if (!delivered_.insert(seq).second) return false;
  delivered_order_.push_back(seq);
  if (delivered_order_.size() > kRecentDelivered) {
    delivered_.erase(delivered_order_.front());
    delivered_order_.pop_front();
  }
  return true;
}

void ClusterLink::catch_up(std::uint64_t from) {
  Metrics::add(counters_.catch_ups);
  std::error_code ec;
  std::uint64_t last = client_->last_sequence(ec);
  if (ec) {
    log::warn("cluster: catch-up postponed, stream unreachable: " + ec.message());
    std::lock_guard guard(events_lock_);
    request_catch_up_locked(from);  // the next round (at most a second away) tries again
    return;
  }
  // Older messages the stream's own limits removed are skipped in one step.
  const std::string everything = client_->options().subject_prefix + ".>";
  if (auto first = client_->read_next(everything, from, ec); !ec && first) from = std::max(from, first->message.seq);
  ec.clear();  // a replica that failed to answer: the leader is asked below, per message
  // At most kCatchUpMax messages a round, oldest first and pipelined; the
  // next round goes on from there (a long outage delays, it does not skip).
  const std::uint64_t to = last >= from && last - from >= kCatchUpMax ? from + kCatchUpMax - 1 : last;
  std::vector<std::uint64_t> seqs;
  for (std::uint64_t seq = from; seq <= to; ++seq) seqs.push_back(seq);
  std::vector<Ingest::PublishRequest> batch;
  std::map<std::string, std::vector<Event>> relays;
  std::size_t delivered = 0;
  std::uint64_t failed = 0;
  bool read = read_sequences(seqs, failed, [&](std::uint64_t seq, std::optional<store::StoredMessage>& stored) {
    if (!stored) return;  // removed (retention) or never written (a failed append)
    note_seen(seq);
    if (stored->origin == config_.node) return;  // delivered here when it was appended
    if (!stored->message.retain && !interested(stored->message.topic)) return;
    if (!remember_delivered(seq)) return;  // its notify did arrive
    collect_relays(*stored, relays);
    batch.push_back({message_from_stream(std::move(stored->message)), std::nullopt, {}, {}, true});
    ++delivered;
  });
  if (!read) {
    log::warn("cluster: catch-up stopped at sequence " + std::to_string(failed) +
              ": the stream did not answer; it goes on from there in a second");
    std::lock_guard guard(events_lock_);
    request_catch_up_locked(failed);
  } else if (to < last) {
    log::info("cluster: catch-up goes on from sequence " + std::to_string(to + 1) + " (" +
              std::to_string(last - to) + " more to read)");
    std::lock_guard guard(events_lock_);
    request_catch_up_locked(to + 1);
  }
  Metrics::add(counters_.caught_up, delivered);
  if (delivered) log::info("cluster: catch-up delivered " + std::to_string(delivered) + " missed message(s)");
  ingest_.publish_local_batch(std::move(batch));
  send_relays(std::move(relays));
}

bool ClusterLink::interested(const std::string& topic) const {
  std::lock_guard guard(interest_lock_);
  bool any = false;
  interest_.match(topic, [&](const std::string&) { any = true; });
  return any;
}

void ClusterLink::filter_live(std::string_view filter, const std::string& name, bool live) {
  if (name.starts_with("$share/")) {
    // Not an interest for notify: group messages come from the group's consumer.
    if (live && !groups_.join(name, filter)) log::warn("cluster: shared group '" + name + "' will be retried");
    if (!live) groups_.leave(name);
    return;
  }
  {
    std::lock_guard guard(interest_lock_);
    if (live)
      interest_.insert(filter, name);
    else
      interest_.erase(filter, name);
  }
  if (!lookup_) return;  // every notify is broadcast: nothing to settle
  if (!live) return lookup_->route_removed(name);
  // Before the SUBACK: a publisher that asks the lookup afterwards finds us,
  // if every member asks the owner that took it (state_visible() before).
  const bool visible = lookup_->state_visible();
  if (lookup_->route_added(name) && visible) return;
  // Otherwise a publisher may ask a lookup without us for a while after the
  // SUBACK: settle_routes() reads what comes after the stream's last sequence
  // now (what came before was published during the SUBSCRIBE).
  // A blocking request on this (the ingest) thread, skipped for a second
  // after one failed: while the stream does not answer, nobody's publish is
  // acknowledged, and the route is anchored by its first read instead (0).
  std::uint64_t from = 0;
  const auto now = std::chrono::steady_clock::now();
  if (client_->connected() && now >= anchor_retry_after_) {
    std::error_code ec;
    std::uint64_t last = client_->last_sequence(ec);
    if (!ec) from = last + 1;
    else anchor_retry_after_ = now + std::chrono::seconds(1);
  }
  std::lock_guard guard(events_lock_);
  if (settling_.size() >= kMaxSettling) {
    // The policy at the bound: one entry for every filter live here, from
    // the oldest of the new routes.
    auto any = std::find_if(settling_.begin(), settling_.end(), [](const Settling& e) { return e.filter.empty(); });
    if (any == settling_.end()) settling_.push_back({std::string(), from, now + kSettleReadInterval});
    else if (from && (!any->from || from < any->from)) any->from = from;
    return;
  }
  settling_.push_back({name, from, now + kSettleReadInterval});
}

void ClusterLink::fetch_loop() {
  std::deque<Event> events;
  std::uint64_t catch_up_from = 0;
  std::chrono::steady_clock::time_point next_group_retry{};
  for (;;) {
    {
      std::unique_lock guard(events_lock_);
      // Routes settling are checked often: their reads wait on the lookup.
      const auto wait = settling_.empty() ? std::chrono::milliseconds(1000) : kSettleCheckInterval;
      events_ready_.wait_for(guard, wait, [this] { return stopping_ || !events_.empty() || catch_up_from_; });
      if (stopping_) return;
      events.swap(events_);
      catch_up_from = std::exchange(catch_up_from_, 0);
      ++fetch_rounds_started_;
    }
    // Blocking requests: once a second, however often the rounds run.
    if (auto now = std::chrono::steady_clock::now(); now >= next_group_retry) {
      groups_.retry();
      next_group_retry = now + std::chrono::seconds(1);
    }
    // The events this gateway needs, then their messages in one round trip
    // per chunk; what that misses is read one by one (with the leader's help).
    std::vector<std::uint64_t> wanted;
    for (auto& e : events) {
      if (!e.retain && !interested(e.topic)) {
        Metrics::add(counters_.skipped);
        continue;
      }
      note_seen(e.seq);
      if (!remember_delivered(e.seq)) continue;  // a catch-up delivered it already
      wanted.push_back(e.seq);
    }
    std::vector<Ingest::PublishRequest> batch;
    std::map<std::string, std::vector<Event>> relays;
    std::uint64_t failed = 0;
    bool read = read_sequences(wanted, failed, [&](std::uint64_t seq, std::optional<store::StoredMessage>& stored) {
      if (!stored) {
        delivered_.erase(seq);
        Metrics::add(counters_.fetch_errors);
        log::warn("cluster: message " + std::to_string(seq) + " could not be read: no longer in the stream");
        return;
      }
      Metrics::add(counters_.fetched);
      collect_relays(*stored, relays);
      batch.push_back({message_from_stream(std::move(stored->message)), std::nullopt, {}, {}, true});
    });
    if (!read) {
      // Unreachable for now (a failover): a catch-up reads the rest later,
      // from the oldest not read. read_sequences() stops at `failed`, in the
      // order of `wanted` (arrival, not sequence): that one and those after.
      std::uint64_t oldest = failed;
      for (auto it = std::find(wanted.begin(), wanted.end(), failed); it != wanted.end(); ++it) {
        delivered_.erase(*it);
        oldest = std::min(oldest, *it);
      }
      Metrics::add(counters_.fetch_errors);
      log::warn("cluster: message " + std::to_string(failed) +
                " could not be read now; a catch-up reads it and the others not read, from " + std::to_string(oldest));
      std::lock_guard guard(events_lock_);
      request_catch_up_locked(oldest);
    }
    events.clear();
    ingest_.publish_local_batch(std::move(batch));
    send_relays(std::move(relays));
    if (catch_up_from) catch_up(catch_up_from);
    settle_routes();
    {
      std::lock_guard guard(events_lock_);
      fetch_rounds_done_ = fetch_rounds_started_;
    }
    fetch_round_done_.notify_all();
  }
}

bool ClusterLink::read_sequences(const std::vector<std::uint64_t>& seqs, std::uint64_t& failed,
                                 const std::function<void(std::uint64_t, std::optional<store::StoredMessage>&)>& fn) {
  for (std::size_t start = 0; start < seqs.size(); start += kFetchChunk) {
    std::size_t end = std::min(seqs.size(), start + kFetchChunk);
    std::vector<std::uint64_t> chunk(seqs.begin() + static_cast<std::ptrdiff_t>(start),
                                     seqs.begin() + static_cast<std::ptrdiff_t>(end));
    std::error_code many_ec;
    auto found = client_->read_many(chunk, many_ec);
    for (std::size_t i = 0; i < chunk.size(); ++i) {
      auto stored = std::move(found[i]);
      std::error_code ec;
      if (!stored) {
        stored = client_->read(chunk[i], ec);
        // One more try: a NATS server of the cluster may be failing over.
        if (ec) stored = client_->read(chunk[i], ec);
      }
      if (ec) {
        failed = chunk[i];
        return false;
      }
      fn(chunk[i], stored);
    }
  }
  return true;
}

void ClusterLink::settle_routes() {
  if (!lookup_) return;
  // Read once the lookup shows this gateway's state to every member (a
  // publisher that asks from now on finds us), and every
  // kSettleReadInterval meanwhile so that a lookup slow to settle delays
  // these messages but does not hold them back for good.
  const bool visible = lookup_->state_visible();
  const auto now = std::chrono::steady_clock::now();
  // All of them in one read whenever one is due: they share the stream's window.
  std::vector<Settling> due;
  {
    std::lock_guard guard(events_lock_);
    const bool any_due = visible || std::any_of(settling_.begin(), settling_.end(),
                                                [&](const Settling& e) { return now >= e.next_read; });
    if (any_due) due.swap(settling_);
  }
  if (due.empty()) return;
  Metrics::add(counters_.settle_reads);
  // The last sequence now, after the lookup showed us: whatever a publisher
  // sent elsewhere by mistake was stored before it.
  std::error_code ec;
  std::uint64_t last = client_->last_sequence(ec);
  if (!ec)
    for (auto& e : due)
      if (!e.from) e.from = last + 1;  // anchored now: the stream did not answer when it went live
  std::uint64_t from = last + 1;
  for (const auto& s : due) from = std::min(from, s.from);
  // At most kCatchUpMax messages a round; the next round goes on from there.
  const std::uint64_t to = last >= from && last - from >= kCatchUpMax ? from + kCatchUpMax - 1 : last;
  SubscriptionTrie<std::size_t> filters;  // -> index in `due`
  std::uint64_t any_from = 0;              // the entry for every live filter (at the bound), if any
  for (std::size_t i = 0; i < due.size(); ++i)
    if (due[i].filter.empty())
      any_from = due[i].from;
    else
      filters.insert(due[i].filter, i);
  std::vector<std::uint64_t> seqs;
  for (std::uint64_t seq = from; !ec && seq <= to; ++seq) seqs.push_back(seq);
  std::vector<Ingest::PublishRequest> batch;
  std::map<std::string, std::vector<Event>> relays;
  std::size_t delivered = 0;
  std::uint64_t failed = 0;
  bool read = !ec && read_sequences(seqs, failed, [&](std::uint64_t seq, std::optional<store::StoredMessage>& stored) {
    if (!stored) return;  // removed (retention) or never written (a failed append)
    note_seen(seq);
    if (stored->origin == config_.node) return;  // delivered here when it was appended
    bool ours = any_from && any_from <= seq && interested(stored->message.topic);
    filters.match(stored->message.topic, [&](std::size_t i) { ours = ours || due[i].from <= seq; });
    if (!ours || !remember_delivered(seq)) return;
    collect_relays(*stored, relays);
    batch.push_back({message_from_stream(std::move(stored->message)), std::nullopt, {}, {}, true});
    ++delivered;
  });
  Metrics::add(counters_.settled, delivered);
  if (delivered)
    log::info("cluster: " + std::to_string(delivered) +
              " message(s) read from the stream for filters the lookup did not show yet");
  ingest_.publish_local_batch(std::move(batch));
  send_relays(std::move(relays));
  // Still settling, not read, or more to read: again, from where this read stopped.
  const std::uint64_t next = ec ? 0 : read ? to + 1 : failed;
  const bool more = !ec && read && to < last;
  if (ec) log::warn("cluster: settling read postponed, stream unreachable: " + ec.message());
  std::lock_guard guard(events_lock_);
  for (auto& s : due) {
    if (visible && read && !more) continue;
    if (next) s.from = std::max(s.from, next);
    s.next_read = more ? now : now + kSettleReadInterval;
    settling_.push_back(std::move(s));
  }
}

void ClusterLink::collect_relays(const store::StoredMessage& stored, std::map<std::string, std::vector<Event>>& out) {
  for (const auto& node : relays_.targets(stored.message.topic, stored.message.seq, stored.origin))
    out[node].push_back({stored.message.seq, stored.message.retain, stored.message.topic});
}

void ClusterLink::send_relays(std::map<std::string, std::vector<Event>> relays) {
  for (auto& [node, events] : relays) {
    Metrics::add(counters_.relayed, events.size());
    post_task([this, node = node, events = std::move(events)] {
      std::vector<const Event*> list;
      for (const auto& e : events) list.push_back(&e);
      send_notify_to(node, list);
    });
  }
}

bool ClusterLink::drain_fetch(std::chrono::milliseconds timeout) {
  std::unique_lock guard(events_lock_);
  // The round under way, and one more if events (or a catch-up) wait for it.
  const std::uint64_t target = fetch_rounds_started_ + (events_.empty() && !catch_up_from_ ? 0 : 1);
  return fetch_round_done_.wait_for(guard, timeout, [&] { return stopping_ || fetch_rounds_done_ >= target; });
}

ClusterStats ClusterLink::stats() const {
  ClusterStats s;
  s.node = config_.node;
  auto load = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  s.appended = load(counters_.appended);
  s.append_errors = load(counters_.append_errors);
  s.events_sent = load(counters_.events_sent);
  s.events_received = load(counters_.events_received);
  s.fetched = load(counters_.fetched);
  s.skipped = load(counters_.skipped);
  s.fetch_errors = load(counters_.fetch_errors);
  s.catch_ups = load(counters_.catch_ups);
  s.caught_up = load(counters_.caught_up);
  s.takeovers = load(counters_.takeovers);
  s.settle_reads = load(counters_.settle_reads);
  s.settled = load(counters_.settled);
  s.relayed = load(counters_.relayed);
  s.notify_targeted = load(counters_.notify_targeted);
  s.notify_broadcast = load(counters_.notify_broadcast);
  s.takeover_targeted = load(counters_.takeover_targeted);
  s.takeover_broadcast = load(counters_.takeover_broadcast);
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
  {
    std::lock_guard guard(events_lock_);
    s.fetch_backlog = events_.size();
    s.settling = settling_.size();
  }
  if (client_) {
    s.pending_appends = client_->pending_appends();
    s.connected = client_->connected();
  }
  return s;
}

}  // namespace tidegate
