// The SessionOwner side of a connection (session_registry.hpp): takeovers,
// the admin API's views and kicks, and the session's detachment when the
// connection ends. The calls come from any thread and post to the worker;
// everything else here runs on the worker thread.
#include <boost/asio/post.hpp>

#include "gateway/connection/connection_driver.hpp"
#include "gateway/ops/log.hpp"
#include "gateway/pipeline/message_builder.hpp"
#include "gateway/pipeline/topic_match.hpp"
#include "gateway/session/session_end.hpp"

namespace tidegate {

using mqtt::ReasonCode;

void ConnectionDriver::take_over() {
  boost::asio::post(worker_.io(), [self = shared_from_this()] {
    if (self->state_ == State::connected) {
      self->note_close_reason("taken_over", "by a new connection");
      self->close(ReasonCode::session_taken_over, true);
    } else if (self->state_ == State::awaiting_session && self->session_) {
      // Taken over before our CONNACK went out: give the session on at once.
      log::debug(self->describe() + ": taken over before it was connected");
      self->close(std::nullopt, false);
    } else if (self->state_ == State::awaiting_session && self->fetching_session_) {
      // Its session is on its way from another gateway: passed on when it arrives.
      self->taken_over_while_fetching_ = true;
    }
  });
}

void ConnectionDriver::taken_over_elsewhere(std::int64_t claimed_at_ms, bool lose_ties,
                                            std::function<void(std::int64_t connected_ms)> keep) {
  boost::asio::post(worker_.io(), [self = shared_from_this(), claimed_at_ms, lose_ties, keep = std::move(keep)] {
    if (self->state_ != State::connected) return;
    auto since = self->summary_.connected_since_ms.value_or(0);
    if (since > claimed_at_ms || (since == claimed_at_ms && !lose_ties)) {
      if (keep) keep(since);  // we are the newer one
      return;
    }
    self->note_close_reason("taken_over", "by a connection on another gateway");
    Metrics::add(self->broker_.metrics.taken_over_elsewhere);
    self->end_on_detach_ = true;
    self->close(ReasonCode::session_taken_over, true);
  });
}

void ConnectionDriver::superseded() {
  boost::asio::post(worker_.io(), [self = shared_from_this()] {
    // A newer connection claimed the id before our session arrived.
    if (self->state_ == State::awaiting_session && !self->session_) self->close(std::nullopt, false);
  });
}

void ConnectionDriver::session_handed(std::unique_ptr<Session> session) {
  boost::asio::post(worker_.io(), [self = shared_from_this(), session = std::move(session)]() mutable {
    if (self->state_ != State::awaiting_session) {
      // We went away while waiting: pass the session on or park it.
      self->broker_.registry.release(self->client_id_, self.get(), std::move(session));
      return;
    }
    self->attach(std::move(session));
  });
}

void ConnectionDriver::inspect(std::function<void(SessionView)> done) {
  boost::asio::post(worker_.io(), [self = shared_from_this(), done = std::move(done)] {
    SessionView view = self->summary_;
    if (self->session_) describe_session(*self->session_, true, view);
    view.online = self->state_ == State::connected;
    done(std::move(view));
  });
}

void ConnectionDriver::kick(bool end_session) {
  boost::asio::post(worker_.io(), [self = shared_from_this(), end_session] {
    if (self->state_ != State::connected) return;
    self->note_close_reason(end_session ? "deleted" : "kicked", "by the admin API");
    self->end_on_detach_ = end_session;
    self->close(ReasonCode::administrative_action, true);
  });
}

void ConnectionDriver::fill_summary(std::uint32_t expiry_interval) {
  summary_.client_id = client_id_;
  summary_.online = true;
  summary_.address = remote_;
  summary_.protocol = static_cast<int>(core_.version());
  summary_.connected_since_ms = store::wall_clock_ms();
  summary_.keep_alive = core_.keep_alive();
  summary_.persistent = expiry_interval > 0;
  summary_.expiry_interval = expiry_interval;
}

void ConnectionDriver::publish_will_message(const mqtt::Will& will) {
  auto message = message_from_will(will, client_id_, store::wall_clock_ms());
  broker_.ingest.publish(std::move(message), std::nullopt, {});
}

void ConnectionDriver::reoffer_shared() {
  // Shared subscriptions: QoS 1 messages this member did not acknowledge go to
  // another member (MQTT 4.8.2); QoS 2 stays with it for its return.
  for (const auto& [filter, sub] : session_->subscriptions) {
    if (parse_shared(filter).group.empty()) continue;
    broker_.ingest.set_member_online(client_id_, filter, false);
    std::vector<std::uint64_t> seqs;
    for (auto it = session_->inflight.begin(); it != session_->inflight.end();) {
      bool mine = it->qos == 1 && it->message &&
                  std::find(it->queues.begin(), it->queues.end(), sub.queue) != it->queues.end();
      if (mine) {
        seqs.push_back(it->message->seq);
        if (session_->persistent()) delivery_.progress().inflight.emplace_back(it->packet_id, std::nullopt);
        it = session_->inflight.erase(it);
      } else {
        ++it;
      }
    }
    if (!seqs.empty()) broker_.ingest.reoffer(client_id_, filter, std::move(seqs));
  }
}

void ConnectionDriver::detach_session(bool publish_will) {
  flush_publishes();  // what the client sent before it went away, then its will
  if (std::exchange(announced_, false))
    broker_.cluster().announce_disconnect(client_id_, session_ && session_->persistent() && !end_on_detach_);
  if (!session_) {
    broker_.registry.release(client_id_, this, nullptr);
    return;
  }
  auto now = store::wall_clock_ms();
  for (auto& [queue, cursor] : session_->cursors) {
    worker_.remove_reader(queue, this);
    cursor.prefetch.clear();
  }
  reoffer_shared();
  for (auto& [queue, cursor] : session_->cursors) delivery_.mark_dirty(queue);
  delivery_.flush_progress();
  // Held bytes were never sent: the inflight entries go out again (DUP) on reconnect.
  delivery_.drop_held();

  if (publish_will && session_->will) {
    std::uint32_t delay = session_->will->properties.will_delay_interval.value_or(0);
    if (delay > 0 && session_->persistent())
      session_->pending_will = std::make_unique<PendingWill>(PendingWill{*session_->will, now + std::int64_t(delay) * 1000});
    else
      publish_will_message(*session_->will);
  }
  session_->will.reset();
  session_->retained_pending.clear();
  session_->disconnected_at_ms = now;
  if (session_->persistent() && !end_on_detach_) {
    broker_.ingest.save_session(client_id_, encode_session_record(*session_));
    broker_.registry.release(client_id_, this, std::move(session_));
  } else {
    end_session(broker_.ingest, *session_);
    session_.reset();
    broker_.registry.release(client_id_, this, nullptr);
  }
}

}  // namespace tidegate
