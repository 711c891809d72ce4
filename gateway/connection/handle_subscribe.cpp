// SUBSCRIBE and UNSUBSCRIBE of a device. Worker thread. SUBACK is sent once
// every new subscription is registered with the ingest thread (and, for a
// persistent session, durable); retained messages follow it (MQTT-3.3.1-9).
#include <boost/asio/post.hpp>

#include "gateway/codec/utf8.hpp"
#include "gateway/connection/connection.hpp"
#include "gateway/pipeline/ingest.hpp"
#include "gateway/pipeline/topic_match.hpp"

namespace tidegate {

using mqtt::ReasonCode;

namespace {
struct PendingSuback {
  mqtt::Suback ack;
  std::vector<std::pair<store::MessagePtr, SubscriptionOptions>> retained;
};
}  // namespace

std::optional<ReasonCode> Connection::refusal(const std::string& filter) {
  if (!access_.may_subscribe(filter)) return ReasonCode::not_authorized;
  if (!within_topic_limits(filter)) {
    Metrics::add(broker_.metrics.refused_topic_limits);
    return ReasonCode::topic_filter_invalid;
  }
  if (!session_->subscriptions.count(filter) &&
      session_->subscriptions.size() >= LiveLimits::get(broker_.limits.max_subscriptions_per_client)) {
    Metrics::add(broker_.metrics.refused_subscription_quota);
    return ReasonCode::quota_exceeded;
  }
  return std::nullopt;
}

void Connection::handle_subscribe(mqtt::Subscribe&& s) {
  flush_publishes();  // a publish sent before this SUBSCRIBE is not for it
  auto pending = std::make_shared<PendingSuback>();
  pending->ack.packet_id = s.packet_id;
  std::optional<std::uint32_t> subscription_id;
  if (!s.properties.subscription_identifiers.empty()) subscription_id = s.properties.subscription_identifiers.front();
  auto self = this->self();
  auto on_worker = [self](auto fn) {
    return [self, fn = std::move(fn)](auto&&... args) mutable {
      boost::asio::post(self->worker_.io(), [self, fn = std::move(fn), args...]() mutable {
        if (self->state_ == State::connected && self->session_) fn(args...);
      });
    };
  };
  for (const auto& req : s.subscriptions) {
    if (auto refused = refusal(req.filter)) {
      pending->ack.reason_codes.push_back(v5() ? static_cast<std::uint8_t>(*refused) : 0x80);
      continue;
    }
    SubscriptionOptions options{std::min<std::uint8_t>(req.qos, 2), req.no_local, req.retain_as_published,
                                req.retain_handling, subscription_id};
    pending->ack.reason_codes.push_back(options.qos);
    bool shared = !parse_shared(req.filter).group.empty();
    auto existing = session_->subscriptions.find(req.filter);
    bool exists = existing != session_->subscriptions.end();
    // MQTT-3.3.1-9..11: retain handling 0 always, 1 only for a new subscription.
    bool want_retained = !shared && (options.retain_handling == 0 || (options.retain_handling == 1 && !exists));
    if (exists) {
      existing->second.options = options;  // MQTT-3.8.4-3: replaces, keeps the queue
      if (want_retained)
        broker_.ingest.retained_matching(req.filter, on_worker([pending, options](std::vector<store::MessagePtr> r) {
          for (auto& m : r) pending->retained.emplace_back(std::move(m), options);
        }));
      continue;
    }
    Subscription sub{req.filter, shared ? Ingest::member_queue(req.filter, client_id_) : req.filter, options};
    session_->subscriptions.emplace(req.filter, sub);
    // The cursor exists at once, so the subscription reads even if this
    // connection is gone before the ingest thread answers; it starts no later
    // than the subscription's registration, and the answer moves it up to that.
    start_reading(sub.queue, broker_.ingest.visible_seq());
    broker_.ingest.subscribe(client_id_, req.filter, want_retained,
                             on_worker([self, pending, options](Ingest::SubscribeResult r) {
                               auto it = self->session_->cursors.find(r.queue);
                               if (it != self->session_->cursors.end() && it->second.position < r.start_after)
                                 it->second.position = r.start_after;
                               for (auto& m : r.retained) pending->retained.emplace_back(std::move(m), options);
                             }),
                             shared ? read_check() : nullptr);  // its read rights, for the group's round robin
  }

  // Completions come back in order: this one runs after all of the above.
  finish_subscribe(on_worker([self, pending] {
    self->delivery_.flush_progress();
    self->send(pending->ack);
    for (auto& r : pending->retained) self->session_->retained_pending.push_back(std::move(r));
    self->delivery_.schedule();
  }));
}

void Connection::finish_subscribe(std::function<void()> finish) {
  if (!session_->persistent()) return broker_.ingest.sync([finish]() mutable { finish(); });
  broker_.ingest.save_session(client_id_, encode_session_record(*session_),
                              [self = this->self(), finish](std::error_code ec) mutable {
                                if (!ec) return finish();
                                boost::asio::post(self->worker_.io(), [self] { self->close_for_store_error(); });
                              });
}

void Connection::handle_unsubscribe(mqtt::Unsubscribe&& u) {
  flush_publishes();
  mqtt::Unsuback ack;
  ack.packet_id = u.packet_id;
  for (const auto& filter : u.filters) {
    auto it = session_->subscriptions.find(filter);
    if (it == session_->subscriptions.end()) {
      ack.reason_codes.push_back(static_cast<std::uint8_t>(ReasonCode::no_subscription_existed));
      continue;
    }
    worker_.remove_reader(it->second.queue, this);
    session_->cursors.erase(it->second.queue);
    if (session_->persistent()) delivery_.progress().erased_queues.push_back(it->second.queue);
    session_->subscriptions.erase(it);
    broker_.ingest.unsubscribe(client_id_, filter);
    ack.reason_codes.push_back(static_cast<std::uint8_t>(ReasonCode::success));
  }
  if (!session_->persistent()) return send(ack);
  delivery_.flush_progress();
  broker_.ingest.save_session(client_id_, encode_session_record(*session_),
                              [self = this->self(), ack](std::error_code ec) {
                                boost::asio::post(self->worker_.io(), [self, ack, ec] {
                                  if (ec) return self->close_for_store_error();
                                  if (self->state_ == State::connected) self->send(ack);
                                });
                              });
}

}  // namespace tidegate
