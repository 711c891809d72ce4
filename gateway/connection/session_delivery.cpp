// Outbound delivery (docs/design.md, "Pulling and pushing"): a session pulls
// from each queue it reads, by sequence, merges them so a message reached
// through several subscriptions goes out once (highest QoS, every subscription
// identifier), and sends within its inflight window and output-byte bound.
// Worker thread.
#include "gateway/connection/session_delivery.hpp"

#include <boost/asio/post.hpp>

#include "gateway/bridge/link_mapping.hpp"
#include "gateway/connection/connection_driver.hpp"
#include "gateway/ops/log.hpp"
#include "gateway/pipeline/message_builder.hpp"
#include "gateway/pipeline/shared_publish.hpp"
#include "gateway/session/inflight_record.hpp"

namespace tidegate {

namespace {
constexpr std::size_t kPullBatch = 64;
constexpr int kDeliveriesPerTurn = 256;  // then yield the worker to other connections
}  // namespace

std::size_t SessionDelivery::window() const {
  // MQTT 5: the client's Receive Maximum (65535 when absent, §3.1.2.11.3); 3.1.1: ours.
  return c_.core_.window(LiveLimits::get(c_.broker_.limits.max_inflight));
}

void SessionDelivery::on_queue_event(const std::string& queue, std::uint64_t last_seq) {
  if (!c_.session_) return;
  auto it = c_.session_->cursors.find(queue);
  if (it == c_.session_->cursors.end()) return;
  auto& cursor = it->second;
  if (cursor.announced != UINT64_MAX) cursor.announced = std::max(cursor.announced, last_seq);
  schedule();
}

void SessionDelivery::schedule() {
  if (scheduled_ || c_.state_ != ConnectionDriver::State::connected) return;
  scheduled_ = true;
  boost::asio::post(c_.worker_.io(), [self = c_.shared_from_this()] { self->delivery_.deliver(); });
}

void SessionDelivery::deliver() {
  scheduled_ = false;
  auto& session = c_.session_;
  if (c_.state_ != ConnectionDriver::State::connected || !session) return c_.worker_.set_lagging(&c_, false);
  bool more = true;
  bool handed_sent = false;
  // Resends come first, and new messages only once none is left (in order).
  if (resend_within_window()) more = false;
  int turn = 0;
  for (; turn < kDeliveriesPerTurn && more; ++turn) {
    // Bounded output: stop here; the writer reschedules when it has drained.
    if (c_.core_.output().size() + held_.size() >= LiveLimits::get(c_.broker_.limits.max_output_bytes)) {
      more = false;
      break;
    }
    if (deliver_retained(more)) continue;
    if (!more) break;
    if (deliver_handed(more)) {
      handed_sent = true;
      continue;
    }
    if (!more) break;
    more = deliver_one();
  }
  // How many handed messages went out, in the same write as their inflight records.
  if (handed_sent && session->persistent()) progress_.offsets.emplace_back(kHandedProgressQueue, session->handed_taken);
  flush_progress();
  if (handed_sent && session->handed.empty()) {
    // All gone out: the record without the list, then its count.
    session->rebase_handed();
    if (session->persistent()) {
      c_.broker_.ingest.save_session(c_.client_id_, encode_session_record(*session));
      Ingest::SessionProgress erase;
      erase.erased_queues.push_back(kHandedProgressQueue);
      c_.broker_.ingest.save_progress(c_.client_id_, std::move(erase));
    }
  }
  // Out of budget with messages waiting: this worker is the limit (pacing, worker.hpp).
  c_.worker_.set_lagging(&c_, more && turn == kDeliveriesPerTurn);
  if (more) schedule();  // yield the worker, then go on
}

bool SessionDelivery::deliver_retained(bool& more) {
  auto& session = *c_.session_;
  if (session.retained_pending.empty()) return false;
  auto& [message, options] = session.retained_pending.front();
  if (options.qos > 0 && message->qos > 0 && session.inflight.size() >= window()) {
    more = false;
    return false;
  }
  auto m = std::move(message);
  auto opts = options;
  session.retained_pending.pop_front();
  std::vector<std::uint32_t> ids;
  if (opts.subscription_id) ids.push_back(*opts.subscription_id);
  if (!m->expired_at(store::wall_clock_ms()) && may_read(*m))
    send_message(m, std::min(m->qos, opts.qos), true, {}, std::move(ids));  // MQTT-3.3.1-9
  return true;
}

bool SessionDelivery::deliver_handed(bool& more) {
  // Handed over from another gateway (cluster mode): they go out before
  // anything this gateway queued, from no queue here (kept whole when in flight).
  auto& session = *c_.session_;
  if (session.handed.empty()) return false;
  auto& front = session.handed.front();
  if (front.qos > 0 && session.inflight.size() >= window()) {
    more = false;
    return false;
  }
  HandedMessage h = std::move(front);
  session.handed.pop_front();
  ++session.handed_taken;
  if (!h.message->expired_at(store::wall_clock_ms()) && may_read(*h.message))
    send_message(h.message, h.qos, h.retain, {}, std::move(h.subscription_ids));
  return true;
}

std::uint64_t SessionDelivery::pull() {
  // Only a persistent session saves positions (flush_progress drops the rest).
  const bool saves_positions = c_.session_->persistent();
  auto& broker = c_.broker_;
  std::uint64_t next = UINT64_MAX;
  for (auto& [queue, c] : c_.session_->cursors) {
    if (c.prefetch.empty() && c.announced > c.position) {
      if (!c.behind_retention_reported && broker.cache.behind_retention(c.position)) {
        // Counted and logged once per queue: retention removed messages this
        // session had not read yet (never silently: docs/durability.md, "Retention").
        c.behind_retention_reported = true;
        Metrics::add(broker.metrics.sessions_behind_retention);
        log::warn(c_.describe() + ": fell behind retention on queue '" + queue + "' (position " +
                  std::to_string(c.position) + "); messages it had not read were removed");
      }
      std::uint64_t skipped = 0, gone_upto = 0;
      // Nothing past the last batch the ingest thread finished: its messages
      // may be in this queue's cache and not yet in another queue this session
      // reads, and would then go out once per queue. Their events come later.
      const std::uint64_t visible = broker.ingest.visible_seq();
      auto batch = broker.cache.pull(queue, c.position, kPullBatch, &skipped, &gone_upto, &c.read_mark, visible);
      if (skipped) Metrics::add(broker.metrics.dropped_qos0_slow_subscriber, skipped);
      if (gone_upto > c.position) {
        // What was lost is behind us: the next pull must not count it again
        // (the visibility cut below may leave this batch empty).
        c.position = gone_upto;
        if (saves_positions) dirty_offsets_.push_back(queue);
      }
      while (!batch.empty() && batch.back()->seq > visible) batch.pop_back();
      if (batch.empty())
        c.announced = c.position;
      else
        c.prefetch.assign(batch.begin(), batch.end());
    }
    if (!c.prefetch.empty()) next = std::min(next, c.prefetch.front()->seq);
  }
  return next;
}

bool SessionDelivery::deliver_one() {
  const std::uint64_t next = pull();
  if (next == UINT64_MAX) return false;
  auto& session = *c_.session_;
  store::MessagePtr message;
  // The queues that deliver it, by pointer into `cursors` (valid within this
  // call): copied as strings only when a QoS 1/2 inflight entry needs them.
  matched_queues_.clear();
  std::vector<std::uint32_t> ids;
  std::uint8_t qos = 0;
  bool wanted = false, retain = false;
  for (auto& [queue, c] : session.cursors) {
    if (c.prefetch.empty() || c.prefetch.front()->seq != next) continue;
    message = c.prefetch.front();
    const Subscription* sub = session.subscription_for_queue(queue);
    if (!sub) continue;
    if (sub->options.no_local && message->origin_client_id == c_.client_id_) continue;  // MQTT-3.8.3-3
    wanted = true;
    qos = std::max(qos, std::min(message->qos, sub->options.qos));
    retain = retain || (sub->options.retain_as_published && message->retain);
    if (sub->options.subscription_id) ids.push_back(*sub->options.subscription_id);
    matched_queues_.push_back(&queue);
  }
  if (c_.mapping_) qos = std::min(qos, c_.mapping_->maximum_qos);  // the remote's Maximum QoS (v5 CONNACK)
  // Cluster mode: handed over from another gateway, and queued here as well.
  const bool handed_already = wanted && message->stream_seq && session.handed_stream_seqs.count(message->stream_seq);
  if (handed_already) wanted = false;
  if (wanted && qos > 0 && session.inflight.size() >= window()) return false;  // wait for an ack

  std::vector<std::string> queues;
  if (wanted && qos > 0)
    for (const auto* q : matched_queues_) queues.push_back(*q);
  const bool saves_positions = session.persistent();
  for (auto& [queue, c] : session.cursors) {
    if (c.prefetch.empty() || c.prefetch.front()->seq != next) continue;
    c.prefetch.pop_front();
    c.position = next;
    if (saves_positions) dirty_offsets_.push_back(queue);
  }
  if (handed_already) {
    session.handed_stream_seqs.erase(message->stream_seq);
    return true;
  }
  if (!wanted) {
    Metrics::add(c_.broker_.metrics.dropped_no_local);
    return true;
  }
  if (message->expires_at_ms && message->expired_at(store::wall_clock_ms())) {
    Metrics::add(c_.broker_.metrics.dropped_expired);  // MQTT-3.3.2-5
    return true;
  }
  if (!may_read(*message)) return true;
  send_message(message, qos, retain, std::move(queues), std::move(ids));
  return true;
}

bool SessionDelivery::may_read(const store::Message& message) {
  // Read access, per message: a message the ACL hides is counted, never
  // silently taken as delivered (a reload may have narrowed the rules).
  if (c_.access_.may_read(message.topic)) return true;
  Metrics::add(c_.broker_.metrics.dropped_acl);
  return false;
}

bool SessionDelivery::send_shared(const store::MessagePtr& message, std::uint8_t qos, bool retain,
                                  std::vector<std::string>& queues, std::vector<std::uint32_t>& subscription_ids,
                                  bool& sent) {
  // Fan-out: the bytes encoded once per variant of the message and shared by
  // every delivery of it (shared_publish.hpp), flags and packet id patched.
  // Not where they differ per delivery: a bridge maps the topic, MQTT 5
  // subscription identifiers and topic aliases are per subscriber.
  auto& core = c_.core_;
  if (c_.mapping_ || (core.v5() && (!subscription_ids.empty() || core.assigns_aliases()))) return false;
  const store::EncodedPublish* shared = shared_publish(*message, core.v5(), qos > 0, c_.broker_.shared_publish_budget);
  if (!shared) return false;
  // MQTT-3.1.2-25 (the same size as the per-delivery encoding).
  if (!core.fits_peer(shared->bytes.size())) {
    Metrics::add(c_.broker_.metrics.dropped_too_large_for_client);
    sent = false;
    return true;
  }
  const std::uint16_t packet_id = track(message, qos, retain, std::move(queues), std::move(subscription_ids));
  if (c_.session_->persistent() && (qos > 0 || !held_.empty()))
    mqtt::append_patched_publish(shared->bytes, shared->packet_id_at, qos, retain, false, packet_id, held_);
  else
    c_.send_shared(shared->bytes, shared->packet_id_at, qos, retain, packet_id);
  sent = true;
  return true;
}

bool SessionDelivery::send_message(const store::MessagePtr& message, std::uint8_t qos, bool retain,
                                   std::vector<std::string> queues, std::vector<std::uint32_t> subscription_ids) {
  bool sent = false;
  if (send_shared(message, qos, retain, queues, subscription_ids, sent)) return sent;
  auto& core = c_.core_;
  // Encoded straight from the shared message (PublishView): no Publish with
  // copies of topic and payload per delivery. Properties only for MQTT 5.
  mqtt::Properties props;
  if (core.v5()) {
    if (has_forwarded_properties(*message)) publish_properties_from_message(*message, store::wall_clock_ms(), props);
    props.subscription_identifiers = subscription_ids;
  }
  std::string_view topic = message->topic;
  std::string mapped;  // the remote topic (bridge links only)
  bool wire_retain = retain;  // a remote without retain gets 0; the inflight record keeps what was asked
  if (c_.mapping_) {
    mapped = message->topic;
    if (!c_.mapping_->outbound(mapped, wire_retain, qos, props)) return false;
    topic = mapped;
  }
  mqtt::PublishView publish{topic, message->payload, qos, wire_retain, false, 0, core.v5() ? &props : nullptr};
  if (qos > 0) publish.packet_id = 1;  // sized like the real one
  // MQTT-3.1.2-25: never send a packet larger than the client accepts.
  if (!core.fits_peer(mqtt::encoded_size(publish, core.version()))) {
    Metrics::add(c_.broker_.metrics.dropped_too_large_for_client);
    return false;
  }
  core.assign_alias(topic, props, publish.topic);
  const bool durable = c_.session_->persistent();
  publish.packet_id = track(message, qos, retain, std::move(queues), std::move(subscription_ids));
  if (durable && (qos > 0 || !held_.empty())) {
    // Behind the commit of its inflight record; QoS 0 keeps its place in line.
    core.encode_to(publish, held_);
  } else {
    c_.send(publish);
  }
  return true;
}

std::uint16_t SessionDelivery::track(const store::MessagePtr& message, std::uint8_t qos, bool retain,
                                     std::vector<std::string> queues, std::vector<std::uint32_t> subscription_ids) {
  auto& session = *c_.session_;
  std::uint16_t packet_id = 0;
  if (qos > 0) {
    packet_id = session.allocate_packet_id();
    session.inflight.push_back(
        InflightMessage{packet_id, message, qos, retain, false, std::move(queues), std::move(subscription_ids)});
    if (session.persistent()) progress_.inflight.emplace_back(packet_id, encode_inflight_record(session.inflight.back()));
  }
  // Counted before the bytes can reach the client: whoever has received a
  // message sees it counted.
  c_.broker_.metrics.count_publish_sent(qos);
  ++session.traffic.messages_out;
  return packet_id;
}

}  // namespace tidegate
