#pragma once
// One bridge's link to its cloud broker (docs/bridge.md): keeps
// an MQTT client connection up, reconnecting with jittered exponential
// backoff. The connection itself is a BridgeConnection (the client role) attached to
// the bridge's persistent local session "$bridge/<name>", so what devices
// publish while the link is down waits in the store, and goes out in order,
// acknowledged one by one, once it is back (also after a restart).
//
// Threads: run on one worker; status() and stop() from any thread.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "gateway/bridge/bridge_config.hpp"
#include "gateway/bridge/bridge_status.hpp"
#include "gateway/broker_context.hpp"

namespace tidegate {

class BridgeConnection;
class Worker;


class BridgeLink : public std::enable_shared_from_this<BridgeLink> {
 public:
  BridgeLink(BrokerContext& broker, Worker& worker, BridgeConfig config,
             std::shared_ptr<boost::asio::ssl::context> tls);

  const BridgeConfig& config() const { return config_; }
  // Starts the connect loop on the worker.
  void start();
  // Any thread: no more reconnects, and the current connection (if any) is
  // closed with a normal DISCONNECT; its session is saved and parked.
  void stop();
  bool stopped() const { return stopped_; }
  // Any thread: run() has ended, its last connection closed (its session parked).
  bool finished() const { return finished_; }

  // Worker thread, from the link's connection.
  void on_connected();
  void on_closed(const std::string& reason);
  // The link closed because this gateway could not store what the remote
  // sent: the next successful CONNACK does not reset the backoff.
  void note_refusal() { refused_ = true; }
  void count_out(std::uint64_t n = 1) { messages_out_.fetch_add(n, std::memory_order_relaxed); }
  void count_in(std::uint64_t n = 1) { messages_in_.fetch_add(n, std::memory_order_relaxed); }

  // Any thread. `backlog` is left 0; the caller fills it from the store.
  BridgeStatus status() const;

 private:
  boost::asio::awaitable<void> run();
  std::chrono::milliseconds next_backoff();
  void record_failure(const std::string& reason);

  BrokerContext& broker_;
  Worker& worker_;
  const BridgeConfig config_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  boost::asio::steady_timer wait_;  // backoff, and the wait for the connection to end
  std::atomic<bool> stopped_{false};
  std::atomic<bool> finished_{false};
  // Worker thread:
  unsigned attempt_ = 0;
  bool refused_ = false;
  bool closed_ = true;                                   // the current connection has ended
  boost::asio::ip::tcp::socket* connecting_ = nullptr;  // while a TCP connect is in progress
  std::weak_ptr<BridgeConnection> connection_;              // the current one

  mutable std::mutex lock_;  // guards the fields below
  bool connected_ = false;
  std::int64_t since_ms_ = 0;
  std::string last_error_;     // since the link was last up; cleared when it comes up
  std::int64_t last_error_ms_ = 0;
  std::uint64_t connects_ = 0;
  std::uint64_t connect_failures_ = 0;
  std::atomic<std::uint64_t> messages_out_{0};
  std::atomic<std::uint64_t> messages_in_{0};
};

}  // namespace tidegate
