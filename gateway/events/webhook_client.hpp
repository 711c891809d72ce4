#pragma once
// One HTTP/1.1 connection of a webhook (docs/events.md, "Webhooks"): POSTs
// one request at a time over the MQTT listeners' Transport (plain TCP, or TLS
// with the webhook's client context), keeping the connection alive between
// requests when the receiver allows it. Each request, its connect included,
// is bounded by the webhook's timeout_ms. Events thread only.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "gateway/events/cloud_event.hpp"
#include "gateway/events/rule_config.hpp"
#include "gateway/net/transport.hpp"

namespace tidegate::events {

struct WebhookResult {
  unsigned status = 0;   // 0: no answer (error says why)
  std::string error;
  std::optional<std::chrono::milliseconds> retry_after;  // from a 429 or 503's Retry-After
};

// "Retry-After: 120" or an HTTP date; nullopt when it is neither.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value, std::int64_t now_wall_ms);

class WebhookClient {
 public:
  WebhookClient(boost::asio::io_context& io, const WebhookConfig& config, std::shared_ptr<boost::asio::ssl::context> tls);
  ~WebhookClient();

  boost::asio::awaitable<WebhookResult> post(const HttpEvent& event);
  // No more requests: what is in progress (resolve, connect, write, read) is
  // cancelled and post() returns without sending anything further. The
  // transport object itself is dropped by post() or the destructor, never
  // under an operation that is still pending.
  void stop();
  bool stopped() const { return stopped_; }

 private:
  boost::asio::awaitable<std::string> connect();  // "" or why not
  // One exchange on the current connection; `answered` says whether any byte
  // of an answer came (a kept-alive connection the receiver had closed fails
  // before that).
  boost::asio::awaitable<WebhookResult> exchange(const std::string& wire, bool& answered);
  void drop_connection();  // only between operations
  void arm();
  void disarm();

  boost::asio::io_context& io_;
  const WebhookConfig config_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  // Shared with the deadline's handler, which may run after a request ended.
  struct Guarded {
    std::unique_ptr<Transport> transport;
    std::uint64_t generation = 0;
    bool expired = false;
    // While a connect is in progress (in the coroutine's frame), for the handler to cancel.
    boost::asio::ip::tcp::resolver* resolving = nullptr;
    boost::asio::ip::tcp::socket* connecting = nullptr;
  };
  std::shared_ptr<Guarded> guarded_ = std::make_shared<Guarded>();
  boost::asio::steady_timer deadline_;
  bool stopped_ = false;
};

}  // namespace tidegate::events
