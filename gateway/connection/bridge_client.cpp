// The client role of a Connection: a bridge's link to its remote broker
// (docs/bridge.md). Worker thread.
//
// The link speaks MQTT as a client: CONNECT with a persistent remote session
// (clean start off), SUBSCRIBE for the "in" rules, PINGREQ every keep alive.
// Locally it is the session "$bridge/<name>", persistent and never expiring,
// whose subscriptions are the "out" rules (no local: what the bridge brought
// in never goes back out); everything else is the device code path.
#include <boost/asio/post.hpp>

#include "gateway/bridge/bridge_link.hpp"
#include "gateway/bridge/bridge_rules.hpp"
#include "gateway/connection/connection.hpp"
#include "gateway/ops/log.hpp"

namespace tidegate {

using mqtt::ReasonCode;

void Connection::send_bridge_connect() {
  const auto& b = bridge_->config();
  mqtt::Connect c;
  c.version = version_;
  c.client_id = b.client_id;
  c.clean_start = false;  // the remote keeps our "in" subscriptions and their messages while the link is down
  c.keep_alive = b.keep_alive;
  c.username = b.username;
  c.password = b.password;
  if (v5()) {
    c.properties.session_expiry_interval = b.session_expiry;
    if (broker_.config.receive_maximum != 65535) c.properties.receive_maximum = broker_.config.receive_maximum;
    c.properties.maximum_packet_size = broker_.config.max_packet_size;
    if (broker_.config.topic_alias_maximum > 0) c.properties.topic_alias_maximum = broker_.config.topic_alias_maximum;
  }
  keep_alive_ = b.keep_alive;
  state_ = State::awaiting_connack;
  send(c);
}

void Connection::handle_connack(const mqtt::Connack& ack) {
  if (ack.reason_code != 0) {
    close_reason_ = "CONNACK refused: " +
                    std::string(v5() ? mqtt::to_string(static_cast<ReasonCode>(ack.reason_code))
                                     : mqtt::to_string(static_cast<mqtt::ConnectReturnCode>(ack.reason_code)));
    return close(std::nullopt, false);
  }
  if (v5()) {
    const auto& p = ack.properties;
    client_receive_maximum_ = p.receive_maximum.value_or(65535);
    client_max_packet_size_ = p.maximum_packet_size.value_or(268435460);
    if (p.server_keep_alive) keep_alive_ = *p.server_keep_alive;  // MQTT-3.2.2-21
    remote_maximum_qos_ = p.maximum_qos.value_or(2);
    remote_retain_available_ = p.retain_available.value_or(1) == 1;
  }
  fill_summary(kSessionNeverExpires);

  if (bridge_->stopped()) {  // reload or shutdown: the session is not ours to take any more
    close_reason_ = "bridge stopped";
    return close(std::nullopt, false);
  }
  state_ = State::awaiting_session;
  bool waiting = false;
  auto previous = broker_.registry.claim(client_id_, shared_from_this(), waiting);
  if (!waiting) bridge_attach(std::move(previous));
}

void Connection::bridge_attach(std::unique_ptr<Session> session) {
  keep_alive_timer_.cancel();  // the CONNACK deadline
  if (bridge_->stopped()) {
    // Stopped (reload) while connecting: the session goes back untouched.
    broker_.registry.release(client_id_, this, std::move(session));
    state_ = State::awaiting_connect;  // nothing to detach
    return close(std::nullopt, false);
  }
  bool fresh = !session;
  // The Broker prepared the session at start; it is missing only if the
  // admin API deleted it since: then it starts again from now.
  session_ = fresh ? std::make_unique<Session>(client_id_, version_) : std::move(session);
  session_->version = version_;
  session_->expiry_interval = kSessionNeverExpires;
  state_ = State::connected;
  session_wake_.cancel();
  if (fresh) subscribe_bridge_out_rules();
  arm_keep_alive();
  for (auto& [queue, cursor] : session_->cursors) {
    worker_.add_reader(queue, this);
    cursor.announced = UINT64_MAX;
  }
  const auto& rules = bridge_->config().in;
  if (!rules.empty()) {
    // Its packet id comes from the session's, so it never equals one of a
    // PUBLISH in flight (MQTT-2.2.1-3).
    mqtt::Subscribe subscribe;
    subscribe.packet_id = session_->allocate_packet_id();
    for (const auto& rule : rules) {
      mqtt::SubscriptionRequest request;
      request.filter = rule.filter;
      request.qos = rule.qos;
      request.no_local = v5();  // our own publishes do not come back (3.1.1: use prefixes)
      request.retain_as_published = v5();
      subscribe.subscriptions.push_back(std::move(request));
    }
    send(subscribe);
  }
  bridge_->on_connected();
  resend_inflight();
  schedule_delivery();
}

void Connection::subscribe_bridge_out_rules() {
  for (const auto& rule : bridge_->config().out) {
    session_->subscriptions.emplace(rule.filter, Subscription{rule.filter, rule.filter, out_rule_options(rule)});
    start_reading(rule.filter, broker_.ingest.visible_seq());
    auto self = shared_from_this();
    broker_.ingest.subscribe(client_id_, rule.filter, false, [self](Ingest::SubscribeResult r) {
      boost::asio::post(self->worker_.io(), [self, r = std::move(r)] {
        if (!self->session_) return;
        auto it = self->session_->cursors.find(r.queue);
        if (it != self->session_->cursors.end() && it->second.position < r.start_after) {
          it->second.position = r.start_after;
          self->dirty_offsets_.push_back(r.queue);
          self->flush_progress();
        }
      });
    });
  }
  flush_progress();
  broker_.ingest.save_session(client_id_, encode_session_record(*session_));
}

void Connection::on_bridge_keep_alive() {
  if (state_ != State::connected) return;
  auto now = std::chrono::steady_clock::now();
  if (ping_outstanding_ && last_packet_at_ < ping_sent_at_) {
    // Nothing at all from the remote for a whole keep alive period after a PINGREQ.
    close_reason_ = "no answer from the remote broker within keep alive";
    log::warn(describe() + ": " + close_reason_);
    return close(std::nullopt, false);
  }
  send(mqtt::Pingreq{});
  ping_outstanding_ = true;
  ping_sent_at_ = now;
  keep_alive_timer_.expires_after(std::chrono::seconds(keep_alive_));
  keep_alive_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->on_bridge_keep_alive();
  });
}

void Connection::handle_suback(const mqtt::Suback& ack) {
  const auto& rules = bridge_->config().in;
  for (std::size_t i = 0; i < ack.reason_codes.size() && i < rules.size(); ++i)
    if (ack.reason_codes[i] >= 0x80)
      log::warn(describe() + ": the remote broker refused the subscription '" + rules[i].filter + "' (" +
                (v5() ? mqtt::to_string(static_cast<ReasonCode>(ack.reason_codes[i])) : "0x80") + ")");
}

std::optional<std::string> Connection::bridge_remote_topic(const std::string& local_topic) const {
  return map_topic(bridge_->config().out, local_topic);
}

}  // namespace tidegate
