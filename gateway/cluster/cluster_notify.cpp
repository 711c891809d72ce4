#include "gateway/cluster/cluster_notify.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "gateway/cluster/cluster_fetcher.hpp"
#include "gateway/cluster/cluster_notify_codec.hpp"
#include "gateway/ops/log.hpp"
#include "gateway/ops/metrics.hpp"

namespace tidegate {

NotifySender::NotifySender(std::string node, store::JetStreamClient& client, lookup::Lookup* lookup,
                           ControlThread& control)
    : node_(std::move(node)), client_(client), lookup_(lookup), control_(control) {}

void NotifySender::announce(std::vector<ClusterEvent> events) {
  // Batches complete in order on one libnats thread, and the control thread
  // sends their notify messages in that order.
  control_.post([this, events = std::move(events)] { send(events); });
}

void NotifySender::relay(const std::string& node, std::vector<ClusterEvent> events) {
  Metrics::add(relayed_, events.size());
  control_.post([this, node, events = std::move(events)] {
    std::vector<const ClusterEvent*> list;
    for (const auto& e : events) list.push_back(&e);
    send_to(node, list);
  });
}

void NotifySender::send_syncs() {
  // An empty notify repeating a channel's last counter: a receiver that has
  // not seen that counter lost the channel's last message, which no later
  // message would reveal (the sender may have nothing more to say to it).
  auto sync = [this](const std::string& subject, std::uint64_t counter) {
    std::string data;
    encode_cluster_notify_header(data, node_, counter);
    client_.publish(subject, data);
  };
  if (std::exchange(broadcast_since_sync_, false)) sync(kBroadcastSubject, counter_);
  for (const auto& node : std::exchange(targeted_since_sync_, {})) sync(notify_subject(node), counter_to_[node]);
}

void NotifySender::send(const std::vector<ClusterEvent>& events) {
  // Retained messages go to every gateway (a later subscriber anywhere needs
  // them); the rest to the gateways the lookup names.
  std::optional<std::map<std::string, std::set<std::string>>> targets;
  bool retained = std::any_of(events.begin(), events.end(), [](const ClusterEvent& e) { return e.retain; });
  if (lookup_ && !retained) {
    std::vector<std::string> topics;
    for (const auto& e : events) topics.push_back(e.topic);
    std::sort(topics.begin(), topics.end());
    topics.erase(std::unique(topics.begin(), topics.end()), topics.end());
    targets = lookup_->nodes_for(topics);
  }
  if (!targets) {
    std::vector<const ClusterEvent*> all;
    for (const auto& e : events) all.push_back(&e);
    publish(kBroadcastSubject, ++counter_, all);
    broadcast_since_sync_ = true;
    Metrics::add(broadcast_);
    return;
  }
  std::map<std::string, std::vector<const ClusterEvent*>> per_node;
  for (const auto& e : events)
    for (const auto& node : (*targets)[e.topic])
      if (node != node_) per_node[node].push_back(&e);
  for (const auto& [node, list] : per_node) send_to(node, list);
}

void NotifySender::send_to(const std::string& node, const std::vector<const ClusterEvent*>& events) {
  publish(notify_subject(node), ++counter_to_[node], events);
  targeted_since_sync_.insert(node);
  Metrics::add(targeted_);
}

void NotifySender::publish(const std::string& subject, std::uint64_t counter,
                           const std::vector<const ClusterEvent*>& events) {
  std::string data;
  encode_cluster_notify_header(data, node_, counter);
  for (const auto* e : events) encode_cluster_event(data, e->seq, e->retain, e->topic);
  if (auto ec = client_.publish(subject, data))
    log::warn("cluster: notify not sent (" + ec.message() + "): the other gateways catch up from the stream");
  else
    Metrics::add(sent_);
}

void NotifySender::fill(ClusterStats& s) const {
  s.events_sent = sent_.load(std::memory_order_relaxed);
  s.notify_targeted = targeted_.load(std::memory_order_relaxed);
  s.notify_broadcast = broadcast_.load(std::memory_order_relaxed);
  s.relayed = relayed_.load(std::memory_order_relaxed);
}

void NotifyReceiver::on_notify(std::string_view subject, std::string_view data) {
  const bool broadcast = subject == NotifySender::kBroadcastSubject;
  ClusterNotifyHeader header;
  std::vector<ClusterEvent> events;
  std::uint64_t first_seq = 0, last_seq = 0;
  bool ok = decode_cluster_notify(data, header, [&](std::uint64_t seq, bool retain, std::string_view topic) {
    if (!first_seq) first_seq = seq;
    last_seq = seq;
    events.push_back({seq, retain, std::string(topic)});
  });
  if (!ok) log::warn("cluster: a malformed notify message was ignored");
  std::lock_guard guard(lock_);
  std::uint64_t catch_up_from = 0;
  if (!header.origin.empty())
    // Broadcast and targeted notify are numbered apart.
    catch_up_from = check_channel(std::string(header.origin) + (broadcast ? "/all" : "/me"), header.counter,
                                  first_seq, last_seq);
  Metrics::add(received_, fetcher_.enqueue(std::move(events), catch_up_from));
}

std::uint64_t NotifyReceiver::check_channel(const std::string& channel, std::uint64_t counter,
                                            std::uint64_t first_seq, std::uint64_t last_seq) {
  auto [it, first] = channels_.try_emplace(channel, Channel{counter, 0});
  // A jump means a notify of that node never reached us (a counter that
  // goes back is that node restarted): what it held came after the last
  // sequence this channel brought. An empty message (a sync) repeats the
  // last counter sent.
  std::uint64_t catch_up_from = 0;
  const std::uint64_t expected = it->second.counter + (first_seq ? 1 : 0);
  if (!first && counter > expected) {
    log::warn("cluster: " + std::to_string(counter - expected) + " notify message(s) from '" + it->first +
              "' lost; catching up from the stream");
    constexpr auto margin = ClusterFetcher::kCatchUpMargin;
    catch_up_from = it->second.last_seq ? it->second.last_seq + 1 : (first_seq > margin ? first_seq - margin : 1);
  }
  it->second.counter = counter;
  if (last_seq) it->second.last_seq = last_seq;
  return catch_up_from;
}

void NotifyReceiver::fill(ClusterStats& s) const { s.events_received = received_.load(std::memory_order_relaxed); }

}  // namespace tidegate
