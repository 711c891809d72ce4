// Inbound PUBLISH and PUBREL, for both roles. Worker thread. A QoS 1/2
// publish is acknowledged only after the ingest thread has committed it
// (docs/design.md, "Queues and sequences"; docs/durability.md); a store error
// is answered by the role (refuse_stored).
#include <boost/asio/post.hpp>

#include <algorithm>
#include <utility>

#include "gateway/bridge/link_mapping.hpp"
#include "gateway/connection/connection_driver.hpp"
#include "gateway/ops/log.hpp"
#include "gateway/pipeline/message_builder.hpp"

namespace tidegate {

using mqtt::PacketType;
using mqtt::ReasonCode;

bool ConnectionDriver::within_topic_limits(std::string_view name) const {
  if (name.size() > LiveLimits::get(broker_.limits.max_topic_length)) return false;
  std::size_t levels = 1 + static_cast<std::size_t>(std::count(name.begin(), name.end(), '/'));
  return levels <= LiveLimits::get(broker_.limits.max_topic_levels);
}

void ConnectionDriver::handle_publish(mqtt::Publish&& p) {
  broker_.metrics.count_publish_received(p.qos);
  if (p.qos == 0) qos0_in_this_read_ = true;
  ++session_->traffic.messages_in;
  if (auto violation = core_.resolve_publish(p)) return on_violation(*violation);
  if (mapping_ && !map_inbound(p)) return;
  if (mqtt::ProtocolCore::qos2_duplicate(p, session_->qos2_incoming))
    return send(core_.ack(PacketType::pubrec, p.packet_id, ReasonCode::success));
  if (core_.receive_maximum_exceeded(p.qos, session_->qos2_incoming.size()))
    return protocol_error(ReasonCode::receive_maximum_exceeded, "more unacknowledged QoS 1/2 publishes than announced");
  if (!admit_publish(p)) return;
  if (broker_.plugins && tells_plugins_)
    broker_.plugins->message_published(client_id_, p.topic, p.payload, p.qos, p.retain);
  ingest_publish(std::move(p));
}

bool ConnectionDriver::admit_publish(const mqtt::Publish& p) {
  if (!within_topic_limits(p.topic)) {
    // Well formed, but over this server's limits: v5 says so (0x90); 3.1.1
    // cannot refuse a publish, so the connection is closed unacknowledged.
    Metrics::add(broker_.metrics.refused_topic_limits);
    if (!v5()) {
      note_close_reason("topic_limits", "topic over max_topic_length/levels");
      close(std::nullopt, true);
    } else if (p.qos == 0) {
      protocol_error(ReasonCode::topic_name_invalid, "topic over max_topic_length/levels");
    } else {
      send(core_.ack(p.qos == 1 ? PacketType::puback : PacketType::pubrec, p.packet_id,
                     ReasonCode::topic_name_invalid));
    }
    return false;
  }
  if (!access_.may_publish(p.topic)) {
    // v5 gets 0x87; 3.1.1 cannot say no, so the message is acknowledged and dropped (counted).
    Metrics::add(broker_.metrics.publish_denied_acl);
    if (p.qos == 1) send(core_.ack(PacketType::puback, p.packet_id, ReasonCode::not_authorized));
    if (p.qos == 2) send(core_.ack(PacketType::pubrec, p.packet_id, ReasonCode::not_authorized));
    return false;
  }
  return true;
}

void ConnectionDriver::ingest_publish(mqtt::Publish&& p) {
  // Topic and payload move into the message; only p's scalar fields are read below.
  const std::uint8_t qos = p.qos;
  const std::uint16_t packet_id = p.packet_id;
  auto message = message_from_publish(std::move(p), client_id_, store::wall_clock_ms());
  pending_acks_.push_back({packet_id, qos});
  if (qos == 0) {
    pending_publishes_.push_back({std::move(message), std::nullopt, {}, {}, false});
    return;
  }
  core_.publish_pending(qos);
  std::optional<std::pair<std::string, std::string>> record;
  if (qos == 2) {
    // The packet id is remembered in the same transaction as the message, so
    // a restart between PUBREC and PUBREL still recognises a resend.
    session_->qos2_incoming.insert(packet_id);
    if (session_->persistent()) record.emplace(client_id_, encode_session_record(*session_));
  }
  // Acknowledged by the batch's completion (flush_publishes).
  pending_publishes_.push_back({std::move(message), std::move(record), {}, {}, false});
}

bool ConnectionDriver::map_inbound(mqtt::Publish& p) {
  if (mapping_->inbound(p)) return true;
  // Overlapping subscriptions at the remote can send what no rule maps:
  // acknowledged (it is not ours to keep) and counted.
  log::debug(describe() + ": no in rule maps '" + p.topic + "'; dropped");
  // Completes when PUBREL comes: remembered like any QoS 2 packet id.
  if (p.qos == 2) session_->qos2_incoming.insert(p.packet_id);
  if (p.qos > 0) {
    mqtt::PubResponse r;
    r.type = p.qos == 1 ? PacketType::puback : PacketType::pubrec;
    r.packet_id = p.packet_id;
    send(r);
  }
  return false;
}

void ConnectionDriver::flush_publishes() {
  if (pending_publishes_.empty()) return;
  // Pacing of QoS 0 ingress: a batch of many QoS 0 publishes reports its
  // commit, and the read loop reads no more until it has (one QoS 0 batch in
  // the ingest thread per connection). Otherwise a publisher is read far
  // ahead of what the ingest thread makes visible, and a subscriber finds
  // the queue's cached tail overrun (qos0_slow_subscriber) before its turn.
  // Only a read that carried many publishes (the publisher is ahead) is
  // paced: at a rate the gateway sustains, reads carry one or two, and a
  // completion posted back per read would cost a worker wake-up each.
  constexpr std::size_t kPacedBatch = 32;
  const bool acks = std::any_of(pending_acks_.begin(), pending_acks_.end(), [](auto& a) { return a.qos > 0; });
  const bool paced = pending_acks_.size() >= kPacedBatch &&
                     std::any_of(pending_acks_.begin(), pending_acks_.end(), [](auto& a) { return a.qos == 0; });
  if (!acks && !paced) {
    pending_acks_.clear();
    // A few QoS 0 publishes (an ordinary rate): applied on this worker when
    // nothing waits for the ingest thread, without a hand-off.
    if (broker_.ingest.publish_now(pending_publishes_)) return pending_publishes_.clear();
    return broker_.ingest.publish_batch(std::exchange(pending_publishes_, {}));
  }
  if (paced) ++qos0_batches_in_ingest_;
  // One completion for the batch, one post back to this worker: the
  // acknowledgements go out in the order the publishes came.
  broker_.ingest.publish_batch(
      std::exchange(pending_publishes_, {}),
      [self = shared_from_this(), ids = std::exchange(pending_acks_, {}), paced](
          std::vector<Ingest::PublishOutcome> outcomes) mutable {
        boost::asio::post(self->worker_.io(),
                          [self, ids = std::move(ids), outcomes = std::move(outcomes), paced] {
                            self->on_batch_committed(ids, outcomes, paced);
                          });
      });
}

void ConnectionDriver::on_batch_committed(const std::vector<InboundAck>& ids,
                                          const std::vector<Ingest::PublishOutcome>& outcomes, bool paced) {
  if (paced) {
    --qos0_batches_in_ingest_;
    wake_reader();  // the read loop may go on
  }
  for (std::size_t i = 0; i < ids.size(); ++i)
    if (ids[i].qos > 0) on_publish_committed(ids[i].packet_id, ids[i].qos, outcomes[i].ec, outcomes[i].queues);
}

void ConnectionDriver::on_publish_committed(std::uint16_t packet_id, std::uint8_t qos, std::error_code ec,
                                            std::size_t queues) {
  core_.publish_settled(qos);
  wake_reader();  // a 3.1.1 reader paused on the quota may go on
  if (state_ != State::connected || !session_) return;
  if (ec) {
    Metrics::add(broker_.metrics.publish_refused_store);
    log::warn(describe() + ": publish refused, not acknowledged: " + ec.message());
    if (qos == 2) session_->qos2_incoming.erase(packet_id);
    return refuse_stored(packet_id, qos, ec);
  }
  const bool unmatched = queues == 0;
  send(core_.ack(qos == 1 ? PacketType::puback : PacketType::pubrec, packet_id,
                 unmatched ? ReasonCode::no_matching_subscribers : ReasonCode::success));
}

void ConnectionDriver::handle_pubrel(const mqtt::PubResponse& pubrel) {
  flush_publishes();
  bool known = session_->qos2_incoming.erase(pubrel.packet_id) > 0;
  auto comp = core_.ack(PacketType::pubcomp, pubrel.packet_id,
                        known ? ReasonCode::success : ReasonCode::packet_identifier_not_found);
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

void ConnectionDriver::start_reading(const std::string& queue, std::uint64_t after) {
  auto [cursor, created] = session_->cursors.try_emplace(queue);
  if (created) {
    cursor->second.position = after;
    cursor->second.saved = kNeverSaved;  // so the next flush_progress() writes it
    delivery_.mark_dirty(queue);
  }
  cursor->second.announced = UINT64_MAX;
  worker_.add_reader(queue, this);
}

}  // namespace tidegate
