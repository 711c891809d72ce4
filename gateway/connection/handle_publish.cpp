// Inbound PUBLISH and PUBREL. Worker thread. A QoS 1/2 publish is
// acknowledged only after the ingest thread has committed it (docs/design.md,
// "Queues and sequences"; docs/durability.md); a store error is answered with
// a failure code (v5) or no acknowledgement.
#include <boost/asio/post.hpp>

#include <algorithm>
#include <utility>

#include "gateway/bridge/bridge_link.hpp"
#include "gateway/bridge/bridge_rules.hpp"
#include "gateway/connection/connection.hpp"
#include "gateway/ops/log.hpp"
#include "gateway/pipeline/message_builder.hpp"
#include "gateway/pipeline/topic_match.hpp"

namespace tidegate {

using mqtt::PacketType;
using mqtt::ReasonCode;

bool Connection::within_topic_limits(std::string_view name) const {
  if (name.size() > LiveLimits::get(broker_.limits.max_topic_length)) return false;
  std::size_t levels = 1 + static_cast<std::size_t>(std::count(name.begin(), name.end(), '/'));
  return levels <= LiveLimits::get(broker_.limits.max_topic_levels);
}

void Connection::handle_publish(mqtt::Publish&& p) {
  broker_.metrics.count_publish_received(p.qos);
  if (p.qos == 0) qos0_in_this_read_ = true;
  ++session_->traffic.messages_in;
  if (bridge_) p.properties.subscription_identifiers.clear();  // the remote's, meaningless here
  if (!p.properties.subscription_identifiers.empty())  // MQTT-3.3.4-6: server to client only
    return protocol_error(ReasonCode::protocol_error, "subscription identifier in a client PUBLISH");
  if (v5() && p.properties.topic_alias) {
    std::uint16_t alias = *p.properties.topic_alias;
    if (alias == 0 || alias > broker_.config.topic_alias_maximum)
      return protocol_error(ReasonCode::topic_alias_invalid, "topic alias out of range");  // MQTT-3.3.2-9
    if (p.topic.empty()) {
      auto it = inbound_aliases_.find(alias);
      if (it == inbound_aliases_.end()) return protocol_error(ReasonCode::protocol_error, "unknown topic alias");
      p.topic = it->second;
    } else {
      inbound_aliases_[alias] = p.topic;
    }
    p.properties.topic_alias.reset();
  }
  if (p.topic.empty()) return protocol_error(ReasonCode::protocol_error, "empty topic name");
  if (bridge_ && !map_bridge_inbound(p)) return;

  auto respond = [this](PacketType type, std::uint16_t id, ReasonCode rc) {
    mqtt::PubResponse r;
    r.type = type;
    r.packet_id = id;
    r.reason_code = v5() ? static_cast<std::uint8_t>(rc) : 0;
    send(r);
  };

  // MQTT-4.3.3-10: a QoS 2 packet id still awaiting PUBREL is the same message.
  if (p.qos == 2 && session_->qos2_incoming.count(p.packet_id))
    return respond(PacketType::pubrec, p.packet_id, ReasonCode::success);

  if (p.qos > 0 && inbound_quota_used() >= broker_.config.receive_maximum && v5())
    return protocol_error(ReasonCode::receive_maximum_exceeded, "more unacknowledged QoS 1/2 publishes than announced");

  if (!within_topic_limits(p.topic)) {
    // Well formed, but over this server's limits: v5 says so (0x90); 3.1.1
    // cannot refuse a publish, so the connection is closed unacknowledged.
    Metrics::add(broker_.metrics.refused_topic_limits);
    if (!v5()) return close(std::nullopt, true);
    if (p.qos == 0) return protocol_error(ReasonCode::topic_name_invalid, "topic over max_topic_length/levels");
    return respond(p.qos == 1 ? PacketType::puback : PacketType::pubrec, p.packet_id, ReasonCode::topic_name_invalid);
  }

  if (!access_.may_publish(p.topic)) {
    // v5 gets 0x87; 3.1.1 cannot say no, so the message is acknowledged and dropped (counted).
    Metrics::add(broker_.metrics.publish_denied_acl);
    if (p.qos == 1) respond(PacketType::puback, p.packet_id, ReasonCode::not_authorized);
    if (p.qos == 2) respond(PacketType::pubrec, p.packet_id, ReasonCode::not_authorized);
    return;
  }

  if (broker_.plugins && !bridge_) broker_.plugins->message_published(client_id_, p.topic, p.payload, p.qos, p.retain);
  // Topic and payload move into the message; only p's scalar fields are read below.
  const std::uint8_t qos = p.qos;
  const std::uint16_t packet_id = p.packet_id;
  auto message = message_from_publish(std::move(p), client_id_, store::wall_clock_ms());
  if (qos == 0) {
    pending_publishes_.push_back({std::move(message), std::nullopt, {}, {}, false});
    return;
  }
  ++inbound_pending_;
  if (qos == 1) ++inbound_pending_qos1_;
  std::optional<std::pair<std::string, std::string>> record;
  if (qos == 2) {
    // The packet id is remembered in the same transaction as the message, so
    // a restart between PUBREC and PUBREL still recognises a resend.
    session_->qos2_incoming.insert(packet_id);
    if (session_->persistent()) record.emplace(client_id_, encode_session_record(*session_));
  }
  pending_publishes_.push_back(
      {std::move(message), std::move(record),
       [self = shared_from_this(), id = packet_id, qos](std::error_code ec, std::uint64_t, std::size_t queues) {
         boost::asio::post(self->worker_.io(),
                           [self, id, qos, ec, queues] { self->on_publish_committed(id, qos, ec, queues); });
       },
       {},
       false});
}

bool Connection::map_bridge_inbound(mqtt::Publish& p) {
  auto local = map_topic(bridge_->config().in, p.topic);
  if (local) {
    bridge_->count_in();
    p.topic = std::move(*local);
    return true;
  }
  // Overlapping subscriptions at the remote can send what no rule maps:
  // acknowledged (it is not ours to keep) and counted.
  Metrics::add(broker_.metrics.bridge_unmapped);
  log::debug(describe() + ": no in rule maps '" + p.topic + "'; dropped");
  mqtt::PubResponse r;
  r.type = p.qos == 1 ? PacketType::puback : PacketType::pubrec;
  r.packet_id = p.packet_id;
  if (p.qos == 2) {
    // Completes when PUBREL comes: remembered like any QoS 2 packet id.
    session_->qos2_incoming.insert(p.packet_id);
  }
  if (p.qos > 0) send(r);
  return false;
}

void Connection::flush_publishes() {
  if (pending_publishes_.empty()) return;
  // Pacing of QoS 0 ingress: the last QoS 0 publish of the batch reports its
  // commit, and the read loop reads no more until it has (one QoS 0 batch in
  // the ingest thread per connection). Otherwise a publisher is read far
  // ahead of what the ingest thread makes visible, and a subscriber finds
  // the queue's cached tail overrun (qos0_slow_subscriber) before its turn.
  // Only a read that carried many publishes (the publisher is ahead) is
  // paced: at a rate the gateway sustains, reads carry one or two, and a
  // completion posted back per read would cost a worker wake-up each.
  constexpr std::size_t kPacedBatch = 32;
  for (auto it = pending_publishes_.rbegin(); pending_publishes_.size() >= kPacedBatch && it != pending_publishes_.rend(); ++it) {
    if (it->message->qos != 0 || it->done) continue;
    ++qos0_batches_in_ingest_;
    it->done = [self = shared_from_this()](std::error_code, std::uint64_t, std::size_t) {
      boost::asio::post(self->worker_.io(), [self] {
        --self->qos0_batches_in_ingest_;
        self->session_wake_.cancel();  // the read loop may go on
      });
    };
    break;
  }
  broker_.ingest.publish_batch(std::exchange(pending_publishes_, {}));
}

void Connection::on_publish_committed(std::uint16_t packet_id, std::uint8_t qos, std::error_code ec,
                                      std::size_t queues) {
  --inbound_pending_;
  if (qos == 1) --inbound_pending_qos1_;
  session_wake_.cancel();  // a 3.1.1 reader paused on the quota may go on
  if (state_ != State::connected || !session_) return;
  if (ec) {
    Metrics::add(broker_.metrics.publish_refused_store);
    log::warn(describe() + ": publish refused, not acknowledged: " + ec.message());
    if (qos == 2) session_->qos2_incoming.erase(packet_id);
    if (bridge_) {
      // A remote broker takes any reason code as the end of the exchange and
      // forgets the message: never answer it negatively. Close unacknowledged;
      // the remote resends after the reconnect (the backoff keeps growing).
      bridge_->note_refusal();
      close_reason_ = "this gateway refused a message from the remote broker: " + ec.message();
      close(ReasonCode::quota_exceeded, false);
      return;
    }
    if (!v5()) {
      // 3.1.1 has no negative acknowledgement: close so the client resends.
      close(std::nullopt, false);
      return;
    }
    mqtt::PubResponse r;
    r.type = qos == 1 ? PacketType::puback : PacketType::pubrec;
    r.packet_id = packet_id;
    // A full store (its cap or the disk) or a retained quota: 0x97; anything else: 0x80.
    bool quota = ec == IngestError::quota_exceeded || ec == IngestError::store_full;
    r.reason_code = static_cast<std::uint8_t>(quota ? ReasonCode::quota_exceeded : ReasonCode::unspecified_error);
    send(r);
    return;
  }
  mqtt::PubResponse r;
  r.type = qos == 1 ? PacketType::puback : PacketType::pubrec;
  r.packet_id = packet_id;
  if (v5() && queues == 0) r.reason_code = static_cast<std::uint8_t>(ReasonCode::no_matching_subscribers);
  send(r);
}

void Connection::handle_pubrel(const mqtt::PubResponse& pubrel) {
  flush_publishes();
  bool known = session_->qos2_incoming.erase(pubrel.packet_id) > 0;
  mqtt::PubResponse comp;
  comp.type = PacketType::pubcomp;
  comp.packet_id = pubrel.packet_id;
  if (v5() && !known) comp.reason_code = static_cast<std::uint8_t>(ReasonCode::packet_identifier_not_found);
  if (!known || !session_->persistent()) return send(comp);
  // Forget the packet id durably before PUBCOMP, or a restart could take a
  // new message with the same id for a resend and drop it.
  broker_.ingest.save_session(client_id_, encode_session_record(*session_),
                              [self = shared_from_this(), comp](std::error_code ec) {
                                boost::asio::post(self->worker_.io(), [self, comp, ec] {
                                  if (ec) return self->close_for_store_error();  // the client resends PUBREL
                                  if (self->state_ == State::connected) self->send(comp);
                                });
                              });
}

}  // namespace tidegate
