#include "gateway/broker.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <thread>

#include "gateway/connection.hpp"
#include "gateway/inflight_record.hpp"
#include "gateway/log.hpp"
#include "gateway/message_builder.hpp"
#include "gateway/session_end.hpp"

namespace tidegate {

namespace asio = boost::asio;

Broker::Broker(Config config) : config_(std::move(config)) {
  access_ = std::make_unique<AccessControl>(config_);  // a bad file is refused before the store opens
  std::size_t initial_map = config_.store_map_size;
  if (config_.max_store_bytes) initial_map = std::min(initial_map, config_.max_store_bytes);
  store_ = std::make_unique<store::LmdbStore>(
      store::StoreOptions{config_.data_dir, config_.fsync ? store::Durability::fsync : store::Durability::os,
                          initial_map, config_.max_store_bytes});
  cache_ = std::make_unique<cache::QueueCache>(*store_, config_.queue_cache_entries);
  ingest_ = std::make_unique<Ingest>(
      *store_, *cache_,
      IngestLimits{config_.max_retained_messages, config_.max_retained_bytes, config_.retention_bytes,
                   static_cast<std::int64_t>(config_.retention_seconds) * 1000});
  registry_ = std::make_unique<SessionRegistry>(SessionRegistry::Hooks{
      [this](const std::string& client_id, mqtt::Will will) {
        ingest_->publish(message_from_will(will, client_id, store::wall_clock_ms()), std::nullopt, {});
      },
      [this](std::unique_ptr<Session> session) {
        log::info("session '" + session->client_id() + "' expired");
        end_session(*ingest_, *session);
      }});
  context_ = std::unique_ptr<BrokerContext>(new BrokerContext{config_, *access_, *ingest_, *cache_, *registry_, metrics_});

  unsigned n = config_.workers ? config_.workers : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(i));

  for (const auto& l : config_.listeners) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(l.bind, ec);
    if (ec) throw std::runtime_error("listeners: bad bind address '" + l.bind + "'");
    asio::ip::tcp::endpoint endpoint(address, l.port);
    auto acceptor = std::make_unique<asio::ip::tcp::acceptor>(main_io_);
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      throw std::runtime_error("cannot listen on " + l.bind + ":" + std::to_string(l.port) + ": " + ec.message());
    acceptors_.push_back(std::move(acceptor));
  }
  restore_sessions();
}

Broker::~Broker() = default;

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
    for (const auto& [filter, sub] : session->subscriptions) {
      auto& cursor = session->cursors[sub.queue];
      auto it = offsets.find(sub.queue);
      // The stored offset is the last sequence taken from the queue (what was
      // taken but not acknowledged is in the inflight table). None stored (a
      // crash between SUBACK and its first write): read the queue from its
      // start, at least once rather than not at all.
      cursor.position = cursor.saved = it != offsets.end() ? it->second : 0;
      ingest_->subscribe(client_id, filter, false, [](Ingest::SubscribeResult) {});
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
      if (inflight.message) session->inflight.push_back(std::move(inflight));
    }
    std::sort(session->inflight.begin(), session->inflight.end(),
              [](const auto& a, const auto& b) { return a.message->seq < b.message->seq; });
    registry_->park(std::move(session));
    ++restored;
  }
  if (restored) log::info("restored " + std::to_string(restored) + " persistent session(s)");
}

void Broker::accept_on(asio::ip::tcp::acceptor& acceptor) {
  auto& worker = *workers_[next_worker_++ % workers_.size()];
  acceptor.async_accept(worker.io(), [this, &acceptor, &worker](boost::system::error_code ec,
                                                                 asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted || context_->shutting_down) return;
    if (!ec) {
      Metrics::add(metrics_.connections_accepted);
      if (metrics_.connections_open.load() >= static_cast<std::int64_t>(config_.max_connections)) {
        // At the limit: refuse at once (counted) rather than queue unbounded.
        Metrics::add(metrics_.connections_refused_limit);
        boost::system::error_code ignored;
        socket.close(ignored);
      } else {
        asio::post(worker.io(), [this, &worker, s = std::make_shared<asio::ip::tcp::socket>(std::move(socket))] {
          std::make_shared<Connection>(*context_, worker, std::move(*s))->start();
        });
      }
    }
    accept_on(acceptor);
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
  std::vector<Ingest::Notify> notifiers;
  for (auto& w : workers_)
    notifiers.push_back([worker = w.get()](std::shared_ptr<const QueueEvents> events) {
      asio::post(worker->io(), [worker, events] { worker->on_events(*events); });
    });
  ingest_->start(std::move(notifiers));
  for (auto& w : workers_) w->start();

  for (std::size_t i = 0; i < acceptors_.size(); ++i) {
    auto ep = acceptors_[i]->local_endpoint();
    log::info("listening: " + config_.listeners[i].protocol + " " + ep.address().to_string() + ":" +
              std::to_string(ep.port()));
    accept_on(*acceptors_[i]);
  }
  log::info(std::string("tidegate ready: data_dir ") + config_.data_dir + ", durability " +
            (config_.fsync ? "fsync" : "os") + ", " + std::to_string(workers_.size()) + " worker(s)" +
            (config_.password_file ? ", password file " + *config_.password_file : std::string()) +
            (config_.acl_file ? ", acl file " + *config_.acl_file : std::string()) + ", anonymous " +
            (!config_.allow_anonymous   ? "allowed from loopback only"
             : *config_.allow_anonymous ? "allowed from anywhere"
                                        : "refused"));

  sweep_timer_ = std::make_unique<asio::steady_timer>(main_io_);
  schedule_sweep();
  asio::signal_set signals(main_io_, SIGTERM, SIGINT);
  signals.async_wait([this](boost::system::error_code ec, int signal) {
    if (ec) return;
    log::info("signal " + std::to_string(signal) + ": draining");
    shut_down();
  });
  main_io_.run();
  return 0;
}

void Broker::shut_down() {
  context_->shutting_down = true;
  for (auto& a : acceptors_) {
    boost::system::error_code ignored;
    a->close(ignored);
  }
  sweep_timer_->cancel();
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
  ingest_->stop();  // the last group commit: everything the sessions saved
  log::info("stopped");
}

}  // namespace tidegate
