// Outbound delivery (docs/design.md, "Pulling and pushing"): a session pulls
// from each queue it reads, by sequence, merges them so a message reached
// through several subscriptions goes out once (highest QoS, every subscription
// identifier), and sends within its inflight window and output-byte bound.
// Worker thread.
#include <boost/asio/post.hpp>

#include "gateway/session/inflight_record.hpp"
#include "gateway/ops/log.hpp"

#include "gateway/bridge/bridge_link.hpp"
#include "gateway/codec/encoder.hpp"
#include "gateway/connection/connection.hpp"
#include "gateway/pipeline/message_builder.hpp"
#include "gateway/pipeline/shared_publish.hpp"
#include "gateway/pipeline/topic_match.hpp"

namespace tidegate {

using mqtt::PacketType;
using mqtt::ReasonCode;

namespace {
constexpr std::size_t kPullBatch = 64;
constexpr int kDeliveriesPerTurn = 256;  // then yield the worker to other connections
}  // namespace

std::size_t Connection::window() const {
  // MQTT 5: the client's Receive Maximum (65535 when absent, §3.1.2.11.3); 3.1.1: ours.
  return v5() ? client_receive_maximum_ : LiveLimits::get(broker_.limits.max_inflight);
}

void Connection::on_queue_event(const std::string& queue, std::uint64_t last_seq) {
  if (!session_) return;
  auto it = session_->cursors.find(queue);
  if (it == session_->cursors.end()) return;
  auto& c = it->second;
  if (c.announced != UINT64_MAX) c.announced = std::max(c.announced, last_seq);
  schedule_delivery();
}

void Connection::schedule_delivery() {
  if (delivery_scheduled_ || state_ != State::connected) return;
  delivery_scheduled_ = true;
  boost::asio::post(worker_.io(), [self = shared_from_this()] { self->deliver(); });
}

void Connection::deliver() {
  delivery_scheduled_ = false;
  if (state_ != State::connected || !session_) return worker_.set_lagging(this, false);
  bool more = true;
  bool handed_sent = false;
  // Resends come first, and new messages only once none is left (in order).
  if (resend_within_window()) more = false;
  int turn = 0;
  for (; turn < kDeliveriesPerTurn && more; ++turn) {
    // Bounded output: stop here; the writer reschedules when it has drained.
    if (out_.size() + held_.size() >= LiveLimits::get(broker_.limits.max_output_bytes)) {
      more = false;
      break;
    }
    if (!session_->retained_pending.empty()) {
      auto& [message, options] = session_->retained_pending.front();
      if (options.qos > 0 && message->qos > 0 && session_->inflight.size() >= window()) {
        more = false;
        break;
      }
      auto m = std::move(message);
      auto opts = options;
      session_->retained_pending.pop_front();
      std::vector<std::uint32_t> ids;
      if (opts.subscription_id) ids.push_back(*opts.subscription_id);
      if (!m->expired_at(store::wall_clock_ms()) && may_read(*m))
        send_message(m, std::min(m->qos, opts.qos), true, {}, std::move(ids));  // MQTT-3.3.1-9
      continue;
    }
    if (!session_->handed.empty()) {
      // Handed over from another gateway (cluster mode): they go out before
      // anything this gateway queued, from no queue here (kept whole when in flight).
      auto& front = session_->handed.front();
      if (front.qos > 0 && session_->inflight.size() >= window()) {
        more = false;
        break;
      }
      HandedMessage h = std::move(front);
      session_->handed.pop_front();
      ++session_->handed_taken;
      handed_sent = true;
      if (!h.message->expired_at(store::wall_clock_ms()) && may_read(*h.message))
        send_message(h.message, h.qos, h.retain, {}, std::move(h.subscription_ids));
      continue;
    }
    more = deliver_one();
  }
  // How many handed messages went out, in the same write as their inflight records.
  if (handed_sent && session_->persistent()) progress_.offsets.emplace_back(kHandedProgressQueue, session_->handed_taken);
  flush_progress();
  if (handed_sent && session_->handed.empty()) {
    // All gone out: the record without the list, then its count.
    session_->rebase_handed();
    if (session_->persistent()) {
      broker_.ingest.save_session(client_id_, encode_session_record(*session_));
      Ingest::SessionProgress erase;
      erase.erased_queues.push_back(kHandedProgressQueue);
      broker_.ingest.save_progress(client_id_, std::move(erase));
    }
  }
  // Out of budget with messages waiting: this worker is the limit (pacing, worker.hpp).
  worker_.set_lagging(this, more && turn == kDeliveriesPerTurn);
  if (more) schedule_delivery();  // yield the worker, then go on
}

bool Connection::deliver_one() {
  // Only a persistent session saves positions (flush_progress drops the rest).
  const bool saves_positions = session_->persistent();
  std::uint64_t next = UINT64_MAX;
  for (auto& [queue, c] : session_->cursors) {
    if (c.prefetch.empty() && c.announced > c.position) {
      if (!c.behind_retention_reported && broker_.cache.behind_retention(c.position)) {
        // Counted and logged once per queue: retention removed messages this
        // session had not read yet (never silently: docs/durability.md, "Retention").
        c.behind_retention_reported = true;
        Metrics::add(broker_.metrics.sessions_behind_retention);
        log::warn(describe() + ": fell behind retention on queue '" + queue + "' (position " +
                  std::to_string(c.position) + "); messages it had not read were removed");
      }
      std::uint64_t skipped = 0, gone_upto = 0;
      // Nothing past the last batch the ingest thread finished: its messages
      // may be in this queue's cache and not yet in another queue this session
      // reads, and would then go out once per queue. Their events come later.
      const std::uint64_t visible = broker_.ingest.visible_seq();
      auto batch = broker_.cache.pull(queue, c.position, kPullBatch, &skipped, &gone_upto, &c.read_mark, visible);
      if (skipped) Metrics::add(broker_.metrics.dropped_qos0_slow_subscriber, skipped);
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
  if (next == UINT64_MAX) return false;

  store::MessagePtr message;
  // The queues that deliver it, by pointer into `cursors` (valid within this
  // call): copied as strings only when a QoS 1/2 inflight entry needs them.
  matched_queues_.clear();
  std::vector<std::uint32_t> ids;
  std::uint8_t qos = 0;
  bool wanted = false, retain = false;
  for (auto& [queue, c] : session_->cursors) {
    if (c.prefetch.empty() || c.prefetch.front()->seq != next) continue;
    message = c.prefetch.front();
    const Subscription* sub = session_->subscription_for_queue(queue);
    if (!sub) continue;
    if (sub->options.no_local && message->origin_client_id == client_id_) continue;  // MQTT-3.8.3-3
    wanted = true;
    qos = std::max(qos, std::min(message->qos, sub->options.qos));
    retain = retain || (sub->options.retain_as_published && message->retain);
    if (sub->options.subscription_id) ids.push_back(*sub->options.subscription_id);
    matched_queues_.push_back(&queue);
  }
  if (bridge_) qos = std::min(qos, remote_maximum_qos_);  // the remote's Maximum QoS (v5 CONNACK)
  // Cluster mode: handed over from another gateway, and queued here as well.
  const bool handed_already = wanted && message->stream_seq && session_->handed_stream_seqs.count(message->stream_seq);
  if (handed_already) wanted = false;
  if (wanted && qos > 0 && session_->inflight.size() >= window()) return false;  // wait for an ack

  std::vector<std::string> queues;
  if (wanted && qos > 0)
    for (const auto* q : matched_queues_) queues.push_back(*q);
  for (auto& [queue, c] : session_->cursors) {
    if (c.prefetch.empty() || c.prefetch.front()->seq != next) continue;
    c.prefetch.pop_front();
    c.position = next;
    if (saves_positions) dirty_offsets_.push_back(queue);
  }
  if (handed_already) {
    session_->handed_stream_seqs.erase(message->stream_seq);
    return true;
  }
  if (!wanted) {
    Metrics::add(broker_.metrics.dropped_no_local);
    return true;
  }
  if (message->expires_at_ms && message->expired_at(store::wall_clock_ms())) {
    Metrics::add(broker_.metrics.dropped_expired);  // MQTT-3.3.2-5
    return true;
  }
  if (!may_read(*message)) return true;
  send_message(message, qos, retain, std::move(queues), std::move(ids));
  return true;
}

bool Connection::may_read(const store::Message& message) {
  // Read access, per message: a message the ACL hides is counted, never
  // silently taken as delivered (a reload may have narrowed the rules).
  if (access_.may_read(message.topic)) return true;
  Metrics::add(broker_.metrics.dropped_acl);
  return false;
}

bool Connection::send_message(const store::MessagePtr& message, std::uint8_t qos, bool retain,
                              std::vector<std::string> queues, std::vector<std::uint32_t> subscription_ids) {
  // Fan-out: the bytes encoded once per variant of the message and shared by
  // every delivery of it (shared_publish.hpp), flags and packet id patched.
  // Not where they differ per delivery: a bridge maps the topic, MQTT 5
  // subscription identifiers and topic aliases are per subscriber.
  if (!bridge_ && (!v5() || (subscription_ids.empty() && client_topic_alias_maximum_ == 0))) {
    if (const store::EncodedPublish* shared = shared_publish(*message, v5(), qos > 0, broker_.shared_publish_budget)) {
      // MQTT-3.1.2-25 (the same size as the per-delivery encoding below).
      if (shared->bytes.size() > client_max_packet_size_) {
        Metrics::add(broker_.metrics.dropped_too_large_for_client);
        return false;
      }
      const std::uint16_t packet_id = track_delivery(message, qos, retain, std::move(queues), std::move(subscription_ids));
      if (session_->persistent() && (qos > 0 || !held_.empty()))
        mqtt::append_patched_publish(shared->bytes, shared->packet_id_at, qos, retain, false, packet_id, held_);
      else
        send_shared(*shared, qos, retain, packet_id);
      return true;
    }
  }
  // Encoded straight from the shared message (PublishView): no Publish with
  // copies of topic and payload per delivery. Properties only for MQTT 5.
  mqtt::Properties props;
  if (v5()) {
    if (has_forwarded_properties(*message)) publish_properties_from_message(*message, store::wall_clock_ms(), props);
    props.subscription_identifiers = subscription_ids;
  }
  std::string_view topic = message->topic;
  std::string bridged;  // the remote topic (bridge links only)
  bool wire_retain = retain;  // a remote without retain gets 0; the inflight record keeps what was asked
  if (bridge_) {
    bridged = message->topic;
    if (!bridge_outbound(bridged, wire_retain, qos, props)) return false;
    topic = bridged;
  }
  mqtt::PublishView publish{topic, message->payload, qos, wire_retain, false, 0, v5() ? &props : nullptr};
  if (qos > 0) publish.packet_id = 1;  // sized like the real one
  // MQTT-3.1.2-25: never send a packet larger than the client accepts.
  if (mqtt::encoded_size(publish, version_) > client_max_packet_size_) {
    Metrics::add(broker_.metrics.dropped_too_large_for_client);
    return false;
  }
  if (v5() && client_topic_alias_maximum_ > 0) {
    // Assign aliases until the client's maximum; later topics go in full.
    auto alias = outbound_aliases_.find(std::string(topic));
    if (alias != outbound_aliases_.end()) {
      props.topic_alias = alias->second;
      publish.topic = {};
    } else if (next_outbound_alias_ <= client_topic_alias_maximum_) {
      props.topic_alias = next_outbound_alias_;
      outbound_aliases_.emplace(std::string(topic), next_outbound_alias_++);
    }
  }
  const bool durable = session_->persistent();
  publish.packet_id = track_delivery(message, qos, retain, std::move(queues), std::move(subscription_ids));
  if (durable && (qos > 0 || !held_.empty())) {
    // Behind the commit of its inflight record; QoS 0 keeps its place in line.
    mqtt::encode(publish, version_, held_);
  } else {
    send(publish);
  }
  return true;
}

std::uint16_t Connection::track_delivery(const store::MessagePtr& message, std::uint8_t qos, bool retain,
                                         std::vector<std::string> queues, std::vector<std::uint32_t> subscription_ids) {
  std::uint16_t packet_id = 0;
  if (qos > 0) {
    packet_id = session_->allocate_packet_id();
    session_->inflight.push_back(
        InflightMessage{packet_id, message, qos, retain, false, std::move(queues), std::move(subscription_ids)});
    if (session_->persistent())
      progress_.inflight.emplace_back(packet_id, encode_inflight_record(session_->inflight.back()));
  }
  // Counted before the bytes can reach the client: whoever has received a
  // message sees it counted.
  broker_.metrics.count_publish_sent(qos);
  ++session_->traffic.messages_out;
  return packet_id;
}

bool Connection::bridge_outbound(std::string& topic, bool& retain, std::uint8_t qos, mqtt::Properties& properties) {
  auto remote = bridge_remote_topic(topic);
  if (!remote) {
    Metrics::add(broker_.metrics.bridge_unmapped);
    return false;
  }
  topic = std::move(*remote);
  properties.subscription_identifiers.clear();  // client to server: none (MQTT-3.3.4-6)
  if (!remote_retain_available_) retain = false;  // MQTT-3.2.2-14: the remote keeps none
  if (qos == 0) bridge_->count_out();             // QoS 1/2: counted when acknowledged
  return true;
}

void Connection::resend_inflight() {
  // MQTT-4.4.0-1: unacknowledged PUBLISH (DUP set) and PUBREL go out again with
  // their original packet ids, within the Receive Maximum this connection
  // announced (MQTT-3.3.4-9): the rest follow as acknowledgements free the window.
  for (auto& m : session_->inflight) m.resend = true;
  resend_within_window();
}

bool Connection::resend_within_window() {
  std::size_t on_wire = 0;
  for (const auto& m : session_->inflight) on_wire += m.resend ? 0 : 1;
  auto now = store::wall_clock_ms();
  bool durable = session_->persistent();
  for (auto it = session_->inflight.begin(); it != session_->inflight.end();) {
    if (!it->resend) {
      ++it;
      continue;
    }
    if (on_wire >= window()) return true;  // more to resend later
    it->resend = false;
    ++on_wire;
    if (it->pubrec_received) {
      mqtt::PubResponse rel;
      rel.type = PacketType::pubrel;
      rel.packet_id = it->packet_id;
      send(rel);
      if (state_ != State::connected) return true;  // the output overflowed: closed, session detached
      ++it;
      continue;
    }
    auto publish = publish_from_message(*it->message, it->qos, it->retain, now);
    publish.dup = true;
    publish.packet_id = it->packet_id;
    if (v5()) publish.properties.subscription_identifiers = it->subscription_ids;
    // Discarded as if delivered: its offsets move on, its record goes.
    auto discard = [&] {
      for (auto& q : it->queues) dirty_offsets_.push_back(q);
      if (durable) progress_.inflight.emplace_back(it->packet_id, std::nullopt);
      --on_wire;
      return session_->inflight.erase(it);
    };
    if (bridge_ && !bridge_outbound(publish.topic, publish.retain, publish.qos, publish.properties)) {
      it = discard();  // no out rule maps it any more (the rules changed); counted as bridge_unmapped
      continue;
    }
    if (mqtt::encoded_size(publish, version_) > client_max_packet_size_) {
      Metrics::add(broker_.metrics.dropped_too_large_for_client);
      it = discard();  // MQTT-3.1.2-25: too large for this connection
      continue;
    }
    send(publish);
    if (state_ != State::connected) return true;  // the output overflowed: closed, session detached
    ++it;
  }
  return false;
}

void Connection::handle_ack(const mqtt::PubResponse& ack) {
  InflightMessage* m = session_->find_inflight(ack.packet_id);
  bool durable = session_->persistent();
  auto finished = [&] {
    if (bridge_) bridge_->count_out();
    auto queues = session_->erase_inflight(ack.packet_id);
    if (!durable) return;  // only a persistent session saves positions (flush_progress)
    for (auto& q : queues) dirty_offsets_.push_back(std::move(q));
    progress_.inflight.emplace_back(ack.packet_id, std::nullopt);
  };
  switch (ack.type) {
    case PacketType::puback:
      if (m && m->qos == 1) finished();
      break;
    case PacketType::pubrec: {
      mqtt::PubResponse rel;
      rel.type = PacketType::pubrel;
      rel.packet_id = ack.packet_id;
      if (!m || m->qos != 2) {
        if (v5()) rel.reason_code = static_cast<std::uint8_t>(ReasonCode::packet_identifier_not_found);
        send(rel);
        break;
      }
      if (v5() && ack.reason_code >= 0x80) {
        finished();  // MQTT-4.3.3: a failure PUBREC ends the exchange
        break;
      }
      m->pubrec_received = true;  // the client owns it now: after a restart, PUBREL is resent
      if (durable)
        for (auto& q : m->queues) dirty_offsets_.push_back(q);
      if (durable) {
        // PUBREL only once that state is durable: a client that has seen PUBREL
        // forgets the packet id, so a PUBLISH resent after a crash would be new to it.
        progress_.inflight.emplace_back(ack.packet_id, encode_inflight_record(*m));
        mqtt::encode(rel, version_, held_);
      } else {
        send(rel);
      }
      break;
    }
    case PacketType::pubcomp:
      if (m && m->pubrec_received) finished();
      break;
    default:
      break;
  }
  schedule_delivery();
}

void Connection::flush_progress() {
  if (!session_ || !session_->persistent()) {
    dirty_offsets_.clear();
    return;
  }
  std::sort(dirty_offsets_.begin(), dirty_offsets_.end());
  dirty_offsets_.erase(std::unique(dirty_offsets_.begin(), dirty_offsets_.end()), dirty_offsets_.end());
  for (const auto& queue : dirty_offsets_) {
    auto it = session_->cursors.find(queue);
    if (it == session_->cursors.end() || it->second.position == it->second.saved) continue;
    it->second.saved = it->second.position;
    progress_.offsets.emplace_back(queue, it->second.position);
  }
  dirty_offsets_.clear();
  if (progress_.empty()) return;
  Ingest::Done done;
  if (std::size_t bytes = held_.size() - chunked_bytes_) {
    hold_chunks_.push_back(bytes);
    chunked_bytes_ += bytes;
    done = [self = shared_from_this()](std::error_code ec) {
      boost::asio::post(self->worker_.io(), [self, ec] {
        // Inflight records not durable: nothing held may go out; the session
        // resends on reconnect from what is stored.
        if (ec) return self->close_for_store_error();
        self->release_held();
      });
    };
  }
  broker_.ingest.save_progress(client_id_, std::exchange(progress_, {}), std::move(done));
}

void Connection::release_held() {
  if (hold_chunks_.empty() || state_ != State::connected) return;
  std::size_t n = hold_chunks_.front();
  hold_chunks_.pop_front();
  chunked_bytes_ -= n;
  if (hold_chunks_.empty()) n = held_.size();  // the QoS 0 tail needs no commit of its own
  out_.append(held_, 0, n);
  held_.erase(0, n);
  wake_writer();
}

}  // namespace tidegate
