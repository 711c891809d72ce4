// Acknowledgements of deliveries, resends within the window, and the
// committed offset of a persistent session with the bytes held behind it
// (docs/design.md, "Pulling and pushing"). Worker thread.
#include <boost/asio/post.hpp>

#include "gateway/bridge/link_mapping.hpp"
#include "gateway/connection/connection_driver.hpp"
#include "gateway/pipeline/message_builder.hpp"
#include "gateway/session/inflight_record.hpp"

namespace tidegate {

using mqtt::PacketType;
using mqtt::ReasonCode;

void SessionDelivery::resend_inflight() {
  // MQTT-4.4.0-1: unacknowledged PUBLISH (DUP set) and PUBREL go out again with
  // their original packet ids, within the Receive Maximum this connection
  // announced (MQTT-3.3.4-9): the rest follow as acknowledgements free the window.
  for (auto& m : c_.session_->inflight) m.resend = true;
  resend_within_window();
}

bool SessionDelivery::resend_within_window() {
  auto& inflight = c_.session_->inflight;
  std::size_t on_wire = 0;
  for (const auto& m : inflight) on_wire += m.resend ? 0 : 1;
  auto now = store::wall_clock_ms();
  for (auto it = inflight.begin(); it != inflight.end();) {
    if (!it->resend) {
      ++it;
      continue;
    }
    if (on_wire >= window()) return true;  // more to resend later
    it->resend = false;
    ++on_wire;
    if (!resend(it, on_wire, now)) return true;  // the output overflowed: closed, session detached
  }
  return false;
}

bool SessionDelivery::resend(InflightIterator& it, std::size_t& on_wire, std::int64_t now) {
  auto& core = c_.core_;
  if (it->pubrec_received) {
    c_.send(core.ack(PacketType::pubrel, it->packet_id, ReasonCode::success));
    if (c_.state_ != ConnectionDriver::State::connected) return false;
    ++it;
    return true;
  }
  auto publish = publish_from_message(*it->message, it->qos, it->retain, now);
  publish.dup = true;
  publish.packet_id = it->packet_id;
  if (core.v5()) publish.properties.subscription_identifiers = it->subscription_ids;
  // Discarded as if delivered: its offsets move on, its record goes.
  auto discard = [&] {
    for (auto& q : it->queues) dirty_offsets_.push_back(q);
    if (c_.session_->persistent()) progress_.inflight.emplace_back(it->packet_id, std::nullopt);
    --on_wire;
    it = c_.session_->inflight.erase(it);
    return true;
  };
  if (c_.mapping_ && !c_.mapping_->outbound(publish.topic, publish.retain, publish.qos, publish.properties))
    return discard();  // no out rule maps it any more (the rules changed); the mapping counted it
  if (!core.fits_peer(mqtt::encoded_size(publish, core.version()))) {
    Metrics::add(c_.broker_.metrics.dropped_too_large_for_client);
    return discard();  // MQTT-3.1.2-25: too large for this connection
  }
  c_.send(publish);
  if (c_.state_ != ConnectionDriver::State::connected) return false;
  ++it;
  return true;
}

void SessionDelivery::handle_ack(const mqtt::PubResponse& ack) {
  auto& session = *c_.session_;
  InflightMessage* m = session.find_inflight(ack.packet_id);
  bool durable = session.persistent();
  auto finished = [&] {
    if (c_.mapping_) c_.mapping_->acknowledged();
    auto queues = session.erase_inflight(ack.packet_id);
    if (!durable) return;  // only a persistent session saves positions (flush_progress)
    for (auto& q : queues) dirty_offsets_.push_back(std::move(q));
    progress_.inflight.emplace_back(ack.packet_id, std::nullopt);
  };
  switch (ack.type) {
    case PacketType::puback:
      if (m && m->qos == 1) finished();
      break;
    case PacketType::pubrec: {
      if (!m || m->qos != 2) {
        c_.send(c_.core_.ack(PacketType::pubrel, ack.packet_id, ReasonCode::packet_identifier_not_found));
        break;
      }
      if (c_.v5() && ack.reason_code >= 0x80) {
        finished();  // MQTT-4.3.3: a failure PUBREC ends the exchange
        break;
      }
      m->pubrec_received = true;  // the client owns it now: after a restart, PUBREL is resent
      auto rel = c_.core_.ack(PacketType::pubrel, ack.packet_id, ReasonCode::success);
      if (!durable) {
        c_.send(rel);
        break;
      }
      // PUBREL only once that state is durable: a client that has seen PUBREL
      // forgets the packet id, so a PUBLISH resent after a crash would be new to it.
      for (auto& q : m->queues) dirty_offsets_.push_back(q);
      progress_.inflight.emplace_back(ack.packet_id, encode_inflight_record(*m));
      c_.core_.encode_to(rel, held_);
      break;
    }
    case PacketType::pubcomp:
      if (m && m->pubrec_received) finished();
      break;
    default:
      break;
  }
  schedule();
}

void SessionDelivery::flush_progress() {
  auto& session = c_.session_;
  if (!session || !session->persistent()) {
    dirty_offsets_.clear();
    return;
  }
  std::sort(dirty_offsets_.begin(), dirty_offsets_.end());
  dirty_offsets_.erase(std::unique(dirty_offsets_.begin(), dirty_offsets_.end()), dirty_offsets_.end());
  for (const auto& queue : dirty_offsets_) {
    auto it = session->cursors.find(queue);
    if (it == session->cursors.end() || it->second.position == it->second.saved) continue;
    it->second.saved = it->second.position;
    progress_.offsets.emplace_back(queue, it->second.position);
  }
  dirty_offsets_.clear();
  if (progress_.empty()) return;
  Ingest::Done done;
  if (std::size_t bytes = held_.size() - chunked_bytes_) {
    hold_chunks_.push_back(bytes);
    chunked_bytes_ += bytes;
    done = [self = c_.shared_from_this()](std::error_code ec) {
      boost::asio::post(self->worker_.io(), [self, ec] {
        // Inflight records not durable: nothing held may go out; the session
        // resends on reconnect from what is stored.
        if (ec) return self->close_for_store_error();
        self->delivery_.release_held();
      });
    };
  }
  c_.broker_.ingest.save_progress(c_.client_id_, std::exchange(progress_, {}), std::move(done));
}

void SessionDelivery::release_held() {
  if (hold_chunks_.empty() || c_.state_ != ConnectionDriver::State::connected) return;
  std::size_t n = hold_chunks_.front();
  hold_chunks_.pop_front();
  chunked_bytes_ -= n;
  if (hold_chunks_.empty()) n = held_.size();  // the QoS 0 tail needs no commit of its own
  c_.core_.output().append(held_, 0, n);
  held_.erase(0, n);
  c_.wake_writer();
}

}  // namespace tidegate
