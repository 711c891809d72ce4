#include "gateway/cluster/cluster_fetcher.hpp"

#include <algorithm>
#include <utility>

#include "gateway/ops/log.hpp"
#include "gateway/ops/metrics.hpp"

namespace tidegate {

namespace {
// A message read from the stream, on its way to this node's ingest thread
// (which gives it a local sequence): it keeps its stream sequence.
std::shared_ptr<store::Message> message_from_stream(store::Message&& message) {
  message.stream_seq = message.seq;
  return std::make_shared<store::Message>(std::move(message));
}
}  // namespace

ClusterFetcher::ClusterFetcher(std::string node, store::JetStreamClient& client, lookup::Lookup* lookup,
                               Ingest& ingest, SharedGroupConsumers& groups, MovedSessionRelays& relays,
                               NotifySender& notify, StreamPosition& position)
    : node_(std::move(node)),
      client_(client),
      lookup_(lookup),
      ingest_(ingest),
      groups_(groups),
      relays_(relays),
      notify_(notify),
      position_(position) {}

ClusterFetcher::~ClusterFetcher() {
  stop();
  join();
}

void ClusterFetcher::start() { thread_ = std::thread([this] { run(); }); }

void ClusterFetcher::stop() {
  {
    std::lock_guard guard(events_lock_);
    stopping_ = true;
  }
  events_ready_.notify_one();
  round_done_.notify_all();
}

void ClusterFetcher::join() {
  if (thread_.joinable()) thread_.join();
}

std::size_t ClusterFetcher::enqueue(std::vector<ClusterEvent> events, std::uint64_t catch_up_from) {
  std::size_t added = 0;
  {
    std::lock_guard guard(events_lock_);
    for (auto& e : events) {
      if (events_.size() >= kMaxFetchBacklog) {
        request_catch_up_locked(e.seq);  // read back from the stream once the backlog is gone
        continue;
      }
      events_.push_back(std::move(e));
      ++added;
    }
    if (catch_up_from) request_catch_up_locked(catch_up_from);
  }
  events_ready_.notify_one();
  return added;
}

void ClusterFetcher::reconnected() {
  log::info("cluster: reconnected to NATS; catching up from the stream");
  {
    std::lock_guard guard(events_lock_);
    // A little before the last sequence seen, taken before new events move it.
    const auto seen = position_.last();
    request_catch_up_locked(seen > kCatchUpMargin ? seen - kCatchUpMargin + 1 : 1);
  }
  events_ready_.notify_one();
}

void ClusterFetcher::request_catch_up(std::uint64_t from) {
  std::lock_guard guard(events_lock_);
  request_catch_up_locked(from);
}

bool ClusterFetcher::drain(std::chrono::milliseconds timeout) {
  std::unique_lock guard(events_lock_);
  // The round under way, and one more if events (or a catch-up) wait for it.
  const std::uint64_t target = rounds_started_ + (events_.empty() && !catch_up_from_ ? 0 : 1);
  return round_done_.wait_for(guard, timeout, [&] { return stopping_ || rounds_done_ >= target; });
}

void ClusterFetcher::filter_live(std::string_view filter, const std::string& name, bool live) {
  {
    std::lock_guard guard(interest_lock_);
    if (live)
      interest_.insert(filter, name);
    else
      interest_.erase(filter, name);
  }
  if (!lookup_) return;  // every notify is broadcast: nothing to settle
  if (!live) return lookup_->route_removed(name);
  // Before the SUBACK: a publisher that asks the lookup afterwards finds us,
  // if every member asks the owner that took it (state_visible() before).
  const bool visible = lookup_->state_visible();
  if (lookup_->route_added(name) && visible) return;
  settle_later(name);
}

bool ClusterFetcher::interested(const std::string& topic) const {
  std::lock_guard guard(interest_lock_);
  bool any = false;
  interest_.match(topic, [&](const std::string&) { any = true; });
  return any;
}

void ClusterFetcher::run() {
  std::deque<ClusterEvent> events;
  std::uint64_t catch_up_from = 0;
  std::chrono::steady_clock::time_point next_group_retry{};
  while (next_round(events, catch_up_from)) {
    // Blocking requests: once a second, however often the rounds run.
    if (auto now = std::chrono::steady_clock::now(); now >= next_group_retry) {
      groups_.retry();
      next_group_retry = now + std::chrono::seconds(1);
    }
    fetch_events(events);
    events.clear();
    if (catch_up_from) catch_up(catch_up_from);
    settle_routes();
    finish_round();
  }
}

bool ClusterFetcher::next_round(std::deque<ClusterEvent>& events, std::uint64_t& catch_up_from) {
  std::unique_lock guard(events_lock_);
  // Routes settling are checked often: their reads wait on the lookup.
  const auto wait = settling_.empty() ? std::chrono::milliseconds(1000) : kSettleCheckInterval;
  events_ready_.wait_for(guard, wait, [this] { return stopping_ || !events_.empty() || catch_up_from_; });
  if (stopping_) return false;
  events.swap(events_);
  catch_up_from = std::exchange(catch_up_from_, 0);
  ++rounds_started_;
  return true;
}

void ClusterFetcher::finish_round() {
  {
    std::lock_guard guard(events_lock_);
    rounds_done_ = rounds_started_;
  }
  round_done_.notify_all();
}

void ClusterFetcher::fetch_events(const std::deque<ClusterEvent>& events) {
  // The events this gateway needs, then their messages in one round trip
  // per chunk; what that misses is read one by one (with the leader's help).
  const auto wanted = wanted_sequences(events);
  Delivery out;
  std::uint64_t failed = 0;
  bool read = read_sequences(wanted, failed, [&](std::uint64_t seq, std::optional<store::StoredMessage>& stored) {
    if (!stored) {
      delivered_.erase(seq);
      Metrics::add(fetch_errors_);
      log::warn("cluster: message " + std::to_string(seq) + " could not be read: no longer in the stream");
      return;
    }
    Metrics::add(fetched_);
    add(out, *stored);
  });
  if (!read) fetch_later(wanted, failed);
  deliver(std::move(out));
}

std::vector<std::uint64_t> ClusterFetcher::wanted_sequences(const std::deque<ClusterEvent>& events) {
  std::vector<std::uint64_t> wanted;
  for (const auto& e : events) {
    if (!e.retain && !interested(e.topic)) {
      Metrics::add(skipped_);
      continue;
    }
    position_.note(e.seq);
    if (!remember_delivered(e.seq)) continue;  // a catch-up delivered it already
    wanted.push_back(e.seq);
  }
  return wanted;
}

void ClusterFetcher::fetch_later(const std::vector<std::uint64_t>& wanted, std::uint64_t failed) {
  // Unreachable for now (a failover): a catch-up reads the rest later,
  // from the oldest not read. read_sequences() stops at `failed`, in the
  // order of `wanted` (arrival, not sequence): that one and those after.
  std::uint64_t oldest = failed;
  for (auto it = std::find(wanted.begin(), wanted.end(), failed); it != wanted.end(); ++it) {
    delivered_.erase(*it);
    oldest = std::min(oldest, *it);
  }
  Metrics::add(fetch_errors_);
  log::warn("cluster: message " + std::to_string(failed) +
            " could not be read now; a catch-up reads it and the others not read, from " + std::to_string(oldest));
  request_catch_up(oldest);
}

void ClusterFetcher::catch_up(std::uint64_t from) {
  Metrics::add(catch_ups_);
  std::error_code ec;
  std::uint64_t last = client_.last_sequence(ec);
  if (ec) {
    log::warn("cluster: catch-up postponed, stream unreachable: " + ec.message());
    request_catch_up(from);  // the next round (at most a second away) tries again
    return;
  }
  // Older messages the stream's own limits removed are skipped in one step.
  const std::string everything = client_.options().subject_prefix + ".>";
  if (auto first = client_.read_next(everything, from, ec); !ec && first) from = std::max(from, first->message.seq);
  // At most kCatchUpMax messages a round, oldest first and pipelined; the
  // next round goes on from there (a long outage delays, it does not skip).
  // A replica that failed to answer above: the leader is asked per message.
  const std::uint64_t to = round_end(from, last);
  Delivery out;
  std::uint64_t failed = 0;
  bool read = read_range(from, to, out, failed, [this](std::uint64_t, const store::Message& m) {
    return m.retain || interested(m.topic);
  });
  if (!read) {
    log::warn("cluster: catch-up stopped at sequence " + std::to_string(failed) +
              ": the stream did not answer; it goes on from there in a second");
    request_catch_up(failed);
  } else if (to < last) {
    log::info("cluster: catch-up goes on from sequence " + std::to_string(to + 1) + " (" +
              std::to_string(last - to) + " more to read)");
    request_catch_up(to + 1);
  }
  Metrics::add(caught_up_, out.count);
  if (out.count) log::info("cluster: catch-up delivered " + std::to_string(out.count) + " missed message(s)");
  deliver(std::move(out));
}

bool ClusterFetcher::read_sequences(const std::vector<std::uint64_t>& seqs, std::uint64_t& failed, const ReadFn& fn) {
  for (std::size_t start = 0; start < seqs.size(); start += kFetchChunk) {
    std::size_t end = std::min(seqs.size(), start + kFetchChunk);
    std::vector<std::uint64_t> chunk(seqs.begin() + static_cast<std::ptrdiff_t>(start),
                                     seqs.begin() + static_cast<std::ptrdiff_t>(end));
    std::error_code many_ec;
    auto found = client_.read_many(chunk, many_ec);
    for (std::size_t i = 0; i < chunk.size(); ++i) {
      auto stored = std::move(found[i]);
      std::error_code ec;
      if (!stored) {
        stored = client_.read(chunk[i], ec);
        // One more try: a NATS server of the cluster may be failing over.
        if (ec) stored = client_.read(chunk[i], ec);
      }
      if (ec) {
        failed = chunk[i];
        return false;
      }
      fn(chunk[i], stored);
    }
  }
  return true;
}

bool ClusterFetcher::read_range(std::uint64_t from, std::uint64_t to, Delivery& out, std::uint64_t& failed,
                                const WantedFn& wanted) {
  std::vector<std::uint64_t> seqs;
  for (std::uint64_t seq = from; seq <= to; ++seq) seqs.push_back(seq);
  return read_sequences(seqs, failed, [&](std::uint64_t seq, std::optional<store::StoredMessage>& stored) {
    if (!stored) return;  // removed (retention) or never written (a failed append)
    position_.note(seq);
    if (stored->origin == node_) return;  // delivered here when it was appended
    if (!wanted(seq, stored->message) || !remember_delivered(seq)) return;
    add(out, *stored);
  });
}

void ClusterFetcher::add(Delivery& out, store::StoredMessage& stored) {
  // Sessions moved from here need what reaches this gateway late (cluster_relays.hpp).
  for (const auto& node : relays_.targets(stored.message.topic, stored.message.seq, stored.origin))
    out.relays[node].push_back({stored.message.seq, stored.message.retain, stored.message.topic});
  out.batch.push_back({message_from_stream(std::move(stored.message)), std::nullopt, {}, {}, true});
  ++out.count;
}

void ClusterFetcher::deliver(Delivery out) {
  ingest_.publish_local_batch(std::move(out.batch));
  for (auto& [node, events] : out.relays) notify_.relay(node, std::move(events));
}

bool ClusterFetcher::remember_delivered(std::uint64_t seq) {
  if (!delivered_.insert(seq).second) return false;
  delivered_order_.push_back(seq);
  if (delivered_order_.size() > kRecentDelivered) {
    delivered_.erase(delivered_order_.front());
    delivered_order_.pop_front();
  }
  return true;
}

void ClusterFetcher::fill(ClusterStats& s) const {
  auto load = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  s.fetched = load(fetched_);
  s.skipped = load(skipped_);
  s.fetch_errors = load(fetch_errors_);
  s.catch_ups = load(catch_ups_);
  s.caught_up = load(caught_up_);
  s.settle_reads = load(settle_reads_);
  s.settled = load(settled_);
  std::lock_guard guard(events_lock_);
  s.fetch_backlog = events_.size();
  s.settling = settling_.size();
}

}  // namespace tidegate
