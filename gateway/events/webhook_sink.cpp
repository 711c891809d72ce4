#include "gateway/events/webhook_sink.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

#include "gateway/events/publish_and_wait.hpp"
#include "gateway/ops/log.hpp"

namespace tidegate::events {

namespace asio = boost::asio;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

namespace {
constexpr std::size_t kMaxBatchPayload = 4u << 20;
constexpr std::size_t kMaxHeaderValue = 8192;

// Binary mode puts attributes in headers: one longer than this (large user
// properties) cannot go that way, and never will: the event is dead-lettered.
std::string too_large_for_headers(const HttpEvent& request) {
  for (const auto& [name, value] : request.headers)
    if (value.size() > kMaxHeaderValue) return "the " + name + " header would be " + std::to_string(value.size()) + " bytes";
  if (request.content_type.size() > kMaxHeaderValue) return "the content type is too long for a header";
  return "";
}
}  // namespace

struct WebhookSink::State {
  asio::io_context& io;
  Ingest& ingest;
  const WebhookConfig config;
  std::shared_ptr<asio::ssl::context> tls;
  const EventSource source;
  const std::string origin;
  std::shared_ptr<ActionCounters> counters;
  Finished finished;
  std::deque<store::MessagePtr> waiting;  // taken, not yet in a request
  bool stopped = false;
  // Each slot's own timers (one timer shared by several waiters would have
  // each new wait cancel the others'): the wait for work, cancelled by take()
  // and stop(); the backoff and linger, cancelled by stop().
  std::vector<std::unique_ptr<asio::steady_timer>> wakes;
  std::vector<std::unique_ptr<asio::steady_timer>> pauses;
  std::vector<std::unique_ptr<WebhookClient>> clients;     // each slot's connection

  State(asio::io_context& io, Ingest& ingest, WebhookConfig config, std::shared_ptr<asio::ssl::context> tls,
        EventSource source, std::string origin, std::shared_ptr<ActionCounters> counters, Finished finished)
      : io(io), ingest(ingest), config(std::move(config)), tls(std::move(tls)), source(std::move(source)),
        origin(std::move(origin)), counters(std::move(counters)), finished(std::move(finished)) {}

  asio::awaitable<void> slot(std::size_t index, std::shared_ptr<State> self);
  asio::awaitable<void> pause(std::size_t index, std::chrono::milliseconds delay) {
    auto& timer = *pauses[index];
    timer.expires_after(delay);
    co_await timer.async_wait(use_nothrow);
  }
  std::chrono::milliseconds backoff(unsigned attempt) const;
  HttpEvent request_for(const std::vector<store::MessagePtr>& batch) const;
  asio::awaitable<void> give_up(const std::vector<store::MessagePtr>& batch, const std::string& reason, unsigned attempts);
};

WebhookSink::WebhookSink(asio::io_context& io, Ingest& ingest, WebhookConfig config,
                         std::shared_ptr<asio::ssl::context> tls, EventSource source, std::string origin,
                         std::shared_ptr<ActionCounters> counters, Finished finished)
    : state_(std::make_shared<State>(io, ingest, std::move(config), std::move(tls), std::move(source), std::move(origin),
                                     std::move(counters), std::move(finished))) {
  for (std::size_t i = 0; i < state_->config.max_in_flight; ++i) {
    state_->wakes.push_back(std::make_unique<asio::steady_timer>(io));
    state_->pauses.push_back(std::make_unique<asio::steady_timer>(io));
    state_->clients.push_back(std::make_unique<WebhookClient>(io, state_->config, state_->tls));
    asio::co_spawn(io, state_->slot(i, state_), [origin = state_->origin](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        log::error("webhook of " + origin + ": a delivery slot stopped after an internal error: " + ex.what());
      }
    });
  }
}

// The reader stopped the sink on the events thread before letting it go.
WebhookSink::~WebhookSink() = default;

void WebhookSink::take(store::MessagePtr message) {
  state_->waiting.push_back(std::move(message));
  for (auto& w : state_->wakes) w->cancel();
}

void WebhookSink::stop() {
  auto& s = *state_;
  if (s.stopped) return;
  s.stopped = true;
  for (auto& w : s.wakes) w->cancel();
  for (auto& t : s.pauses) t->cancel();
  for (auto& c : s.clients) c->stop();
}

std::size_t WebhookSink::window() const {
  const auto& c = state_->config;
  return std::max<std::size_t>(1024, c.max_in_flight * (c.mode == EventMode::batched ? c.batch_size : 1) * 2);
}

std::chrono::milliseconds WebhookSink::State::backoff(unsigned attempt) const {
  // Exponential from retry_min_ms, doubling up to retry_max_ms; drawn from the
  // upper half at random, so that webhooks cut off together do not all come back at once.
  static thread_local std::mt19937 rng{std::random_device{}()};
  std::uint64_t delay = config.retry_min_ms;
  for (unsigned i = 1; i < attempt && delay < config.retry_max_ms; ++i) delay *= 2;
  delay = std::min<std::uint64_t>(delay, config.retry_max_ms);
  std::uniform_int_distribution<std::uint64_t> pick(delay / 2, delay);
  return std::chrono::milliseconds(pick(rng));
}

HttpEvent WebhookSink::State::request_for(const std::vector<store::MessagePtr>& batch) const {
  switch (config.mode) {
    case EventMode::binary: return binary_event(source, *batch.front());
    case EventMode::structured: return structured_http_event(source, *batch.front());
    case EventMode::batched: return batched_http_event(source, batch);
  }
  return {};
}

asio::awaitable<void> WebhookSink::State::give_up(const std::vector<store::MessagePtr>& batch, const std::string& reason,
                                                  unsigned attempts) {
  if (!config.dead_letter_topic) {
    count(counters->dropped, batch.size());
    log::event(log::Level::error, "rule_dropped", "webhook gave up on events and has no dead_letter_topic",
               {{"reader", origin}, {"first_id", event_id(source, *batch.front())},
                {"events", static_cast<std::int64_t>(batch.size())}, {"reason", reason}});
    for (const auto& m : batch) finished(m->seq);
    co_return;
  }
  for (const auto& m : batch) {
    auto letter = std::make_shared<store::Message>();
    letter->topic = *config.dead_letter_topic;
    letter->payload = structured_http_event(source, *m).body;
    letter->qos = 1;
    letter->origin_client_id = origin;
    letter->created_ms = store::wall_clock_ms();
    letter->content_type = "application/cloudevents+json";
    letter->user_properties = {{"tidegate-error", reason}, {"tidegate-attempts", std::to_string(attempts)}};
    // The store must take it before the event counts as finished; while it
    // refuses (full), try again each second: nothing is given up silently.
    while (!stopped) {
      auto ec = co_await publish_and_wait(io, ingest, letter);
      if (!ec) break;
      log::error("webhook dead-letter topic " + *config.dead_letter_topic + ": cannot store event " +
                 event_id(source, *m) + ": " + ec.message() + "; trying again");
      auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::seconds(1));
      co_await timer->async_wait(use_nothrow);
    }
    if (stopped) co_return;
    count(counters->dead_lettered);
    finished(m->seq);
  }
}

asio::awaitable<void> WebhookSink::State::slot(std::size_t index, std::shared_ptr<State> self) {
  auto& client = *clients[index];
  while (!stopped) {
    if (waiting.empty()) {
      wakes[index]->expires_at(asio::steady_timer::time_point::max());
      co_await wakes[index]->async_wait(use_nothrow);
      continue;
    }
    const bool batched = config.mode == EventMode::batched;
    if (batched && waiting.size() < config.batch_size && config.batch_linger_ms) {
      co_await pause(index, std::chrono::milliseconds(config.batch_linger_ms));  // more may come
      if (stopped || waiting.empty()) continue;
    }
    // A batch ends at batch_size events or kMaxBatchPayload bytes of payload
    // (a request body stays within memory's reach); it has one event at least.
    std::vector<store::MessagePtr> batch;
    std::size_t payload_bytes = 0;
    const std::size_t n = batched ? std::min(config.batch_size, waiting.size()) : 1;
    for (std::size_t i = 0; i < n && (batch.empty() || payload_bytes + waiting.front()->payload.size() <= kMaxBatchPayload); ++i) {
      payload_bytes += waiting.front()->payload.size();
      batch.push_back(std::move(waiting.front()));
      waiting.pop_front();
    }
    HttpEvent request;
    std::string unsendable;
    try {
      request = request_for(batch);
      unsendable = too_large_for_headers(request);
    } catch (const std::exception& e) {  // e.g. a JSON value nlohmann cannot write
      unsendable = std::string("cannot make the event: ") + e.what();
    }
    if (!unsendable.empty()) {
      count(counters->failed);
      counters->note_error(unsendable, store::wall_clock_ms());
      co_await give_up(batch, unsendable, 0);
      continue;
    }
    for (unsigned attempt = 1; !stopped; ++attempt) {
      if (attempt > 1) count(counters->retries);
      auto result = co_await client.post(request);
      if (stopped) co_return;  // not finished: sent again after a restart
      if (result.status >= 200 && result.status < 300) {
        count(counters->delivered, batch.size());
        const auto now = store::wall_clock_ms();
        for (const auto& m : batch) {
          counters->latency.observe(std::chrono::milliseconds(std::max<std::int64_t>(0, now - m->created_ms)));
          finished(m->seq);
        }
        break;
      }
      count(counters->failed);
      std::string reason = result.status ? "HTTP " + std::to_string(result.status) : result.error;
      counters->note_error(reason, store::wall_clock_ms());
      const bool permanent = result.status >= 400 && result.status < 500 && result.status != 408 && result.status != 429;
      if (permanent || attempt >= config.max_attempts) {
        co_await give_up(batch, reason, attempt);
        break;
      }
      auto delay = backoff(attempt);
      if (result.retry_after)
        delay = std::min(*result.retry_after, std::chrono::milliseconds(config.retry_max_ms));
      if (attempt == 1)
        log::event(log::Level::warn, "webhook_retry", "webhook request failed; trying again",
                   {{"reader", origin}, {"url", config.url}, {"reason", reason},
                    {"first_id", event_id(source, *batch.front())}, {"delay_ms", static_cast<std::int64_t>(delay.count())}});
      co_await pause(index, delay);
    }
  }
}

}  // namespace tidegate::events
