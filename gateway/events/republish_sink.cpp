#include "gateway/events/republish_sink.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "gateway/codec/utf8.hpp"
#include "gateway/events/publish_and_wait.hpp"
#include "gateway/ops/log.hpp"
#include "gateway/pipeline/ingest_error.hpp"

namespace tidegate::events {

namespace asio = boost::asio;

struct RepublishSink::State {
  asio::io_context& io;
  Ingest& ingest;
  const RepublishConfig config;
  const std::string origin;
  std::shared_ptr<ActionCounters> counters;
  Finished finished;
  std::deque<store::MessagePtr> waiting;
  bool stopped = false;
  asio::steady_timer work;  // take() and stop() cancel it

  State(asio::io_context& io, Ingest& ingest, RepublishConfig config, std::string origin,
        std::shared_ptr<ActionCounters> counters, Finished finished)
      : io(io), ingest(ingest), config(std::move(config)), origin(std::move(origin)), counters(std::move(counters)),
        finished(std::move(finished)), work(io) {}

  asio::awaitable<void> run(std::shared_ptr<State> self);
};

RepublishSink::RepublishSink(asio::io_context& io, Ingest& ingest, RepublishConfig config, std::string origin,
                             std::shared_ptr<ActionCounters> counters, Finished finished)
    : state_(std::make_shared<State>(io, ingest, std::move(config), std::move(origin), std::move(counters),
                                     std::move(finished))) {
  asio::co_spawn(io, state_->run(state_), asio::detached);
}

// The reader stopped the sink on the events thread before letting it go.
RepublishSink::~RepublishSink() = default;

void RepublishSink::take(store::MessagePtr message) {
  state_->waiting.push_back(std::move(message));
  state_->work.cancel();
}

void RepublishSink::stop() {
  state_->stopped = true;
  state_->work.cancel();
}

asio::awaitable<void> RepublishSink::State::run(std::shared_ptr<State> self) {
  while (!stopped) {
    if (waiting.empty()) {
      work.expires_at(asio::steady_timer::time_point::max());
      co_await work.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    auto source = std::move(waiting.front());
    waiting.pop_front();
    auto out = std::make_shared<store::Message>();
    out->topic = config.topic.fill(*source);
    out->payload = config.payload ? config.payload->fill(*source) : source->payload;
    out->qos = config.qos;
    out->retain = config.retain;
    out->origin_client_id = origin;
    out->created_ms = store::wall_clock_ms();
    out->content_type = source->content_type;
    out->user_properties = source->user_properties;
    if (!mqtt::valid_topic_name(out->topic) || out->topic.starts_with("$")) {
      // Empty, too long, or a wildcard or '$' that came from the message: nothing to publish.
      count(counters->failed);
      count(counters->dropped);
      counters->note_error("the topic template made '" + out->topic + "', not a topic name", store::wall_clock_ms());
      log::event(log::Level::warn, "rule_dropped", "republish: the topic template made no valid topic",
                 {{"reader", origin}, {"topic", out->topic}, {"seq", static_cast<std::int64_t>(source->seq)}});
      finished(source->seq);
      continue;
    }
    for (unsigned attempt = 1; !stopped; ++attempt) {
      auto ec = co_await publish_and_wait(io, ingest, out);
      if (!ec) {
        count(counters->delivered);
        counters->latency.observe(std::chrono::milliseconds(std::max<std::int64_t>(0, store::wall_clock_ms() - source->created_ms)));
        finished(source->seq);
        break;
      }
      count(counters->failed);
      if (attempt > 1) count(counters->retries);
      counters->note_error("cannot store: " + ec.message(), store::wall_clock_ms());
      if (ec == IngestError::quota_exceeded) {
        // A bound of the gateway (retained quota, a session's full backlog)
        // that waiting would not lift while this rule holds everything behind it.
        count(counters->dropped);
        log::event(log::Level::warn, "rule_dropped", "republish refused by a quota of the gateway",
                   {{"reader", origin}, {"topic", out->topic}, {"seq", static_cast<std::int64_t>(source->seq)}});
        finished(source->seq);
        break;
      }
      // The store refused it (full): tried again each second, never skipped.
      work.expires_after(std::chrono::seconds(1));
      co_await work.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }
}

}  // namespace tidegate::events
