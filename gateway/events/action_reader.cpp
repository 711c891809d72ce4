#include "gateway/events/action_reader.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>

#include "gateway/ops/log.hpp"

namespace tidegate::events {

namespace asio = boost::asio;

namespace {
constexpr std::size_t kPullBatch = 256;
constexpr auto kSaveInterval = std::chrono::milliseconds(100);
// While messages flow, a reader pulls at most once per kPullPause unless its
// last pull was full: one wake-up per ingest batch would cost more than the
// messages (a busy queue is announced thousands of times a second).
constexpr auto kPullPause = std::chrono::milliseconds(1);
}

ActionReader::ActionReader(asio::io_context& io, Ingest& ingest, const cache::QueueCache& cache, ReaderPlace place,
                           std::vector<Condition> where, std::shared_ptr<ActionCounters> counters)
    : io_(io),
      ingest_(ingest),
      cache_(cache),
      place_(std::move(place)),
      where_(std::move(where)),
      counters_(std::move(counters)),
      signal_(io),
      save_timer_(io),
      pause_(io) {
  read_position_ = place_.committed;
  saved_ = place_.stored ? place_.committed : UINT64_MAX;
  committed_ = place_.committed;
}

void ActionReader::start() {
  // A replay's, a new rule's or a restarted rule's starting point is written
  // at once, so a crash before anything is finished resumes there.
  if (!place_.stored) save_now();
  asio::co_spawn(io_, run(), [self = shared_from_this()](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log::error("rule reader '" + self->place_.reader_id + "' stopped after an internal error: " + ex.what());
    }
  });
}

void ActionReader::stop() {
  if (stopped_) return;  // a second stop must not write an older offset after a newer reader's
  stopped_ = true;
  if (sink_) sink_->stop();
  signal_.cancel();
  pause_.cancel();
  // The last offset goes to the ingest thread even while an earlier write is
  // under way: its inbox keeps the order, so this one lands last.
  save_timer_.cancel();
  saving_ = false;
  save_now();
}

void ActionReader::wake() { signal_.cancel(); }

void ActionReader::set_paused(bool paused) {
  paused_ = paused;
  wake();
}

void ActionReader::finished(std::uint64_t seq) {
  if (stopped_) return;
  auto it = std::lower_bound(outstanding_.begin(), outstanding_.end(), seq,
                             [](const Unfinished& u, std::uint64_t s) { return u.seq < s; });
  if (it == outstanding_.end() || it->seq != seq) return;
  it->done = true;
  advance();
  wake();
}

void ActionReader::removed_by_retention(const std::vector<std::uint64_t>& seqs) {
  std::uint64_t lost = 0, first = 0, last = 0;
  for (auto seq : seqs)
    if (seq > read_position_) {
      ++lost;
      first = first ? std::min(first, seq) : seq;
      last = std::max(last, seq);
    }
  if (!lost) return;
  count(counters_->lost_retention, lost);
  log::event(log::Level::warn, "rule_lost_retention", "retention removed messages before the rule read them",
             {{"reader", place_.reader_id},
              {"lost", static_cast<std::int64_t>(lost)},
              {"from_seq", static_cast<std::int64_t>(first)},
              {"to_seq", static_cast<std::int64_t>(last)}});
}

void ActionReader::advance() {
  while (!outstanding_.empty() && outstanding_.front().done) outstanding_.pop_front();
  committed_ = outstanding_.empty() ? read_position_ : outstanding_.front().seq - 1;
  unfinished_ = outstanding_.size();
  save();
}

void ActionReader::save() {
  if (save_scheduled_ || stopped_) return;
  const auto due = last_save_ + kSaveInterval;
  if (std::chrono::steady_clock::now() >= due) return save_now();
  save_scheduled_ = true;
  save_timer_.expires_at(due);
  save_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    self->save_scheduled_ = false;
    if (!ec && !self->stopped_) self->save_now();
  });
}

void ActionReader::save_now() {
  // One write in flight at a time: while it commits, later progress waits
  // and goes in the next one (the offset is rewritten, not appended).
  const auto position = committed_.load();
  if (saving_ || position == saved_) return;
  saving_ = true;
  last_save_ = std::chrono::steady_clock::now();
  Ingest::SessionProgress progress;
  progress.offsets.emplace_back(place_.queue, position);
  progress.counts_toward_backlog = false;
  ingest_.save_progress(place_.reader_id, std::move(progress),
                        [self = shared_from_this(), position](std::error_code ec) {
                          asio::post(self->io_, [self, position, ec] {
                            self->saving_ = false;
                            if (!ec) self->saved_ = position;  // on failure the next save tries again
                            if (!self->stopped_) self->save();
                          });
                        });
}

asio::awaitable<void> ActionReader::run() {
  auto self = shared_from_this();
  const auto wait = [this]() -> asio::awaitable<void> {
    signal_.expires_at(asio::steady_timer::time_point::max());
    co_await signal_.async_wait(asio::as_tuple(asio::use_awaitable));
  };
  while (!stopped_) {
    if (paused_ || outstanding_.size() >= sink_->window()) {
      co_await wait();
      continue;
    }
    std::uint64_t skipped = 0, gone_upto = 0;
    const std::size_t wanted = std::min(kPullBatch, sink_->window() - outstanding_.size());
    auto batch = cache_.pull(place_.queue, read_position_, wanted, &skipped, &gone_upto, &read_mark_, ingest_.visible_seq());
    if (skipped) {
      // QoS 0 messages live in memory only: evicted before this reader came to them.
      count(counters_->lost_retention, skipped);
      log::event(log::Level::warn, "rule_lost_qos0", "QoS 0 messages left the queue cache before the rule read them",
                 {{"reader", place_.reader_id}, {"lost", static_cast<std::int64_t>(skipped)}});
    }
    if (batch.empty()) {
      if (gone_upto > read_position_) {
        read_position_ = gone_upto;
        advance();
      }
      co_await wait();
      continue;
    }
    const bool full = batch.size() == wanted;  // there may be more waiting
    for (const auto& message : batch) {
      read_position_ = message->seq;
      if (message->origin_client_id == place_.origin) continue;  // its own output: never a loop
      MessageFacts facts(*message);
      if (!facts.matches(where_)) continue;
      count(counters_->matched);
      outstanding_.push_back({message->seq, false});
      sink_->take(message);
      if (stopped_) co_return;
    }
    advance();
    if (full) {
      // Let the sink's deliveries and other readers run between batches.
      co_await asio::post(io_, asio::use_awaitable);
    } else {
      pause_.expires_after(kPullPause);
      co_await pause_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }
}

}  // namespace tidegate::events
