#include "gateway/broker.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cctype>
#include <fstream>
#include <future>
#include <set>
#include <thread>

#include "gateway/bridge/bridge_rules.hpp"
#include "gateway/cluster/cluster.hpp"
#include "gateway/connection/connection.hpp"
#include "gateway/session/inflight_record.hpp"
#include "gateway/ops/log.hpp"
#include "gateway/pipeline/message_builder.hpp"
#include "gateway/session/session_end.hpp"
#include "gateway/net/tls_context.hpp"

namespace tidegate {

namespace asio = boost::asio;

namespace {
IngestLimits ingest_limits(const Config& c) {
  return IngestLimits{c.max_retained_messages, c.max_retained_bytes, c.retention_bytes,
                      static_cast<std::int64_t>(c.retention_seconds) * 1000, c.max_session_backlog};
}
}  // namespace

Broker::Broker(Config config, std::string config_path, nlohmann::json config_json)
    : config_(std::move(config)), config_path_(std::move(config_path)), running_json_(std::move(config_json)) {
  auto access = std::make_shared<AccessControl>(config_);  // a bad file is refused before the store opens
  if (!config_.plugins.empty()) plugins_ = std::make_unique<PluginHost>(config_.plugins);
  if (config_.auth_http) auth_http_ = std::make_unique<AuthHttp>(*config_.auth_http);
  std::size_t initial_map = config_.store_map_size;
  if (config_.max_store_bytes) initial_map = std::min(initial_map, config_.max_store_bytes);
  store_ = std::make_unique<store::LmdbStore>(
      store::StoreOptions{config_.data_dir, config_.fsync ? store::Durability::fsync : store::Durability::os,
                          initial_map, config_.max_store_bytes});
  cache_ = std::make_unique<cache::QueueCache>(*store_, config_.queue_cache_entries);
  ingest_ = std::make_unique<Ingest>(
      *store_, *cache_,
      ingest_limits(config_));
  registry_ = std::make_unique<SessionRegistry>(SessionRegistry::Hooks{
      [this](const std::string& client_id, mqtt::Will will) {
        ingest_->publish(message_from_will(will, client_id, store::wall_clock_ms()), std::nullopt, {});
      },
      [this](std::unique_ptr<Session> session) {
        log::info("session '" + session->client_id() + "' expired");
        end_session(*ingest_, *session);
      }});
  context_ = std::unique_ptr<BrokerContext>(new BrokerContext{config_, *ingest_, *cache_, *registry_, metrics_});
  context_->set_access(std::move(access));
  context_->plugins = plugins_.get();
  context_->auth_http = auth_http_.get();

  events_ = std::make_unique<events::EventsEngine>(*ingest_, *cache_, *store_,
                                                  config_.node_name.empty() ? events::default_node_name() : config_.node_name);
  events_plan_ = events_->plan(config_.rules);  // webhook TLS files read now: a bad one refuses the start
  context_->events = events_.get();
  streams_ = std::make_unique<events::Streams>(*ingest_, *store_);
  context_->streams = streams_.get();

  unsigned n = config_.workers ? config_.workers : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(i));

  for (std::size_t i = 0; i < config_.bridges.size(); ++i) {
    const auto& b = config_.bridges[i];
    std::shared_ptr<asio::ssl::context> tls;
    if (b.tls) tls = make_bridge_tls_context(*b.tls, "bridges[" + std::to_string(i) + "].tls");
    bridges_.push_back(std::make_shared<BridgeLink>(*context_, *workers_[i % workers_.size()], b, std::move(tls)));
  }
  // The admin API listens before MQTT does: a client that finds the MQTT port
  // open finds the admin API too.
  start_admin();
  // Every listener's TLS files are checked before the first one listens: a bad
  // one refuses the start before anything accepts a connection.
  std::vector<std::shared_ptr<asio::ssl::context>> tls_contexts;
  for (std::size_t i = 0; i < config_.listeners.size(); ++i)
    tls_contexts.push_back(config_.listeners[i].tls()
                               ? make_tls_context(config_.listeners[i], "listeners[" + std::to_string(i) + "]")
                               : nullptr);  // ConfigError names the key
  for (std::size_t i = 0; i < config_.listeners.size(); ++i) {
    Listener listener;
    listener.config = config_.listeners[i];
    listener.where = "listeners[" + std::to_string(i) + "]";
    const auto& l = listener.config;
    listener.tls = std::move(tls_contexts[i]);
    boost::system::error_code ec;
    auto address = asio::ip::make_address(l.bind, ec);
    if (ec) throw ConfigError(listener.where + ".bind: not an IP address: '" + l.bind + "'");
    asio::ip::tcp::endpoint endpoint(address, l.port);
    listener.acceptor = std::make_unique<asio::ip::tcp::acceptor>(main_io_);
    auto& acceptor = *listener.acceptor;
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      throw std::runtime_error("cannot listen on " + l.bind + ":" + std::to_string(l.port) + ": " + ec.message());
    listeners_.push_back(std::move(listener));
  }
  context_->bridge_status = [this] {
    std::vector<BridgeStatus> all;
    for (const auto& link : bridges_) {
      all.push_back(link->status());
      all.back().backlog = bridge_backlog(link->config());
    }
    return all;
  };
  // Cluster mode last among the sockets: the lookup's RPC listener may take
  // any free port, never one configured for MQTT or the admin API.
  cluster_ = make_cluster(config_, *ingest_, *cache_, *registry_);
  context_->cluster_ = cluster_.get();
  restore_sessions();
}

namespace {
constexpr std::size_t kBacklogCountCap = 10'000'000;
}  // namespace

std::size_t Broker::bridge_backlog(const BridgeConfig& bridge) const {
  // From what is committed: entries after each out queue's stored position,
  // and those sent but not yet acknowledged upstream. Read transactions only.
  const std::string id = bridge.local_client_id();
  auto offsets = store_->load_offsets(id);
  std::size_t backlog = store_->load_inflight(id).size();
  for (const auto& rule : bridge.out) {
    auto it = offsets.find(rule.filter);
    // Capped: a scrape must not walk millions of index keys after a long outage.
    backlog += store_->count_queue(rule.filter, it == offsets.end() ? 0 : it->second, kBacklogCountCap);
  }
  return backlog;
}

void Broker::prepare_bridge_session(const BridgeConfig& b) {
  const std::string id = b.local_client_id();
  auto session = registry_->unpark(id);
  if (!session) {
    session = std::make_unique<Session>(id, b.protocol_version == 5 ? mqtt::ProtocolVersion::v5
                                                                     : mqtt::ProtocolVersion::v311);
    log::info("bridge '" + b.name + "': new local session " + id);
  }
  session->expiry_interval = kSessionNeverExpires;
  Ingest::SessionProgress progress;
  for (auto it = session->subscriptions.begin(); it != session->subscriptions.end();) {
    bool wanted = std::any_of(b.out.begin(), b.out.end(), [&](const BridgeRule& r) { return r.filter == it->first; });
    if (wanted) {
      ++it;
      continue;
    }
    log::info("bridge '" + b.name + "': out rule '" + it->first + "' removed; its backlog is dropped");
    session->cursors.erase(it->second.queue);
    progress.erased_queues.push_back(it->second.queue);
    ingest_->unsubscribe(id, it->first);
    it = session->subscriptions.erase(it);
  }
  for (const auto& rule : b.out) {
    SubscriptionOptions options = out_rule_options(rule);
    if (auto existing = session->subscriptions.find(rule.filter); existing != session->subscriptions.end()) {
      existing->second.options = options;
      continue;
    }
    session->subscriptions.emplace(rule.filter, Subscription{rule.filter, rule.filter, options});
    std::promise<std::uint64_t> start;
    auto started = start.get_future();
    ingest_->subscribe(id, rule.filter, false, [&start](Ingest::SubscribeResult r) { start.set_value(r.start_after); });
    auto& cursor = session->cursors[rule.filter];
    cursor.position = cursor.saved = started.get();
    progress.offsets.emplace_back(rule.filter, cursor.position);
  }
  if (!progress.empty()) ingest_->save_progress(id, std::move(progress));
  std::promise<std::error_code> save;
  auto saved = save.get_future();
  ingest_->save_session(id, encode_session_record(*session), [&save](std::error_code ec) { save.set_value(ec); });
  if (auto ec = saved.get())
    log::error("bridge '" + b.name + "': cannot store its session (" + ec.message() +
               "); messages are kept for it from its first connection on");
  registry_->park(std::move(session));
}

void Broker::prepare_bridge_sessions() {
  std::set<std::string> configured;
  for (const auto& b : config_.bridges) {
    configured.insert(b.local_client_id());
    prepare_bridge_session(b);
  }
  for (const auto& view : registry_->list()) {
    if (!view.client_id.starts_with(kBridgeClientIdPrefix) || configured.count(view.client_id)) continue;
    log::info("session '" + view.client_id + "' ends: its bridge is no longer configured");
    registry_->end_parked(view.client_id);
  }
}

void Broker::start_admin() {
  const auto& a = config_.admin;
  if (!a.enabled) return;
  admin::AdminAccess access;
  if (a.token_file) access.token = admin::read_admin_token("admin.token_file", *a.token_file);
  if (a.read_token_file) access.read_token = admin::read_admin_token("admin.read_token_file", *a.read_token_file);
  if (a.stream_token_file)
    access.stream_token = admin::read_admin_token("admin.stream_token_file", *a.stream_token_file);
  if (access.stream_token && (access.stream_token == access.token || access.stream_token == access.read_token))
    throw ConfigError("admin.stream_token_file: holds the same token as another of the admin tokens");
  if (access.token && access.token == access.read_token)
    throw ConfigError("admin.read_token_file: holds the same token as admin.token_file");
  for (const auto& host : a.allowed_hosts) access.allowed_hosts.push_back(*admin::parse_host_name(host));
  if (a.allow_insecure_remote && !a.token_file && !admin::normalised(asio::ip::make_address(a.bind)).is_loopback())
    log::warn("admin API on " + a.bind + " without a token (admin.allow_insecure_remote): anyone who reaches it " +
              "can kick clients, delete sessions and retained messages");
  admin_api_ = std::make_unique<admin::AdminApi>(main_io_, *context_, *store_, [this] { return reload(); },
                                                [this] { return health(); });
  // An address in use is fatal, with or without a config: a gateway running
  // without its API would leave tidegatectl talking to whatever holds the port.
  admin::AdminListenerOptions listener{a.bind, a.port, nullptr, std::move(access), a.max_live_streams, a.max_logins,
                                       a.history_seconds};
  if (a.cert) {
    listener.tls = make_admin_tls_context(a);
  } else if (!admin::normalised(asio::ip::make_address(a.bind)).is_loopback()) {
    log::warn("admin API on " + a.bind + " without admin.cert and admin.key: the token and the console's login " +
              "cookie cross the network in clear text (docs/console.md)");
  }
  admin_server_ = std::make_unique<admin::AdminServer>(main_io_, *admin_api_, *context_, *store_, std::move(listener));
}

Broker::~Broker() {
  // Before the workers' io_contexts go: late plugin answers must not reach them.
  if (plugins_) plugins_->close_events();
}

void Broker::restore_sessions() {
  auto now = store::wall_clock_ms();
  std::size_t restored = 0;
  for (auto& [client_id, record] : store_->load_sessions()) {
    auto decoded = decode_session_record(client_id, record);
    if (!decoded) {
      log::warn("session '" + client_id + "': stored record unreadable, dropped");
      ingest_->save_session(client_id, std::nullopt);
      continue;
    }
    auto session = std::make_unique<Session>(std::move(*decoded));
    // A will left pending by a connection that was live when we stopped is due now.
    if (session->pending_will && session->pending_will->publish_at_ms == 0) {
      std::uint32_t delay = session->pending_will->will.properties.will_delay_interval.value_or(0);
      session->pending_will->publish_at_ms = now + std::int64_t(delay) * 1000;
      if (session->disconnected_at_ms == 0) session->disconnected_at_ms = now;
    }
    auto offsets = store_->load_offsets(client_id);
    if (auto it = offsets.find(kHandedProgressQueue); it != offsets.end()) {
      // Messages handed over from another gateway that went out before the
      // stop (their inflight records were written with this count).
      while (session->handed_taken < it->second && !session->handed.empty()) {
        session->handed.pop_front();
        ++session->handed_taken;
      }
    }
    for (const auto& [filter, sub] : session->subscriptions) {
      auto& cursor = session->cursors[sub.queue];
      auto it = offsets.find(sub.queue);
      // The stored offset is the last sequence taken from the queue (what was
      // taken but not acknowledged is in the inflight table). None stored (a
      // crash between SUBACK and its first write): read the queue from its
      // start, at least once rather than not at all.
      cursor.position = cursor.saved = it != offsets.end() ? it->second : 0;
      ingest_->subscribe(client_id, filter, false, [](Ingest::SubscribeResult) {});
      ingest_->restore_reader(client_id, sub.queue, cursor.position);
      if (!parse_shared(filter).group.empty()) ingest_->set_member_online(client_id, filter, false);
    }
    // Messages sent but not acknowledged before the stop go out again with
    // their original packet ids (MQTT-4.4.0-1).
    for (auto& [packet_id, bytes] : store_->load_inflight(client_id)) {
      auto decoded_inflight = decode_inflight_record(packet_id, bytes);
      if (!decoded_inflight) {
        log::warn("session '" + client_id + "': unreadable inflight record for packet id " +
                  std::to_string(packet_id) + ", skipped");
        continue;
      }
      auto& inflight = decoded_inflight->inflight;
      if (!inflight.message) inflight.message = store_->read_message(decoded_inflight->seq);
      if (inflight.message) {
        session->inflight.push_back(std::move(inflight));
      } else {
        // Removed by retention before it was acknowledged: said, and forgotten.
        Metrics::add(metrics_.sessions_behind_retention);
        log::warn("session '" + client_id + "': unacknowledged message " + std::to_string(decoded_inflight->seq) +
                  " was removed by retention; it cannot be resent");
        Ingest::SessionProgress drop;
        drop.inflight.emplace_back(packet_id, std::nullopt);
        ingest_->save_progress(client_id, std::move(drop));
      }
    }
    std::sort(session->inflight.begin(), session->inflight.end(),
              [](const auto& a, const auto& b) { return a.message->seq < b.message->seq; });
    registry_->park(std::move(session));
    ++restored;
  }
  if (restored) log::info("restored " + std::to_string(restored) + " persistent session(s)");
}

std::unique_ptr<Transport> Broker::make_transport(Listener& listener, asio::ip::tcp::socket socket) const {
  // One WebSocket message may carry a whole packet and some framing.
  std::size_t max_message = std::size_t(config_.max_packet_size) + 4096;
  const auto& protocol = listener.config.protocol;
  if (protocol == "mqtts") return make_tls_transport(std::move(socket), listener.tls);
  if (protocol == "ws") return make_ws_transport(std::move(socket), listener.config.path, max_message);
  if (protocol == "wss") return make_wss_transport(std::move(socket), listener.tls, listener.config.path, max_message);
  return make_tcp_transport(std::move(socket));
}

void Broker::accept_on(Listener& listener) {
  auto& worker = *workers_[next_worker_++ % workers_.size()];
  listener.acceptor->async_accept(worker.io(), [this, &listener, &worker](boost::system::error_code ec,
                                                                          asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted || context_->shutting_down) return;
    if (!ec) {
      Metrics::add(metrics_.connections_accepted);
      // The slot is taken before the socket is kept (connection_slot.hpp), so
      // connections still on their way to a worker count against the limit.
      auto slot = ConnectionSlot::try_take(metrics_.connections_open, LiveLimits::get(context_->limits.max_connections));
      if (!slot) {
        // At the limit: refuse at once (counted) rather than queue unbounded.
        Metrics::add(metrics_.connections_refused_limit);
        boost::system::error_code ignored;
        socket.close(ignored);
      } else {
        // Made here, on the main thread, which also swaps TLS contexts on SIGHUP.
        asio::post(worker.io(), [this, &worker, &listener, slot = std::move(*slot),
                                 transport = make_transport(listener, std::move(socket))]() mutable {
          std::make_shared<Connection>(*context_, worker, std::move(transport), listener.config, std::move(slot))
              ->start();
        });
      }
    }
    accept_on(listener);
  });
}

ReloadReport Broker::reload() {
  ReloadReport report;
  if (config_path_.empty()) {
    report.error = "running on embedded defaults: there is no config file to read again";
    return report;
  }
  nlohmann::json next_json;
  try {
    next_json = read_config_json(read_config_text(config_path_));
    Config next = config_from_json(next_json);
    report = compare_for_reload(running_json_, next_json);
    auto access = std::make_shared<AccessControl>(next);  // reads the password and ACL files now
    auto bridge_changes = plan_bridges(next.bridges);     // TLS files of new or changed bridges read now
    auto rule_plan = events_->plan(next.rules);           // and the webhooks' TLS files
    // The log last: it is the one change that cannot be undone once made.
    if (auto failure = log::set_output(log::format_from_name(next.log_format), next.log_file.value_or(""));
        !failure.empty())
      throw ConfigError("log_file: " + failure);
    context_->set_access(std::move(access));
    log::set_level(log::level_from_name(next.log_level));
    context_->limits.apply(next);
    context_->shared_publish_budget->set_limit(next.max_shared_publish_bytes);
    ingest_->set_limits(ingest_limits(next));
    apply_bridges(std::move(bridge_changes));
    events_->apply(std::move(rule_plan));
    streams_->apply(next.streams);
  } catch (const ConfigError& e) {
    // The running log file is opened anew all the same: logrotate renamed it
    // and sent SIGHUP whatever the state of the config file.
    auto reopened = log::reopen();
    if (!reopened.empty()) log::error("cannot reopen the log file, still writing to the old one: " + reopened);
    log::error(std::string("reload of ") + config_path_ + " failed, the running settings stay: " + e.what());
    return ReloadReport{e.what(), {}, {}, {}, {}};
  }
  reload_certificates();
  running_json_ = running_after_reload(running_json_, next_json, report);
  // "a,b,c", or none (the field is left out of the line).
  auto names = [](const std::vector<std::string>& keys) -> std::optional<std::string> {
    if (keys.empty()) return std::nullopt;
    std::string out;
    for (const auto& k : keys) out += (out.empty() ? "" : ",") + k;
    return out;
  };
  const auto applied = names(report.applied), new_connections = names(report.new_connections),
             restart_needed = names(report.restart_needed);
  log::event(restart_needed ? log::Level::warn : log::Level::info, "reload",
             report.changed.empty() ? "reloaded, nothing changed"
             : restart_needed       ? "reloaded; some changes need a restart"
                                    : "reloaded",
             {{"file", config_path_},
              {"applied", applied},
              {"new_connections", new_connections},
              {"restart_needed", restart_needed}});
  return report;
}

admin::Health Broker::health() const {
  admin::Health h;
  // The store refused a commit in the last minute and has stored no message since.
  const auto refused_at = ingest_->stats().store_refused_at;
  if (refused_at != std::chrono::steady_clock::time_point{} &&
      std::chrono::steady_clock::now() - refused_at < std::chrono::minutes(1))
    h.failing.push_back("store");
  for (const auto& listener : listeners_)
    if (!listener.acceptor || !listener.acceptor->is_open()) h.failing.push_back(listener.where);
  if (auto c = context_->cluster().stats(); c && !c->connected) h.failing.push_back("cluster");
  for (const auto& b : context_->bridge_status())
    if (!b.connected) h.degraded.push_back("bridges." + b.name);
  if (context_->shutting_down) h.failing.push_back("shutting_down");
  return h;
}

Broker::BridgeChanges Broker::plan_bridges(const std::vector<BridgeConfig>& next) const {
  BridgeChanges changes;
  for (std::size_t i = 0; i < next.size(); ++i) {
    const auto& b = next[i];
    auto running = std::find_if(bridges_.begin(), bridges_.end(), [&](const auto& l) { return l->config().name == b.name; });
    if (running != bridges_.end() && (*running)->config() == b) continue;  // unchanged: left alone
    std::shared_ptr<asio::ssl::context> tls;
    if (b.tls) tls = make_bridge_tls_context(*b.tls, "bridges[" + std::to_string(i) + "].tls");
    changes.start.emplace_back(b, std::move(tls));
  }
  for (const auto& link : bridges_) {
    const auto& name = link->config().name;
    bool kept = std::any_of(next.begin(), next.end(), [&](const BridgeConfig& b) { return b.name == name; });
    bool changed = std::any_of(changes.start.begin(), changes.start.end(), [&](const auto& s) { return s.first.name == name; });
    if (!kept || changed) changes.stop.push_back(link);
    if (!kept) changes.removed.push_back(link->config().local_client_id());
  }
  return changes;
}

void Broker::apply_bridges(BridgeChanges changes) {
  // Main thread. Links that go or change are stopped; their sessions are
  // parked (saved) before they are reconciled with the new rules or ended.
  for (const auto& link : changes.stop) {
    link->stop();
    std::erase(bridges_, link);
  }
  // run() ends only after its connection has closed, and a connection parks
  // its session as it closes: then the session may be reconciled.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (const auto& link : changes.stop) {
    while (!link->finished() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the link's connection is closing on its worker
    if (!link->finished())
      log::error("bridge '" + link->config().name + "': its link did not stop within 10 s; reload goes on");
  }
  for (const auto& id : changes.removed) {
    if (registry_->end_parked(id)) log::info("session '" + id + "' ends: its bridge was removed");
  }
  for (auto& [config, tls] : changes.start) {
    prepare_bridge_session(config);
    auto& worker = *workers_[bridges_.size() % workers_.size()];
    auto link = std::make_shared<BridgeLink>(*context_, worker, config, std::move(tls));
    bridges_.push_back(link);
    link->start();
    log::info("bridge '" + config.name + "': started by reload");
  }
}

void Broker::reload_certificates() {
  for (auto& listener : listeners_) {
    if (!listener.config.tls()) continue;
    try {
      listener.tls = make_tls_context(listener.config, listener.where);
      log::info(listener.where + ": certificates reloaded; new connections use them");
    } catch (const ConfigError& e) {
      // Keep serving with what worked: a bad file must not take the listener down.
      log::error(std::string("certificate reload failed, keeping the previous ones: ") + e.what());
    }
  }
}

void Broker::schedule_sys() {
  sys_timer_->expires_after(std::chrono::seconds(config_.sys_interval));
  sys_timer_->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    sys_topics_->publish();
    schedule_sys();
  });
}

void Broker::schedule_sweep() {
  sweep_timer_->expires_after(std::chrono::seconds(1));
  sweep_timer_->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    registry_->sweep(store::wall_clock_ms());
    schedule_sweep();
  });
}

int Broker::run() {
  // First: a SIGHUP or SIGTERM sent as soon as "tidegate ready" is logged (a
  // reload right after start) must find its handler, not the default action
  // (which ends the process). Handled once main_io_ runs.
  asio::signal_set signals(main_io_, SIGTERM, SIGINT, SIGHUP);
  wait_for_signal(signals);
  std::vector<Ingest::Notify> notifiers;
  for (auto& w : workers_)
    notifiers.push_back([worker = w.get()](std::shared_ptr<const QueueEvents> events) {
      asio::post(worker->io(), [worker, events] { worker->on_events(*events); });
    });
  notifiers.push_back(events_->notifier());
  ingest_->set_retention_listener(events_->retention_listener());
  ingest_->start(std::move(notifiers));
  cluster_->start();
  prepare_bridge_sessions();
  events_->start(std::move(events_plan_));
  streams_->start(config_.streams);
  for (auto& w : workers_) w->start();
  for (auto& bridge : bridges_) bridge->start();

  for (auto& listener : listeners_) {
    auto ep = listener.acceptor->local_endpoint();
    log::info("listening: " + listener.config.protocol + " " + ep.address().to_string() + ":" +
              std::to_string(ep.port()) + (listener.config.websocket() ? listener.config.path : std::string()));
    accept_on(listener);
  }
  log::info(std::string("tidegate ready: data_dir ") + config_.data_dir + ", durability " +
            (config_.fsync ? "fsync" : "os") + ", " + std::to_string(workers_.size()) + " worker(s)" +
            (config_.password_file ? ", password file " + *config_.password_file : std::string()) +
            (config_.acl_file ? ", acl file " + *config_.acl_file : std::string()) + ", anonymous " +
            (!config_.allow_anonymous   ? "allowed from loopback only"
             : *config_.allow_anonymous ? "allowed from anywhere"
                                        : "refused"));

  if (admin_server_) {
    auto ep = admin_server_->endpoint();
    log::info(std::string("admin API: ") + (admin_server_->https() ? "https" : "http") + "://" + ep.address().to_string() + ":" + std::to_string(ep.port()) +
              (config_.admin.token_file ? " (bearer token required)" : " (no token)"));
    admin_server_->start();
  }
  sweep_timer_ = std::make_unique<asio::steady_timer>(main_io_);
  schedule_sweep();
  if (config_.sys_interval) {
    sys_topics_ = std::make_unique<SysTopics>(*context_, config_.sys_interval);
    sys_timer_ = std::make_unique<asio::steady_timer>(main_io_);
    sys_topics_->publish();  // the figures exist from the start
    schedule_sys();
  }
  main_io_.run();
  return 0;
}

void Broker::wait_for_signal(asio::signal_set& signals) {
  signals.async_wait([this, &signals](boost::system::error_code ec, int signal) {
    if (ec) return;
    if (signal == SIGHUP) {
      reload();
      wait_for_signal(signals);
      return;
    }
    log::info("signal " + std::to_string(signal) + ": draining");
    shut_down();
  });
}

void Broker::shut_down() {
  context_->shutting_down = true;
  for (auto& bridge : bridges_) bridge->stop();
  for (auto& listener : listeners_) {
    boost::system::error_code ignored;
    listener.acceptor->close(ignored);
  }
  sweep_timer_->cancel();
  if (sys_timer_) sys_timer_->cancel();
  if (admin_server_) admin_server_->stop();
  for (auto& w : workers_)
    asio::post(w->io(), [worker = w.get()] {
      for (auto& c : worker->connections()) c->shut_down_by_server();
    });
  // Bounded wait for every connection to say goodbye and save its session.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (metrics_.connections_open.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  for (auto& w : workers_) w->stop();
  for (auto& w : workers_) w->join();
  if (plugins_) plugins_->close_events();
  // Appends in flight finish (their publishers were answered or are gone)
  // before the last group commit.
  cluster_->stop();
  events_->stop();  // the rules' last offsets go to the ingest thread
  ingest_->stop();  // the last group commit: everything the sessions saved
  log::info("stopped");
}

}  // namespace tidegate
