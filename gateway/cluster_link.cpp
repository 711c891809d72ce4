#include "gateway/cluster_link.hpp"

#include <algorithm>

#include "gateway/log.hpp"
#include "gateway/metrics.hpp"

namespace tidegate {

void encode_cluster_event(std::string& out, std::uint64_t seq, bool retain, std::string_view topic) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((seq >> shift) & 0xFF));
  out.push_back(retain ? 1 : 0);
  out.push_back(static_cast<char>((topic.size() >> 8) & 0xFF));
  out.push_back(static_cast<char>(topic.size() & 0xFF));
  out.append(topic);
}

namespace {
store::JetStreamOptions jetstream_options(const ClusterConfig& c) {
  store::JetStreamOptions o;
  o.servers = c.nats;
  o.connection_name = "tidegate " + c.node;
  o.stream = c.stream;
  o.replicas = c.replicas;
  o.request_timeout_ms = c.request_timeout_ms;
  o.max_pending_appends = static_cast<std::int64_t>(c.max_pending_appends);
  return o;
}

// The gateway's own $SYS topics describe this node: never shared.
bool node_local(const store::Message& m) { return m.topic.starts_with("$SYS/"); }
}  // namespace

// One connection's batch on its way through JetStream: it goes on to the
// ingest thread, in order, when its last append is acknowledged.
struct ClusterLink::PendingBatch {
  std::vector<Ingest::PublishRequest> requests;
  std::vector<std::error_code> errors;
  std::vector<std::uint64_t> seqs;
  std::atomic<std::size_t> remaining{0};
};

ClusterLink::ClusterLink(const ClusterConfig& config, Ingest& ingest)
    : config_(config), ingest_(ingest), client_(std::make_unique<store::JetStreamClient>(jetstream_options(config))) {
  log::info("cluster: node '" + config_.node + "', stream '" + config_.stream + "' on " + config_.nats.front() +
            (config_.nats.size() > 1 ? " (+" + std::to_string(config_.nats.size() - 1) + ")" : ""));
}

ClusterLink::~ClusterLink() { stop(); }

void ClusterLink::start() {
  auto ec = client_->subscribe(kBroadcastSubject, [this](std::string_view, std::string_view data, std::string_view) {
    on_events(data);
  });
  if (ec) throw store::StoreOpenError("cluster: cannot subscribe to " + std::string(kBroadcastSubject) + ": " + ec.message());
  fetch_thread_ = std::thread([this] { fetch_loop(); });
}

void ClusterLink::stop() {
  {
    std::lock_guard guard(events_lock_);
    if (stopping_) return;
    stopping_ = true;
  }
  events_ready_.notify_one();
  if (fetch_thread_.joinable()) fetch_thread_.join();
  // Appends still in flight complete (acknowledged or failed) before the
  // connection closes: their clients are waiting for an answer.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.request_timeout_ms);
  while (client_->pending_appends() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stopped_ = true;
  client_.reset();
}

void ClusterLink::replicate(std::vector<Ingest::PublishRequest> requests) {
  // Only after shutdown (workers joined): a last will published while the
  // process stops reaches this node's sessions alone.
  if (stopped_) return ingest_.publish_local_batch(std::move(requests));
  auto batch = std::make_shared<PendingBatch>();
  std::vector<Ingest::PublishRequest> local;
  for (auto& r : requests) (node_local(*r.message) ? local : batch->requests).push_back(std::move(r));
  if (!local.empty()) ingest_.publish_local_batch(std::move(local));
  if (batch->requests.empty()) return;
  std::size_t n = batch->requests.size();
  batch->errors.resize(n);
  batch->seqs.resize(n);
  batch->remaining = n;
  for (std::size_t i = 0; i < n; ++i) {
    client_->append(*batch->requests[i].message, [this, batch, i](std::error_code ec, std::uint64_t seq) {
      batch->errors[i] = ec;
      batch->seqs[i] = seq;
      if (batch->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) batch_appended(batch);
    });
  }
}

void ClusterLink::batch_appended(const std::shared_ptr<PendingBatch>& batch) {
  std::vector<Ingest::PublishRequest> stored;
  std::string events;
  for (std::size_t i = 0; i < batch->requests.size(); ++i) {
    auto& r = batch->requests[i];
    if (batch->errors[i]) {
      Metrics::add(counters_.append_errors);
      log::warn("cluster: publish to '" + r.message->topic + "' not stored: " + batch->errors[i].message());
      if (r.done) r.done(batch->errors[i], 0, 0);
      continue;
    }
    Metrics::add(counters_.appended);
    encode_cluster_event(events, batch->seqs[i], r.message->retain, r.message->topic);
    if (r.done)
      // Subscribers on other gateways are not counted here: never report
      // "no matching subscribers" (v5 0x10) for what they may receive.
      r.done = [done = std::move(r.done)](std::error_code ec, std::uint64_t seq, std::size_t queues) {
        done(ec, seq, std::max<std::size_t>(queues, 1));
      };
    stored.push_back(std::move(r));
  }
  ingest_.publish_local_batch(std::move(stored));
  if (events.empty()) return;
  if (auto ec = client_->publish(kBroadcastSubject, events))
    log::warn("cluster: notify not sent (" + ec.message() + "): other gateways' subscribers miss these messages");
  else
    Metrics::add(counters_.events_sent);
}

void ClusterLink::on_events(std::string_view data) {
  std::size_t added = 0;
  {
    std::lock_guard guard(events_lock_);
    bool ok = decode_cluster_events(data, [&](std::uint64_t seq, bool retain, std::string_view topic) {
      events_.push_back({seq, retain, std::string(topic)});
      ++added;
    });
    if (!ok) log::warn("cluster: a malformed notify message was ignored");
  }
  Metrics::add(counters_.events_received, added);
  if (added) events_ready_.notify_one();
}

bool ClusterLink::interested(const std::string& topic) const {
  std::lock_guard guard(interest_lock_);
  bool any = false;
  interest_.match(topic, [&](const std::string&) { any = true; });
  return any;
}

void ClusterLink::filter_live(std::string_view filter, const std::string& name, bool live) {
  std::lock_guard guard(interest_lock_);
  if (live)
    interest_.insert(filter, name);
  else
    interest_.erase(filter, name);
}

void ClusterLink::fetch_loop() {
  std::deque<Event> events;
  for (;;) {
    {
      std::unique_lock guard(events_lock_);
      events_ready_.wait(guard, [this] { return stopping_ || !events_.empty(); });
      if (stopping_) return;
      events.swap(events_);
    }
    std::vector<Ingest::PublishRequest> batch;
    for (auto& e : events) {
      if (!e.retain && !interested(e.topic)) {
        Metrics::add(counters_.skipped);
        continue;
      }
      std::error_code ec;
      auto message = client_->read(e.seq, ec);
      if (ec) {
        // One more try: a NATS server of the cluster may be failing over.
        message = client_->read(e.seq, ec);
      }
      if (ec || !message) {
        Metrics::add(counters_.fetch_errors);
        log::warn("cluster: message " + std::to_string(e.seq) + " on '" + e.topic + "' could not be read: " +
                  (ec ? ec.message() : std::string("no longer in the stream")));
        continue;
      }
      Metrics::add(counters_.fetched);
      batch.push_back({std::make_shared<store::Message>(std::move(*message)), std::nullopt, {}});
    }
    events.clear();
    ingest_.publish_local_batch(std::move(batch));
  }
}

ClusterStats ClusterLink::stats() const {
  ClusterStats s;
  s.node = config_.node;
  auto load = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  s.appended = load(counters_.appended);
  s.append_errors = load(counters_.append_errors);
  s.events_sent = load(counters_.events_sent);
  s.events_received = load(counters_.events_received);
  s.fetched = load(counters_.fetched);
  s.skipped = load(counters_.skipped);
  s.fetch_errors = load(counters_.fetch_errors);
  {
    std::lock_guard guard(events_lock_);
    s.fetch_backlog = events_.size();
  }
  if (client_) {
    s.pending_appends = client_->pending_appends();
    s.connected = client_->connected();
  }
  return s;
}

}  // namespace tidegate
