// CONNECT and CONNACK of a device: authentication, the session claim, and the
// session's attachment to this connection. Worker thread.
#include <boost/asio/post.hpp>
#include <chrono>
#include <random>

#include "gateway/codec/utf8.hpp"
#include "gateway/connection/connection.hpp"
#include "gateway/ops/log.hpp"
#include "gateway/pipeline/topic_match.hpp"
#include "gateway/session/session_end.hpp"

namespace tidegate {

using mqtt::ReasonCode;

namespace {
std::string assign_client_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string id = "tg-";
  for (int i = 0; i < 20; ++i) id.push_back(digits[rng() % 36]);
  return id;
}
}  // namespace

void Connection::refuse_login(AuthFailure why, ReasonCode reason, const std::string& detail) {
  Metrics::add(broker_.metrics.auth_failures[static_cast<int>(why)]);
  refuse_connect(reason, detail);
}

void Connection::refuse_connect(ReasonCode reason, const std::string& detail) {
  send(core_.refusal(reason, detail));
  log::event(log::Level::info, "connect_refused", "connection refused",
             {{"client_id", client_id_},
              {"address", remote_},
              {"username", username_},
              {"protocol", static_cast<int>(core_.version())},
              {"reason", mqtt::to_string(reason)},
              {"detail", detail}});
  linger_ = true;  // the client is to read the refusal (connection_driver.hpp: linger)
  close(std::nullopt, false);
}

void Connection::handle_connect(mqtt::Connect&& c) {
  // The core has taken the version, keep alive and the client's limits.
  clean_start_ = c.clean_start;
  client_id_ = c.client_id;
  if (v5()) {
    requested_expiry_ = c.properties.session_expiry_interval.value_or(0);
    if (c.properties.authentication_method)
      return refuse_connect(ReasonCode::bad_authentication_method, "enhanced authentication is not supported");
  } else {
    requested_expiry_ = c.clean_start ? 0 : kSessionNeverExpires;
  }

  boost::system::error_code ec;
  auto peer = transport_->socket().remote_endpoint(ec);
  bool loopback = !ec && peer.address().is_loopback();
  username_ = c.username;
  if (c.will) connect_will_ = std::make_unique<mqtt::Will>(std::move(*c.will));
  if (listener_.use_identity_as_username) {
    // The verified client certificate is the credential; its CN the user name.
    username_ = transport_->peer_common_name();
    if (!username_)
      return refuse_login(AuthFailure::no_certificate_name, ReasonCode::not_authorized,
                          "client certificate has no common name");
    return continue_connect();
  }
  authenticate(c, loopback);
}

void Connection::authenticate(const mqtt::Connect& c, bool loopback) {
  auto decide_by_files = [this, loopback, username = c.username, password = c.password]() {
    auto rc = broker_.access()->authenticate(username, password, loopback);
    if (rc == ReasonCode::success) return continue_connect();
    if (rc == ReasonCode::bad_user_name_or_password)
      return refuse_login(AuthFailure::bad_credentials, rc, "bad user name or password");
    refuse_login(AuthFailure::anonymous_denied, rc,
                 broker_.config.allow_anonymous
                     ? "anonymous access is not allowed"
                     : "anonymous access is allowed from loopback only (allow_anonymous or a password_file "
                       "lets other addresses in: docs/security.md)");
  };
  bool plugins_decide = broker_.plugins && broker_.plugins->authenticates();
  if (!plugins_decide && !broker_.auth_http) return decide_by_files();

  // Plugins, then the HTTP hook, are asked first; the first ALLOW or DENY
  // decides, and when every one ignores the client the files decide. The
  // read loop holds later packets meanwhile; connect_timeout bounds the wait.
  state_ = State::authenticating;
  ClientIdentity identity = client_identity();
  // Weak: an answer that never comes must not keep the connection alive.
  std::weak_ptr<Connection> weak = self();
  auto decided = [weak, decide_by_files](int decision, std::vector<HookAclRule> rules, bool rules_given) {
    auto self = weak.lock();
    if (!self || self->state_ != State::authenticating) return;  // closed meanwhile (connect_timeout)
    self->state_ = State::awaiting_connect;
    if (decision == TIDEGATE_DENY)
      return self->refuse_login(AuthFailure::hook_denied,
                                self->username_ ? ReasonCode::bad_user_name_or_password : ReasonCode::not_authorized,
                                "refused by the authentication hook");
    if (rules_given) self->hook_rules_ = std::move(rules);
    if (decision == TIDEGATE_ALLOW) return self->continue_connect();
    decide_by_files();
  };
  auto ask_http = [weak, identity, password = c.password, decided](int plugin_decision) {
    auto self = weak.lock();
    if (!self) return;
    if (plugin_decision != TIDEGATE_IGNORE || !self->broker_.auth_http) return decided(plugin_decision, {}, false);
    self->broker_.auth_http->authenticate(self->worker_.io().get_executor(), identity, password,
                                          [decided](AuthHttp::Answer answer) {
                                            decided(answer.decision, std::move(answer.acl), answer.acl_given);
                                          });
  };
  if (plugins_decide)
    broker_.plugins->authenticate(worker_.io().get_executor(), identity, c.password, ask_http);
  else
    ask_http(TIDEGATE_IGNORE);
}

void Connection::continue_connect() {
  if (client_id_.empty()) {
    // MQTT-3.1.3-8: an empty id needs a clean session in 3.1.1; 3.1 forbids it.
    const auto version = core_.version();
    if (version == mqtt::ProtocolVersion::v31 || (version == mqtt::ProtocolVersion::v311 && !clean_start_))
      return refuse_connect(ReasonCode::client_identifier_not_valid, "empty client identifier");
    client_id_ = assign_client_id();
    assigned_id_ = true;
  }
  if (client_id_.starts_with(kBridgeClientIdPrefix))  // the bridges' own sessions
    return refuse_connect(ReasonCode::client_identifier_not_valid, "client identifiers starting with $bridge/ are reserved");
  if (client_id_.starts_with("$rule/") || client_id_.starts_with("$stream/"))  // rules' and streams' offsets (docs/events.md)
    return refuse_connect(ReasonCode::client_identifier_not_valid,
                          "client identifiers starting with $rule/ or $stream/ are reserved");
  const auto& max_keepalive = broker_.config.max_keepalive;
  if (v5() && max_keepalive && (core_.keep_alive() == 0 || core_.keep_alive() > *max_keepalive))
    core_.set_keep_alive(*max_keepalive);
  access_ = broker_.access()->bind(username_, client_id_);
  access_.add_plugin_checks(broker_.plugins, client_identity());
  if (hook_rules_) access_.add_hook_rules(std::move(*hook_rules_));
  if (connect_will_ && !access_.may_publish(connect_will_->topic)) {
    // Checked now, as it may be published when nobody is connected to ask.
    log::info(describe() + ": will topic '" + connect_will_->topic + "' not allowed for this client; will dropped");
    connect_will_.reset();
  }

  fill_summary(requested_expiry_);
  summary_.username = username_;

  state_ = State::awaiting_session;
  // A takeover or a session commit that takes longer than connect_timeout
  // ends this attempt (on_connect_timeout).
  worker_.deadlines().arm(keep_alive_deadline_, Clock::now() + std::chrono::seconds(broker_.config.connect_timeout));
  bool waiting = false, other_identity = false;
  const SessionIdentity me = identity();
  auto previous = broker_.registry.claim_as(client_id_, broker_.config.bind_sessions_to_identity ? &me : nullptr,
                                            shared_from_this(), waiting, other_identity);
  if (other_identity) return refuse_session_of_another_identity();
  if (!waiting) continue_with_session(std::move(previous));
}

void Connection::refuse_session_of_another_identity() {
  // Never taken, read or ended by another identity (docs/security.md).
  Metrics::add(broker_.metrics.connections_refused_session_owner);
  refuse_login(AuthFailure::session_owner, ReasonCode::not_authorized,
                 "client id '" + client_id_ + "' has a session that belongs to another identity, not " +
                     identity().describe());
}

void Connection::continue_with_session(std::unique_ptr<Session> previous) {
  if (previous && !may_take(*previous)) {
    // Handed on by a connection or a cluster move that did not check whose it
    // is: it goes back, parked (or to the next claim, which checks it again).
    broker_.registry.release(client_id_, this, std::move(previous));
    return refuse_session_of_another_identity();
  }
  if (previous || clean_start_ || !broker_.cluster().moves_sessions()) return finish_connect(std::move(previous));
  // Cluster mode: the session may be on the gateway this client used before
  // (cluster_handover.hpp). This connection owns the client id here meanwhile.
  fetching_session_ = true;
  auto self = this->self();
  broker_.cluster().fetch_remote_session(client_id_, summary_.connected_since_ms.value_or(0),
                                         [self](std::unique_ptr<Session> s, bool retry_later) {
                                           boost::asio::post(self->worker_.io(),
                                                             [self, s = std::move(s), retry_later]() mutable {
                                                               self->fetched_session(std::move(s), retry_later);
                                                             });
                                         });
}

void Connection::fetched_session(std::unique_ptr<Session> s, bool retry_later) {
  fetching_session_ = false;
  // Moved here, but another identity's: parked here untouched, and refused.
  const bool other_identity = s && !may_take(*s);
  if (state_ != State::awaiting_session || taken_over_while_fetching_ || other_identity) {
    // Closed meanwhile (connect_timeout), or a newer connection claimed
    // the id: the session goes to it, or is parked here. Either way it
    // is here now, and the lookup must say so (the gateway it came
    // from has let go): claimed and left, as a connection would.
    const bool kept = s && s->persistent();
    broker_.registry.release(client_id_, this, std::move(s));
    if (kept) {
      broker_.cluster().announce_connect(client_id_, summary_.connected_since_ms.value_or(0));
      broker_.cluster().announce_disconnect(client_id_, true);
    }
    if (state_ != State::awaiting_session) return;
    if (other_identity && !taken_over_while_fetching_) return refuse_session_of_another_identity();
    close(std::nullopt, false);
    return;
  }
  if (retry_later) {
    // The id is free here again at once: the client's retry must not wait behind us.
    broker_.registry.release(client_id_, this, nullptr);
    return refuse_connect(ReasonCode::server_unavailable, "its session is on another gateway and could not be moved now");
  }
  finish_connect(std::move(s));
}

void Connection::finish_connect(std::unique_ptr<Session> previous) {
  bool session_present = false;
  if (previous && !clean_start_) {
    session_ = std::move(previous);
    session_present = true;
  } else {
    if (previous) {
      // Clean Start ends the old session, and a will still waiting for its
      // delay is due when its session ends (MQTT-3.1.2-8).
      if (previous->pending_will) publish_will_message(previous->pending_will->will);
      end_session(broker_.ingest, *previous);
    }
    session_ = std::make_unique<Session>(client_id_, core_.version());
  }
  session_->version = core_.version();
  session_->owner = identity();  // a record of an older version, or (bind_sessions_to_identity false) a new owner
  if (session_present && requested_expiry_ == 0)
    for (const auto& [queue, cursor] : session_->cursors) broker_.ingest.forget_reader(client_id_, queue);
  session_->expiry_interval = requested_expiry_;
  session_->will = connect_will_ ? std::make_unique<mqtt::Will>(*connect_will_) : nullptr;
  session_->pending_will.reset();  // MQTT-3.1.3-9: reconnected before the Will Delay passed
  // Still awaiting_session: the read loop holds later packets until CONNACK is out.

  auto self = this->self();
  auto ack = connack(session_present);
  if (!session_->persistent()) return go_online(ack);
  // CONNACK only once the session record is durable: what CONNACK confirms survives.
  broker_.ingest.save_session(client_id_, encode_session_record(*session_), [self, ack](std::error_code ec) {
    boost::asio::post(self->worker_.io(), [self, ack, ec] {
      if (!ec) return self->go_online(ack);
      // Not durable: CONNACK would promise a session that is not there.
      if (self->state_ == State::awaiting_session)
        self->refuse_connect(ReasonCode::unspecified_error, "store error: " + ec.message());
    });
  });
}

mqtt::Connack Connection::connack(bool session_present) const {
  mqtt::Connack ack;
  ack.session_present = session_present;
  if (!v5()) return ack;
  auto& props = ack.properties;
  const auto& config = broker_.config;
  if (assigned_id_) props.assigned_client_identifier = client_id_;
  if (core_.keep_alive() != 0 && config.max_keepalive && core_.keep_alive() == *config.max_keepalive)
    props.server_keep_alive = core_.keep_alive();
  if (config.receive_maximum != 65535) props.receive_maximum = config.receive_maximum;
  props.maximum_packet_size = config.max_packet_size;
  if (config.topic_alias_maximum > 0) props.topic_alias_maximum = config.topic_alias_maximum;
  return ack;
}

void Connection::go_online(const mqtt::Connack& ack) {
  if (state_ != State::awaiting_session) return;
  state_ = State::connected;
  wake_reader();
  send(ack);
  if (broker_.plugins) broker_.plugins->client_connected(client_identity());
  log::event(log::Level::info, "connected", "client connected",
             {{"client_id", client_id_},
              {"address", remote_},
              {"username", username_},
              {"protocol", static_cast<int>(core_.version())},
              {"keep_alive", static_cast<int>(core_.keep_alive())},
              {"clean_start", clean_start_},
              {"session_present", ack.session_present}});
  arm_keep_alive();
  broker_.cluster().announce_connect(client_id_, summary_.connected_since_ms.value_or(0));
  announced_ = true;
  for (auto& [queue, cursor] : session_->cursors) {
    worker_.add_reader(queue, this);
    cursor.announced = UINT64_MAX;
  }
  for (const auto& [filter, sub] : session_->subscriptions)
    if (!parse_shared(filter).group.empty()) broker_.ingest.set_member_online(client_id_, filter, true, read_check());
  delivery_.resend_inflight();
  delivery_.schedule();
}

}  // namespace tidegate
