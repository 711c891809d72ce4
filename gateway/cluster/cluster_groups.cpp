#include "gateway/cluster/cluster_groups.hpp"

#include <cstdio>
#include <utility>
#include <vector>

#include "gateway/ops/log.hpp"
#include "gateway/ops/metrics.hpp"
#include "gateway/pipeline/topic_match.hpp"
#include "storeclient/message_codec.hpp"
#include "storeclient/subject_codec.hpp"

namespace tidegate {

namespace {
// Consumer and subject names allow no '.', '*', '>' or spaces: a group is
// named by a hash of "$share/g/f" (FNV-1a, 64 bits).
std::string group_id(const std::string& group) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : group) h = (h ^ c) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}
}  // namespace

SharedGroupConsumers::SharedGroupConsumers(std::shared_ptr<store::JetStreamClient> client, Ingest& ingest,
                                           std::int64_t max_ack_pending)
    : client_(std::move(client)), ingest_(ingest), max_ack_pending_(max_ack_pending) {}

void SharedGroupConsumers::retry() {
  std::vector<std::pair<std::string, std::string>> failed;
  {
    std::lock_guard guard(lock_);
    for (const auto& [group, subscription] : subscriptions_)
      if (!subscription) failed.emplace_back(group, filters_[group]);
  }
  for (const auto& [group, filter] : failed)
    if (join(group, filter)) log::info("cluster: shared group '" + group + "' set up");
}

bool SharedGroupConsumers::join(const std::string& group, std::string_view filter) {
  std::lock_guard guard(lock_);
  auto [it, created] = subscriptions_.try_emplace(group, 0);
  filters_[group] = std::string(filter);
  if (it->second) return true;  // already bound
  std::string id = group_id(group);
  std::string consumer = "tg-share-" + id, deliver = "tg.g." + id;
  auto ec = client_->ensure_group_consumer(consumer, store::filter_to_subject(client_->options().subject_prefix, filter),
                                           deliver, kAckWaitMs, max_ack_pending_);
  if (!ec)
    it->second = client_->queue_subscribe(
        deliver, consumer,
        [this, group](std::string_view, std::string_view data, std::string_view reply) {
          on_message(group, data, reply);
        },
        ec);
  if (ec) {
    Metrics::add(errors_);
    log::warn("cluster: shared group '" + group + "': consumer " + consumer + " not set up: " + ec.message());
    return false;
  }
  return true;
}

void SharedGroupConsumers::leave(const std::string& group) {
  std::uint64_t subscription = 0;
  {
    std::lock_guard guard(lock_);
    auto it = subscriptions_.find(group);
    if (it == subscriptions_.end()) return;
    subscription = it->second;
    subscriptions_.erase(it);
    filters_.erase(group);
  }
  if (subscription) client_->unsubscribe(subscription);
}

void SharedGroupConsumers::on_message(const std::string& group, std::string_view data, std::string_view reply) {
  Metrics::add(received_);
  auto decoded = store::decode_message(data);
  if (!decoded) {
    log::warn("cluster: shared group '" + group + "': a message that is not a stored message was dropped");
    client_->ack(std::string(reply));  // never deliverable: do not let it come back
    return;
  }
  std::string filter;
  {
    std::lock_guard guard(lock_);
    if (auto it = filters_.find(group); it != filters_.end()) filter = it->second;
  }
  if (!filter.empty() && !topic_matches(filter, decoded->topic)) {
    // The NATS filter is wider than MQTT's (a `$` first level): not the group's.
    client_->term(std::string(reply));
    return;
  }
  std::vector<Ingest::PublishRequest> one;
  one.push_back({std::make_shared<store::Message>(std::move(*decoded)), std::nullopt,
                 [this, client = client_, reply = std::string(reply)](std::error_code ec, std::uint64_t,
                                                                     std::size_t queues) {
                   // Acknowledged once this gateway holds it for a member
                   // (committed, for QoS 1/2); otherwise straight back.
                   if (!ec && queues > 0) return client->ack(reply);
                   Metrics::add(redelivered_);
                   client->nak(reply);
                 },
                 group, true});
  ingest_.publish_local_batch(std::move(one));
}

SharedGroupConsumers::Counters SharedGroupConsumers::counters() const {
  Counters c;
  c.received = received_.load(std::memory_order_relaxed);
  c.redelivered = redelivered_.load(std::memory_order_relaxed);
  c.errors = errors_.load(std::memory_order_relaxed);
  std::lock_guard guard(lock_);
  c.groups = subscriptions_.size();
  return c;
}

}  // namespace tidegate
