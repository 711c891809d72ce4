#pragma once
// A rule's webhook action (docs/events.md, "Webhooks"): the matched messages
// go out as CloudEvents over max_in_flight keep-alive connections, one
// request per event (binary, structured) or per batch (batched). A failed
// request is tried again after an exponential backoff with jitter, or after
// the receiver's Retry-After; after max_attempts, or at once for a 4xx other
// than 408 and 429, its events go to the dead-letter topic. Events thread only.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <memory>
#include <vector>

#include "gateway/events/action_counters.hpp"
#include "gateway/events/action_sink.hpp"
#include "gateway/events/cloud_event.hpp"
#include "gateway/events/rule_config.hpp"
#include "gateway/events/webhook_client.hpp"
#include "gateway/pipeline/ingest.hpp"

namespace tidegate::events {

class WebhookSink final : public ActionSink {
 public:
  WebhookSink(boost::asio::io_context& io, Ingest& ingest, WebhookConfig config,
              std::shared_ptr<boost::asio::ssl::context> tls, EventSource source, std::string origin,
              std::shared_ptr<ActionCounters> counters, Finished finished);
  ~WebhookSink() override;

  void take(store::MessagePtr message) override;
  void stop() override;
  std::size_t window() const override;

 private:
  struct State;  // shared with the slots' coroutines, which may outlive the sink by a step
  std::shared_ptr<State> state_;
};

}  // namespace tidegate::events
