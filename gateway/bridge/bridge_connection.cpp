// A bridge's link to its remote broker: the driver's hooks for the client
// role (docs/bridge.md). Worker thread.
#include "gateway/bridge/bridge_connection.hpp"

#include <boost/asio/post.hpp>

#include "gateway/bridge/bridge_link.hpp"
#include "gateway/bridge/bridge_rules.hpp"
#include "gateway/ops/log.hpp"

namespace tidegate {

using mqtt::ReasonCode;

namespace {
// What the driver reads of its "listener" (no certificate CN as user name).
const ListenerConfig& bridge_listener() {
  static const ListenerConfig listener{};
  return listener;
}
}  // namespace

BridgeConnection::BridgeConnection(BrokerContext& broker, Worker& worker, std::unique_ptr<Transport> transport,
                                   std::shared_ptr<BridgeLink> link)
    : ConnectionDriver(broker, worker, std::move(transport), bridge_listener(),
                       ConnectionSlot::take(broker.metrics.connections_open), mqtt::Role::client,
                       link->config().protocol_version == 5 ? mqtt::ProtocolVersion::v5 : mqtt::ProtocolVersion::v311),
      link_(std::move(link)),
      link_mapping_(link_->config(), *link_, broker.metrics) {
  client_id_ = link_->config().local_client_id();
  access_ = ClientAccess::unrestricted();
  mapping_ = &link_mapping_;
}

std::string BridgeConnection::describe() const { return "bridge '" + link_->config().name + "' (" + remote_ + ")"; }

void BridgeConnection::on_connect_timeout() {
  if (state_ != State::awaiting_connack) return;
  close_reason_ = "no CONNACK within connect_timeout";
  close(std::nullopt, false);
}

void BridgeConnection::handle_control(mqtt::Packet&& packet) {
  // The core let through only what a server may send in this phase.
  if (auto* ack = std::get_if<mqtt::Connack>(&packet)) return handle_connack(*ack);
  if (auto* ack = std::get_if<mqtt::Suback>(&packet)) return handle_suback(*ack);
  if (auto* d = std::get_if<mqtt::Disconnect>(&packet)) {
    close_reason_ = "DISCONNECT from the remote broker" +
                    (v5() ? ": " + std::string(mqtt::to_string(static_cast<ReasonCode>(d->reason_code))) : "");
    close(std::nullopt, false);
  }
}

void BridgeConnection::on_violation(const mqtt::Violation& v) {
  if (!v.counted) {  // not CONNACK first
    close_reason_ = v.detail;
    return close(std::nullopt, false);
  }
  Metrics::add(broker_.metrics.protocol_errors);
  close_reason_ = "protocol error from the remote broker: " + v.detail;
  log::info(describe() + ": protocol error " + mqtt::to_string(v.reason) + ": " + v.detail);
  // A v5 remote is told (say_goodbye); before CONNACK nothing is said.
  close(v.reason, true);
}

void BridgeConnection::say_goodbye(ReasonCode reason) {
  // A stop or a kick is a normal DISCONNECT (both versions); a v5 remote is
  // told of our protocol errors.
  bool normal = reason == ReasonCode::server_shutting_down || reason == ReasonCode::administrative_action;
  if (close_reason_.empty()) close_reason_ = normal ? "closed by this gateway" : mqtt::to_string(reason);
  if (normal || (v5() && reason != ReasonCode::keep_alive_timeout)) {
    mqtt::Disconnect d;
    d.reason_code = normal ? 0 : static_cast<std::uint8_t>(reason);
    send(d);
  }
}

void BridgeConnection::on_keep_alive_expired() {
  // Nothing at all from the remote for a whole keep alive period after a PINGREQ.
  close_reason_ = "no answer from the remote broker within keep alive";
  log::warn(describe() + ": " + close_reason_);
  close(std::nullopt, false);
}

void BridgeConnection::refuse_stored(std::uint16_t, std::uint8_t, std::error_code ec) {
  // A remote broker takes any reason code as the end of the exchange and
  // forgets the message: never answer it negatively. Close unacknowledged;
  // the remote resends after the reconnect (the backoff keeps growing).
  link_->note_refusal();
  close_reason_ = "this gateway refused a message from the remote broker: " + ec.message();
  close(ReasonCode::quota_exceeded, false);
}

void BridgeConnection::on_finished() { link_->on_closed(close_reason_); }

void BridgeConnection::send_connect() {
  const auto& b = link_->config();
  mqtt::Connect c;
  c.version = core_.version();
  c.client_id = b.client_id;
  c.clean_start = false;  // the remote keeps our "in" subscriptions and their messages while the link is down
  c.keep_alive = b.keep_alive;
  c.username = b.username;
  c.password = b.password;
  if (v5()) {
    const auto& config = broker_.config;
    c.properties.session_expiry_interval = b.session_expiry;
    if (config.receive_maximum != 65535) c.properties.receive_maximum = config.receive_maximum;
    c.properties.maximum_packet_size = config.max_packet_size;
    if (config.topic_alias_maximum > 0) c.properties.topic_alias_maximum = config.topic_alias_maximum;
  }
  core_.set_keep_alive(b.keep_alive);
  state_ = State::awaiting_connack;
  send(c);
}

void BridgeConnection::handle_connack(const mqtt::Connack& ack) {
  if (ack.reason_code != 0) {
    close_reason_ = "CONNACK refused: " +
                    std::string(v5() ? mqtt::to_string(static_cast<ReasonCode>(ack.reason_code))
                                     : mqtt::to_string(static_cast<mqtt::ConnectReturnCode>(ack.reason_code)));
    return close(std::nullopt, false);
  }
  if (v5()) {  // the core has taken the remote's limits and keep alive
    link_mapping_.maximum_qos = ack.properties.maximum_qos.value_or(2);
    link_mapping_.retain_available = ack.properties.retain_available.value_or(1) == 1;
  }
  fill_summary(kSessionNeverExpires);

  if (link_->stopped()) {  // reload or shutdown: the session is not ours to take any more
    close_reason_ = "bridge stopped";
    return close(std::nullopt, false);
  }
  state_ = State::awaiting_session;
  bool waiting = false;
  auto previous = broker_.registry.claim(client_id_, shared_from_this(), waiting);
  if (!waiting) attach(std::move(previous));
}

void BridgeConnection::attach(std::unique_ptr<Session> session) {
  worker_.deadlines().cancel(keep_alive_deadline_);  // the CONNACK deadline
  if (link_->stopped()) {
    // Stopped (reload) while connecting: the session goes back untouched.
    broker_.registry.release(client_id_, this, std::move(session));
    state_ = State::awaiting_connect;  // nothing to detach
    return close(std::nullopt, false);
  }
  bool fresh = !session;
  // The Broker prepared the session at start; it is missing only if the
  // admin API deleted it since: then it starts again from now.
  session_ = fresh ? std::make_unique<Session>(client_id_, core_.version()) : std::move(session);
  session_->version = core_.version();
  session_->expiry_interval = kSessionNeverExpires;
  state_ = State::connected;
  wake_reader();
  if (fresh) subscribe_out_rules();
  arm_keep_alive();
  for (auto& [queue, cursor] : session_->cursors) {
    worker_.add_reader(queue, this);
    cursor.announced = UINT64_MAX;
  }
  subscribe_in_rules();
  link_->on_connected();
  delivery_.resend_inflight();
  delivery_.schedule();
}

void BridgeConnection::subscribe_in_rules() {
  const auto& rules = link_->config().in;
  if (rules.empty()) return;
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

void BridgeConnection::subscribe_out_rules() {
  for (const auto& rule : link_->config().out) {
    session_->subscriptions.emplace(rule.filter, Subscription{rule.filter, rule.filter, out_rule_options(rule)});
    start_reading(rule.filter, broker_.ingest.visible_seq());
    auto self = this->self();
    broker_.ingest.subscribe(client_id_, rule.filter, false, [self](Ingest::SubscribeResult r) {
      boost::asio::post(self->worker_.io(), [self, r = std::move(r)] {
        if (!self->session_) return;
        auto it = self->session_->cursors.find(r.queue);
        if (it != self->session_->cursors.end() && it->second.position < r.start_after) {
          it->second.position = r.start_after;
          self->delivery_.mark_dirty(r.queue);
          self->delivery_.flush_progress();
        }
      });
    });
  }
  delivery_.flush_progress();
  broker_.ingest.save_session(client_id_, encode_session_record(*session_));
}

void BridgeConnection::handle_suback(const mqtt::Suback& ack) {
  const auto& rules = link_->config().in;
  for (std::size_t i = 0; i < ack.reason_codes.size() && i < rules.size(); ++i)
    if (ack.reason_codes[i] >= 0x80)
      log::warn(describe() + ": the remote broker refused the subscription '" + rules[i].filter + "' (" +
                (v5() ? mqtt::to_string(static_cast<ReasonCode>(ack.reason_codes[i])) : "0x80") + ")");
}

}  // namespace tidegate
