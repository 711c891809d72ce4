#include "gateway/console/history_sampler.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gateway/admin/metrics_text.hpp"

namespace tidegate::console {

namespace asio = boost::asio;

HistorySampler::HistorySampler(asio::io_context& main_io, BrokerContext& broker, const store::LmdbStore& store,
                               std::size_t capacity)
    : io_(main_io), broker_(broker), store_(store), history_(capacity), tick_(main_io), sampled_(main_io) {
  sampled_.expires_at(asio::steady_timer::time_point::max());
}

void HistorySampler::start() {
  take_sample();  // the first one sets the counters the rates start from
  schedule();
}

void HistorySampler::stop() {
  stopped_ = true;
  tick_.cancel();
  sampled_.cancel();
}

void HistorySampler::schedule() {
  tick_.expires_after(std::chrono::seconds(1));
  tick_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    take_sample();
    schedule();
  });
}

asio::awaitable<bool> HistorySampler::next_sample() {
  if (stopped_) co_return false;
  co_await sampled_.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return !stopped_;
}

void HistorySampler::take_sample() {
  auto stats = admin::collect_stats(broker_, store_, {});
  const auto& m = broker_.metrics;
  Counters now{Metrics::read(m.publish_received), Metrics::read(m.publish_sent), Metrics::read(m.bytes_received),
               Metrics::read(m.bytes_sent), 0, std::chrono::steady_clock::now()};
  for (const auto& [reason, count] : admin::drop_counts(m, stats)) now.drops += count;

  HistorySample s;
  s.t_ms = store::wall_clock_ms();
  double seconds = std::chrono::duration<double>(now.at - previous_.at).count();
  // Counters only grow; the first sample has no interval and shows no rate.
  auto rate = [&](std::uint64_t current, std::uint64_t before) {
    return previous_.at == std::chrono::steady_clock::time_point{} || seconds <= 0 || current < before
               ? 0.0f
               : static_cast<float>((current - before) / seconds);
  };
  s.values = {static_cast<float>(Metrics::read(m.connections_open)),
              static_cast<float>(stats.online),
              static_cast<float>(stats.parked),
              static_cast<float>(stats.ingest.subscriptions),
              rate(now.messages_in, previous_.messages_in),
              rate(now.messages_out, previous_.messages_out),
              rate(now.bytes_in, previous_.bytes_in),
              rate(now.bytes_out, previous_.bytes_out),
              rate(now.drops, previous_.drops),
              static_cast<float>(stats.usage.message_bytes),
              static_cast<float>(stats.ingest.retained),
              static_cast<float>(stats.ingest.session_backlog_total)};
  previous_ = now;
  history_.push(s);
  sampled_.cancel();  // wake the live feeds
}

}  // namespace tidegate::console
