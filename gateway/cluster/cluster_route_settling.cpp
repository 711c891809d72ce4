// ClusterFetcher, route settling (docs/cluster.md, the "Routes settling"
// item of "The lookup"): a filter that went live here while another
// gateway's lookup may still answer without it has its messages read from
// the stream once the lookup shows this gateway's state to every member, and
// every kSettleReadInterval until then (cluster_fetcher.hpp).
//
// Threads: settle_later() on the ingest thread (from filter_live()), the rest
// on the fetch thread; the routes waiting are under events_lock_.
#include <algorithm>
#include <utility>

#include "gateway/cluster/cluster_fetcher.hpp"
#include "gateway/ops/log.hpp"
#include "gateway/ops/metrics.hpp"

namespace tidegate {

void ClusterFetcher::settle_later(const std::string& name) {
  // A publisher may ask a lookup without us for a while after the SUBACK:
  // settle_routes() reads what comes after the stream's last sequence now
  // (what came before was published during the SUBSCRIBE).
  // A blocking request on this (the ingest) thread, skipped for a second
  // after one failed: while the stream does not answer, nobody's publish is
  // acknowledged, and the route is anchored by its first read instead (0).
  std::uint64_t from = 0;
  const auto now = std::chrono::steady_clock::now();
  if (client_.connected() && now >= anchor_retry_after_) {
    std::error_code ec;
    std::uint64_t last = client_.last_sequence(ec);
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

void ClusterFetcher::settle_routes() {
  if (!lookup_) return;
  // Read once the lookup shows this gateway's state to every member (a
  // publisher that asks from now on finds us), and every
  // kSettleReadInterval meanwhile so that a lookup slow to settle delays
  // these messages but does not hold them back for good.
  const bool visible = lookup_->state_visible();
  const auto now = std::chrono::steady_clock::now();
  auto due = due_routes(visible, now);
  if (due.empty()) return;
  Metrics::add(settle_reads_);
  // The last sequence now, after the lookup showed us: whatever a publisher
  // sent elsewhere by mistake was stored before it.
  std::error_code ec;
  std::uint64_t last = client_.last_sequence(ec);
  if (!ec)
    for (auto& e : due)
      if (!e.from) e.from = last + 1;  // anchored now: the stream did not answer when it went live
  std::uint64_t from = last + 1;
  for (const auto& s : due) from = std::min(from, s.from);
  // At most kCatchUpMax messages a round; the next round goes on from there.
  const std::uint64_t to = round_end(from, last);
  Delivery out;
  std::uint64_t failed = 0;
  const bool read = !ec && read_range(from, to, out, failed, settling_match(due));
  Metrics::add(settled_, out.count);
  if (out.count)
    log::info("cluster: " + std::to_string(out.count) +
              " message(s) read from the stream for filters the lookup did not show yet");
  deliver(std::move(out));
  // Still settling, not read, or more to read: again, from where this read stopped.
  const std::uint64_t next = ec ? 0 : read ? to + 1 : failed;
  const bool more = !ec && read && to < last;
  if (ec) log::warn("cluster: settling read postponed, stream unreachable: " + ec.message());
  requeue_routes(std::move(due), visible && read && !more, next, more, now);
}

std::vector<ClusterFetcher::Settling> ClusterFetcher::due_routes(bool visible,
                                                                 std::chrono::steady_clock::time_point now) {
  // All of them in one read whenever one is due: they share the stream's window.
  std::vector<Settling> due;
  std::lock_guard guard(events_lock_);
  const bool any_due = visible || std::any_of(settling_.begin(), settling_.end(),
                                              [&](const Settling& e) { return now >= e.next_read; });
  if (any_due) due.swap(settling_);
  return due;
}

ClusterFetcher::WantedFn ClusterFetcher::settling_match(const std::vector<Settling>& due) {
  auto filters = std::make_shared<SubscriptionTrie<std::size_t>>();  // -> index in `due`
  std::uint64_t any_from = 0;  // the entry for every live filter (at the bound), if any
  for (std::size_t i = 0; i < due.size(); ++i)
    if (due[i].filter.empty())
      any_from = due[i].from;
    else
      filters->insert(due[i].filter, i);
  // A message is for the routes settling when it came after the `from` of
  // one whose filter matches its topic.
  return [this, &due, filters, any_from](std::uint64_t seq, const store::Message& m) {
    bool ours = any_from && any_from <= seq && interested(m.topic);
    filters->match(m.topic, [&](std::size_t i) { ours = ours || due[i].from <= seq; });
    return ours;
  };
}

void ClusterFetcher::requeue_routes(std::vector<Settling> due, bool done, std::uint64_t next, bool more,
                                    std::chrono::steady_clock::time_point now) {
  if (done) return;  // read up to the last sequence with the lookup showing us
  std::lock_guard guard(events_lock_);
  for (auto& s : due) {
    if (next) s.from = std::max(s.from, next);
    s.next_read = more ? now : now + kSettleReadInterval;
    settling_.push_back(std::move(s));
  }
}

}  // namespace tidegate
