#include "gateway/bridge/bridge_link.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

#include "gateway/bridge/bridge_connection.hpp"
#include "gateway/ops/log.hpp"
#include "gateway/pipeline/worker.hpp"

namespace tidegate {

namespace asio = boost::asio;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

BridgeLink::BridgeLink(BrokerContext& broker, Worker& worker, BridgeConfig config,
                       std::shared_ptr<asio::ssl::context> tls)
    : broker_(broker), worker_(worker), config_(std::move(config)), tls_(std::move(tls)), wait_(worker.io()) {
  since_ms_ = store::wall_clock_ms();
}

void BridgeLink::start() {
  asio::co_spawn(worker_.io(), run(), [self = shared_from_this()](std::exception_ptr e) {
    self->finished_ = true;
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log::error("bridge '" + self->config_.name + "': link stopped after internal error: " + ex.what());
    }
  });
}

void BridgeLink::stop() {
  stopped_ = true;
  asio::post(worker_.io(), [self = shared_from_this()] {
    self->wait_.cancel();
    if (auto connection = self->connection_.lock()) connection->shut_down_by_server();
    if (self->connecting_) {
      boost::system::error_code ignored;
      self->connecting_->close(ignored);
    }
  });
}

std::chrono::milliseconds BridgeLink::next_backoff() {
  // Exponential from reconnect_min_ms up to reconnect_max_ms; the delay drawn
  // at random from its upper half, so gateways cut off together do not all
  // come back in the same instant.
  static thread_local std::mt19937 rng{std::random_device{}()};
  std::uint64_t delay = config_.reconnect_min_ms;
  for (unsigned i = 0; i < attempt_ && delay < config_.reconnect_max_ms; ++i) delay *= 2;
  delay = std::min<std::uint64_t>(delay, config_.reconnect_max_ms);
  if (attempt_ < 32) ++attempt_;
  std::uniform_int_distribution<std::uint64_t> pick(delay / 2, delay);
  return std::chrono::milliseconds(pick(rng));
}

void BridgeLink::record_failure(const std::string& reason) {
  std::lock_guard guard(lock_);
  ++connect_failures_;
  last_error_ = reason;
  last_error_ms_ = store::wall_clock_ms();
  log::warn("bridge '" + config_.name + "': cannot connect to " + config_.host + ":" + std::to_string(config_.port) +
            ": " + reason);
}

asio::awaitable<void> BridgeLink::run() {
  auto self = shared_from_this();
  asio::ip::tcp::resolver resolver(worker_.io());
  const std::string port = std::to_string(config_.port);
  const std::string server_name = config_.tls && config_.tls->server_name ? *config_.tls->server_name : config_.host;
  while (!stopped_ && !broker_.shutting_down) {
    auto [resolve_error, endpoints] = co_await resolver.async_resolve(config_.host, port, use_nothrow);
    if (stopped_ || broker_.shutting_down) break;
    if (resolve_error) {
      record_failure("cannot resolve " + config_.host + ": " + resolve_error.message());
    } else {
      asio::ip::tcp::socket socket(worker_.io());
      connecting_ = &socket;
      // The connect (all addresses of the name) is bounded by connect_timeout.
      asio::steady_timer deadline(worker_.io());
      deadline.expires_after(std::chrono::seconds(broker_.config.connect_timeout));
      deadline.async_wait([this, self](boost::system::error_code ec) {
        if (ec || !connecting_) return;
        boost::system::error_code ignored;
        connecting_->close(ignored);
      });
      auto [connect_error, endpoint] = co_await asio::async_connect(socket, endpoints, use_nothrow);
      connecting_ = nullptr;
      deadline.cancel();
      std::unique_ptr<Transport> transport;
      if (connect_error) {
        record_failure(connect_error == asio::error::operation_aborted ? "connect timed out" : connect_error.message());
      } else if (!stopped_ && !broker_.shutting_down) {
        try {
          transport = tls_ ? make_tls_client_transport(std::move(socket), tls_, server_name)
                           : make_tcp_transport(std::move(socket));
        } catch (const std::exception& e) {  // e.g. SSL_new failing: this attempt fails, the link goes on
          record_failure(std::string("cannot set up the connection: ") + e.what());
        }
      }
      if (transport) {
        closed_ = false;
        auto connection = std::make_shared<BridgeConnection>(broker_, worker_, std::move(transport), self);
        connection_ = connection;
        connection->start();
        connection.reset();  // the worker holds it while it lives
        while (!closed_) {
          wait_.expires_at(asio::steady_timer::time_point::max());
          co_await wait_.async_wait(use_nothrow);  // on_closed() cancels it
        }
      }
    }
    if (stopped_ || broker_.shutting_down) break;
    wait_.expires_after(next_backoff());
    co_await wait_.async_wait(use_nothrow);
  }
}

void BridgeLink::on_connected() {
  if (!std::exchange(refused_, false)) attempt_ = 0;
  std::lock_guard guard(lock_);
  connected_ = true;
  since_ms_ = store::wall_clock_ms();
  // An error of a link that is up now is history (the log keeps it).
  last_error_.clear();
  last_error_ms_ = 0;
  ++connects_;
  log::info("bridge '" + config_.name + "': connected to " + config_.host + ":" + std::to_string(config_.port));
}

void BridgeLink::on_closed(const std::string& reason) {
  {
    std::lock_guard guard(lock_);
    if (connected_) {
      since_ms_ = store::wall_clock_ms();
      log::warn("bridge '" + config_.name + "': link down" + (reason.empty() ? std::string() : ": " + reason));
    } else {
      ++connect_failures_;
      log::warn("bridge '" + config_.name + "': connection to " + config_.host + ":" + std::to_string(config_.port) +
                " failed" + (reason.empty() ? std::string() : ": " + reason));
    }
    connected_ = false;
    if (!reason.empty()) {
      last_error_ = reason;
      last_error_ms_ = store::wall_clock_ms();
    }
  }
  closed_ = true;
  wait_.cancel();
}

BridgeStatus BridgeLink::status() const {
  BridgeStatus s;
  s.name = config_.name;
  s.address = config_.host + ":" + std::to_string(config_.port);
  s.messages_out = messages_out_.load(std::memory_order_relaxed);
  s.messages_in = messages_in_.load(std::memory_order_relaxed);
  std::lock_guard guard(lock_);
  s.connected = connected_;
  s.since_ms = since_ms_;
  s.last_error = last_error_;
  s.last_error_ms = last_error_ms_;
  s.connects = connects_;
  s.connect_failures = connect_failures_;
  return s;
}

}  // namespace tidegate
