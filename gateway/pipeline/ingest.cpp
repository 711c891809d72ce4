#include "gateway/pipeline/ingest.hpp"

#include <algorithm>

#include "gateway/ops/log.hpp"

namespace tidegate {

Ingest::Ingest(store::LmdbStore& store, cache::QueueCache& cache, IngestLimits limits)
    : store_(store), cache_(cache), limits_(limits) {}

namespace {
std::error_code quota_exceeded() { return IngestError::quota_exceeded; }
}  // namespace

Ingest::~Ingest() { stop(); }

std::string Ingest::member_queue(std::string_view filter, std::string_view client_id) {
  std::string q(filter);
  q.push_back('\0');
  q.append(client_id);
  return q;
}

void Ingest::start(std::vector<Notify> workers) {
  workers_ = std::move(workers);
  last_seq_ = store_.max_sequence();
  visible_seq_ = last_seq_;
  for (auto& m : store_.load_retained()) {
    retained_tally_.add(*m, +1);
    retained_[m->topic] = m;
  }
  cache_.set_retention_floor(store_.retention_floor());
  thread_ = std::thread([this] { run(); });
}

void Ingest::stop() {
  {
    std::lock_guard guard(inbox_lock_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  inbox_ready_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Ingest::post(std::function<void()> command) {
  {
    std::lock_guard guard(inbox_lock_);
    inbox_.push_back(std::move(command));
  }
  inbox_ready_.notify_one();
}

void Ingest::run() {
  std::vector<std::function<void()>> commands;
  for (;;) {
    {
      std::unique_lock guard(inbox_lock_);
      // Wakes at least once a second so retention also runs on an idle gateway.
      inbox_ready_.wait_for(guard, std::chrono::seconds(1),
                            [this] { return !applying_ && (!inbox_.empty() || stopping_); });
      if (applying_) continue;  // a worker is applying (publish_now); it wakes us when done
      if (inbox_.empty() && stopping_) return;
      commands.swap(inbox_);
      applying_ = true;
    }
    for (auto& command : commands) command();
    commands.clear();

    std::error_code ec;
    if (!batch_.empty()) {
      auto started = std::chrono::steady_clock::now();
      ec = store_.commit(batch_);
      commit_latency_.observe(std::chrono::steady_clock::now() - started);
      std::lock_guard guard(stats_lock_);
      ++stats_.commits;
      if (ec) ++stats_.commit_errors;
      // A failed commit makes the store "refusing" (GET /healthz) until
      // messages are stored again, or no commit failed for a while: a small
      // commit (an offset, a session) may fit on a disk that is still full,
      // and on one that is, the $SYS updates keep failing.
      if (ec) stats_.store_refused_at = std::chrono::steady_clock::now();
      else if (!batch_.appends.empty()) stats_.store_refused_at = {};
    }
    // Before any completion runs: a publisher that has its PUBACK sees its publish counted.
    fold_batch_stats();
    // Only what is committed becomes visible to readers; after a failed
    // commit, QoS 0 messages still do (they were never the store's to keep,
    // though a stream asked for them; its copy is what the failure costs).
    std::shared_ptr<QueueEvents> events;
    if (ec)
      for (auto& [queue, messages] : cache_appends_)
        std::erase_if(messages, [](const store::MessagePtr& m) { return m->qos > 0; });
    events = make_visible();
    // Callers see a full store as IngestError::store_full, never the store's own code.
    const auto reported = ingest_error_of_commit(ec);
    for (auto& done : completions_) done(reported);
    announce(events);
    enforce_retention();
    {
      std::lock_guard guard(stats_lock_);
      stats_.live_queues = queues_.size();
      stats_.retained_bytes = retained_tally_.bytes;
      stats_.retained = retained_tally_.count;
    }
    batch_ = {};
    completions_.clear();
    cache_appends_.clear();
    std::lock_guard guard(inbox_lock_);
    applying_ = false;
  }
}

void Ingest::fold_batch_stats() {
  std::lock_guard guard(stats_lock_);
  stats_.published += batch_stats_.published;
  stats_.persisted += batch_stats_.persisted;
  stats_.no_subscribers += batch_stats_.no_subscribers;
  batch_stats_ = {};
}

std::shared_ptr<QueueEvents> Ingest::make_visible() {
  // One cache append per queue per batch; the queue's event is its newest entry.
  std::shared_ptr<QueueEvents> events;
  if (!cache_appends_.empty()) {
    events = std::make_shared<QueueEvents>();
    events->reserve(cache_appends_.size());
  }
  for (auto& [queue, messages] : cache_appends_) {
    if (messages.empty()) continue;
    cache_.append(queue, messages);
    events->push_back({queue, messages.back()->seq});
  }
  visible_seq_.store(last_seq_, std::memory_order_release);
  return events;
}

void Ingest::announce(const std::shared_ptr<QueueEvents>& events) {
  if (!events || events->empty()) return;
  for (const auto& e : *events)
    if (auto it = queues_.find(e.queue); it != queues_.end()) it->second.last_seq = e.last_seq;
  for (auto& notify : workers_) notify(events);
}

void Ingest::add_queue_ref(const std::string& queue, const std::string& trie_filter) {
  auto [it, created] = queues_.try_emplace(queue);
  ++it->second.refs;
  if (!created) return;
  it->second.filter = trie_filter;
  // Entries stored before a restart (a persistent session's queue) count; a
  // queue that is new has none (its index was dropped with its last reader,
  // maybe in the batch not yet committed).
  bool dropping = std::find(batch_.dropped_queues.begin(), batch_.dropped_queues.end(), queue) !=
                  batch_.dropped_queues.end();
  it->second.last_seq = dropping ? 0 : store_.last_in_queue(queue);
  if (!trie_filter.empty()) add_live_filter(trie_filter, queue);
  cache_.create_queue(queue, last_seq_);
}

void Ingest::add_live_filter(std::string_view filter, const std::string& name) {
  live_filters_.insert(filter, name);
  if (replicator_) replicator_->filter_live(filter, name, true);
}

void Ingest::remove_live_filter(std::string_view filter, const std::string& name) {
  live_filters_.erase(filter, name);
  if (replicator_) replicator_->filter_live(filter, name, false);
}

void Ingest::release_queue_ref(const std::string& queue) {
  auto it = queues_.find(queue);
  if (it == queues_.end() || --it->second.refs > 0) return;
  if (!it->second.filter.empty()) remove_live_filter(it->second.filter, queue);
  queues_.erase(it);
  cache_.drop_queue(queue);
  batch_.dropped_queues.push_back(queue);
}

const Ingest::Group::Member* Ingest::pick_member(Group& group, std::string_view topic, std::string_view except) {
  const std::size_t n = group.members.size();
  // Round robin over online members; all offline: the next member keeps it
  // for its return. Only members that may read the topic, in both passes.
  for (bool online : {true, false})
    for (std::size_t i = 0; i < n; ++i) {
      auto& m = group.members[(group.next + i) % n];
      if (m.online != online || m.client_id == except || !m.reads(topic)) continue;
      group.next = (group.next + i + 1) % n;
      return &m;
    }
  return nullptr;
}

void Ingest::index_into_groups(const std::string& group_queue, const std::string& topic,
                               std::vector<const std::string*>& queues) {
  auto it = groups_.find(group_queue);
  if (it == groups_.end() || it->second.members.empty()) return;
  if (const auto* member = pick_member(it->second, topic)) {
    member_names_.push_back(member_queue(group_queue, member->client_id));
    queues.push_back(&member_names_.back());
  } else {
    std::lock_guard guard(stats_lock_);  // no member may read it: counted, never silently gone
    ++stats_.dropped_acl;
  }
}

void Ingest::publish(std::shared_ptr<store::Message> message,
                     std::optional<std::pair<std::string, std::string>> session_update, PublishDone done) {
  if (replicator_) {
    std::vector<PublishRequest> one;
    one.push_back({std::move(message), std::move(session_update), std::move(done), {}, false});
    return replicator_->replicate(std::move(one));
  }
  post([this, request = PublishRequest{std::move(message), std::move(session_update), std::move(done), {}, false}]() mutable {
    apply_publish(request);
  });
}

namespace {

// The replicator completes each request on its own (maybe on other threads):
// the batch's completion runs when the last of them has.
void spread_batch_done(std::vector<Ingest::PublishRequest>& requests, Ingest::BatchDone done) {
  struct Pending {
    std::vector<Ingest::PublishOutcome> outcomes;
    std::atomic<std::size_t> left;
    Ingest::BatchDone done;
  };
  auto pending = std::make_shared<Pending>();
  pending->outcomes.resize(requests.size());
  pending->left.store(requests.size());
  pending->done = std::move(done);
  for (std::size_t i = 0; i < requests.size(); ++i) {
    requests[i].done = [pending, i, own = std::move(requests[i].done)](std::error_code ec, std::uint64_t seq,
                                                                      std::size_t queues) {
      if (own) own(ec, seq, queues);
      pending->outcomes[i] = {ec, queues};
      if (pending->left.fetch_sub(1, std::memory_order_acq_rel) == 1) pending->done(std::move(pending->outcomes));
    };
  }
}

}  // namespace

void Ingest::publish_batch(std::vector<PublishRequest> requests, BatchDone done) {
  if (requests.empty()) return;
  if (replicator_) {
    if (done) spread_batch_done(requests, std::move(done));
    return replicator_->replicate(std::move(requests));
  }
  publish_local_batch(std::move(requests), std::move(done));
}

void Ingest::publish_local_batch(std::vector<PublishRequest> requests, BatchDone done) {
  if (requests.empty()) return;
  post([this, requests = std::move(requests), done = std::move(done)]() mutable {
    if (!done) {
      for (auto& request : requests) apply_publish(request);
      return;
    }
    std::vector<PublishOutcome> outcomes;
    outcomes.reserve(requests.size());
    for (auto& request : requests) outcomes.push_back(apply_publish(request));
    // One completion for the batch; refusals keep their own error.
    completions_.push_back([done = std::move(done), outcomes = std::move(outcomes)](std::error_code ec) mutable {
      for (auto& outcome : outcomes)
        if (!outcome.ec) outcome.ec = ec;
      done(std::move(outcomes));
    });
  });
}

Ingest::PublishOutcome Ingest::apply_publish(PublishRequest& request) {
  auto& message = request.message;
  auto& done = request.done;
  const bool group_delivery = !request.shared_group.empty();
  auto admission = admit_retained(request);
  if (admission == RetainedAdmission::refused) {
    // Refused whole, never delivered without being retained as asked.
    if (done) completions_.push_back([done](std::error_code) { done(quota_exceeded(), 0, 0); });
    return {quota_exceeded(), 0};
  }
  const auto& queues = match_queues(request);
  if (!request.from_cluster && !session_backlogs_allow(*message, queues)) {
    // Refused whole: acknowledged to nobody, so lost to nobody.
    if (done) completions_.push_back([done](std::error_code) { done(quota_exceeded(), 0, 0); });
    return {quota_exceeded(), 0};
  }
  message->seq = ++last_seq_;
  store::MessagePtr m = message;
  if (m->qos > 0 && limits_.max_session_backlog)
    for (const auto* q : queues)
      if (auto it = queues_.find(*q); it != queues_.end() && !it->second.reader_positions.empty())
        it->second.backlog.push_back(m->seq);
  if (admission == RetainedAdmission::keep) keep_retained(m);
  stage_publish(m, queues, request.session_update);
  // Folded into stats_ once per batch (run()), not locked per message.
  // A group's copy was counted when it was published; the gateway's own $SYS
  // updates (clients may not publish there) are not the clients' traffic.
  if (!group_delivery && !m->topic.starts_with("$SYS/")) {
    ++batch_stats_.published;
    if (m->qos > 0 && !queues.empty()) ++batch_stats_.persisted;
    if (queues.empty()) ++batch_stats_.no_subscribers;
  }
  if (done)
    completions_.push_back(
        [done = std::move(done), seq = m->seq, n = queues.size()](std::error_code ec) { done(ec, seq, n); });
  return {{}, queues.size()};
}

Ingest::RetainedAdmission Ingest::admit_retained(const PublishRequest& request) {
  const auto& message = *request.message;
  if (!message.retain || !request.shared_group.empty()) return RetainedAdmission::not_retained;
  if (retained_quota_allows(message)) return RetainedAdmission::keep;
  std::lock_guard guard(stats_lock_);
  ++stats_.refused_retained_quota;
  // From another gateway: it was acknowledged there, so it is delivered, just not retained here.
  return request.from_cluster ? RetainedAdmission::not_retained : RetainedAdmission::refused;
}

const std::vector<const std::string*>& Ingest::match_queues(const PublishRequest& request) {
  // The queue names by pointer (into the trie, or member_names_ for a shared
  // group's member): no string copy per message unless it is stored.
  const bool group_delivery = !request.shared_group.empty();
  const auto& topic = request.message->topic;
  auto& queues = matched_queues_;
  queues.clear();
  member_names_.clear();
  live_filters_.match(topic, [&](const std::string& queue) {
    bool group = !groups_.empty() && groups_.count(queue);
    if (group_delivery) {
      if (group && queue == request.shared_group) index_into_groups(queue, topic, queues);
    } else if (group) {
      // In a cluster, the group's consumer picks the gateway (and this
      // request comes back with shared_group set if it picks this one).
      if (!replicator_) index_into_groups(queue, topic, queues);
    } else {
      queues.push_back(&queue);
    }
  });
  return queues;
}

void Ingest::keep_retained(const store::MessagePtr& m) {
  auto old = retained_.find(m->topic);
  if (old != retained_.end()) {
    retained_tally_.add(*old->second, -1);
    retained_.erase(old);
  }
  if (m->payload.empty()) {  // an empty retained payload clears the topic
    batch_.retained.emplace_back(m->topic, nullptr);
    return;
  }
  retained_tally_.add(*m, +1);
  retained_[m->topic] = m;
  batch_.retained.emplace_back(m->topic, m);
}

void Ingest::stage_publish(const store::MessagePtr& m, const std::vector<const std::string*>& queues,
                           std::optional<std::pair<std::string, std::string>>& session_update) {
  // QoS 0 lives in the cache alone (nothing can need it after a restart),
  // but for a stream's queue, which keeps everything it captured.
  if (!queues.empty() && (m->qos > 0 || !durable_queues_.empty())) {
    std::vector<std::string> names;
    names.reserve(queues.size());
    for (const auto* q : queues)
      if (m->qos > 0 || durable_queues_.count(*q)) names.push_back(*q);
    if (!names.empty()) batch_.appends.push_back({m, std::move(names)});
  }
  if (session_update) batch_.sessions.emplace_back(session_update->first, std::move(session_update->second));
  for (const auto* q : queues) {
    if (auto it = queues_.find(*q); it != queues_.end()) ++it->second.messages;
    append_to_cache(*q, m);
  }
}

void Ingest::append_to_cache(const std::string& queue, const store::MessagePtr& message) {
  // find() first: the queue is usually there from an earlier message of the
  // batch, and then no key string is built.
  auto it = cache_appends_.find(queue);
  if (it == cache_appends_.end()) it = cache_appends_.try_emplace(queue).first;
  it->second.push_back(message);
}

void Ingest::subscribe(const std::string& client_id, const std::string& filter, bool want_retained,
                       SubscribeDone done, ReadCheck may_read) {
  post([this, client_id, filter, want_retained, done = std::move(done), may_read = std::move(may_read)] {
    SubscribeResult result;
    result.start_after = last_seq_;
    SharedFilter shared = parse_shared(filter);
    if (!shared.group.empty()) {
      auto [group, created] = groups_.try_emplace(filter);
      if (created) add_live_filter(shared.filter, filter);
      auto& members = group->second.members;
      auto m = std::find_if(members.begin(), members.end(), [&](const auto& x) { return x.client_id == client_id; });
      if (m == members.end())
        members.push_back({client_id, true, may_read});
      else if (may_read)
        m->may_read = may_read;
      result.queue = member_queue(filter, client_id);
      add_queue_ref(result.queue, "");
    } else {
      result.queue = filter;
      add_queue_ref(filter, filter);
      if (want_retained)
        for (const auto& [topic, message] : retained_)
          if (topic_matches(filter, topic)) result.retained.push_back(message);
    }
    done(std::move(result));
  });
}

void Ingest::unsubscribe(const std::string& client_id, const std::string& filter) {
  post([this, client_id, filter] {
    SharedFilter shared = parse_shared(filter);
    std::string queue = shared.group.empty() ? filter : member_queue(filter, client_id);
    if (auto it = queues_.find(queue); it != queues_.end()) {
      it->second.reader_positions.erase(client_id);
      it->second.trim_backlog();
    }
    release_queue_ref(queue);
    if (shared.group.empty()) return;
    auto group = groups_.find(filter);
    if (group == groups_.end()) return;
    auto& members = group->second.members;
    std::erase_if(members, [&](const auto& x) { return x.client_id == client_id; });
    if (members.empty()) {
      remove_live_filter(shared.filter, filter);
      groups_.erase(group);
    }
  });
}

void Ingest::set_member_online(const std::string& client_id, const std::string& filter, bool online,
                               ReadCheck may_read) {
  post([this, client_id, filter, online, may_read = std::move(may_read)] {
    auto group = groups_.find(filter);
    if (group == groups_.end()) return;
    for (auto& m : group->second.members)
      if (m.client_id == client_id) {
        m.online = online;
        if (may_read) m.may_read = may_read;  // kept while offline: its rights when it left
      }
  });
}

void Ingest::reoffer(const std::string& client_id, const std::string& filter, std::vector<std::uint64_t> seqs) {
  post([this, client_id, filter, seqs = std::move(seqs)] {
    auto group = groups_.find(filter);
    if (group == groups_.end()) return;
    for (auto seq : seqs) {
      // Re-read the message the member did not acknowledge and give it to
      // another online member (never back to the one that dropped it).
      auto messages = store_.read_queue(member_queue(filter, client_id), seq - 1, 1);
      if (messages.empty() || messages.front()->seq != seq) continue;
      const Group::Member* target = pick_member(group->second, messages.front()->topic, client_id);
      // No other online member may take it: it stays with the one that
      // dropped it, for its return (as a QoS 2 message does).
      const std::string& taker = target && target->online ? target->client_id : client_id;
      // A new entry under a new sequence: queues must stay in ascending order
      // for readers that are already past the original one.
      auto copy = std::make_shared<store::Message>(*messages.front());
      copy->seq = ++last_seq_;
      store::MessagePtr m = copy;
      std::string queue = member_queue(filter, taker);
      batch_.appends.push_back({m, {queue}});
      append_to_cache(queue, m);
    }
  });
}

void Ingest::retained_matching(const std::string& filter, std::function<void(std::vector<store::MessagePtr>)> done) {
  post([this, filter, done = std::move(done)] {
    std::vector<store::MessagePtr> out;
    for (const auto& [topic, message] : retained_)
      if (topic_matches(filter, topic)) out.push_back(message);
    done(std::move(out));
  });
}

void Ingest::list_retained(const std::string& prefix, std::function<void(std::vector<store::MessagePtr>)> done) {
  post([this, prefix, done = std::move(done)] {
    std::vector<store::MessagePtr> out;
    for (auto it = retained_.lower_bound(prefix); it != retained_.end() && it->first.starts_with(prefix); ++it)
      out.push_back(it->second);
    done(std::move(out));
  });
}

void Ingest::find_retained(const std::string& topic, std::function<void(store::MessagePtr)> done) {
  post([this, topic, done = std::move(done)] {
    auto it = retained_.find(topic);
    done(it == retained_.end() ? nullptr : it->second);
  });
}

void Ingest::reader_backlogs(std::function<void(ReaderBacklogs)> done) {
  post([this, done = std::move(done)] {
    ReaderBacklogs out;
    for (const auto& [name, queue] : queues_)
      for (const auto& [client_id, position] : queue.reader_positions) {
        // The backlog holds the stored sequences in order: those after the position are its part.
        auto after = std::upper_bound(queue.backlog.begin(), queue.backlog.end(), position);
        out[client_id].emplace_back(name, static_cast<std::size_t>(queue.backlog.end() - after));
      }
    done(std::move(out));
  });
}

void Ingest::list_queues(const std::string& prefix, std::function<void(std::vector<QueueInfo>)> done) {
  post([this, prefix, done = std::move(done)] {
    std::vector<QueueInfo> out;
    for (const auto& [name, queue] : queues_) {
      if (queue.filter.empty()) continue;  // a shared group's member queue: below, with its group
      if (!name.starts_with(prefix)) continue;
      out.push_back({name, false, queue.refs, queue.last_seq, queue.messages, queue.backlog.size()});
    }
    for (const auto& [name, group] : groups_) {
      if (!name.starts_with(prefix)) continue;
      QueueInfo info{name, true, group.members.size(), 0, 0, 0};
      for (const auto& member : group.members)
        if (auto q = queues_.find(member_queue(name, member.client_id)); q != queues_.end()) {
          info.last_seq = std::max(info.last_seq, q->second.last_seq);
          info.messages += q->second.messages;
          info.backlog += q->second.backlog.size();
        }
      out.push_back(std::move(info));
    }
    done(std::move(out));
  });
}

void Ingest::clear_retained(const std::string& topic, std::function<void(bool, std::error_code)> done) {
  post([this, topic, done = std::move(done)] {
    auto it = retained_.find(topic);
    if (it == retained_.end()) return done(false, {});
    retained_tally_.add(*it->second, -1);
    retained_.erase(it);
    batch_.retained.emplace_back(topic, nullptr);
    completions_.push_back([done](std::error_code ec) { done(true, ec); });
  });
}

void Ingest::save_session(const std::string& client_id, std::optional<std::string> record, Done done) {
  post([this, client_id, record = std::move(record), done = std::move(done)] {
    if (!record) {
      batch_.sessions.emplace_back(client_id, std::nullopt);
    } else {
      batch_.sessions.emplace_back(client_id, std::move(record));
    }
    if (done) completions_.push_back(done);
  });
}

void Ingest::save_progress(const std::string& client_id, SessionProgress progress, Done done) {
  post([this, client_id, progress = std::move(progress), done = std::move(done)]() mutable {
    for (auto& [queue, seq] : progress.offsets) {
      if (progress.counts_toward_backlog) track_reader(client_id, queue, seq);
      batch_.offsets.push_back({client_id, queue, seq});
    }
    for (auto& queue : progress.erased_queues)
      if (auto it = queues_.find(queue); it != queues_.end()) {
        it->second.reader_positions.erase(client_id);
        it->second.trim_backlog();
      }
    for (auto& [id, record] : progress.inflight) batch_.inflight.push_back({client_id, id, std::move(record)});
    for (auto& queue : progress.erased_queues) batch_.erase_offsets.emplace_back(client_id, std::move(queue));
    if (done) completions_.push_back(std::move(done));
  });
}

void Ingest::set_durable(const std::string& queue, bool durable) {
  post([this, queue, durable] {
    if (durable) {
      ++durable_queues_[queue];
    } else if (auto it = durable_queues_.find(queue); it != durable_queues_.end() && --it->second == 0) {
      durable_queues_.erase(it);
    }
    durable_count_ = durable_queues_.size();
  });
}

void Ingest::sync(std::function<void()> done) {
  post([this, done = std::move(done)] { completions_.push_back([done](std::error_code) { done(); }); });
}

IngestStats Ingest::stats() const {
  std::lock_guard guard(stats_lock_);
  IngestStats s = stats_;
  return s;
}

}  // namespace tidegate
