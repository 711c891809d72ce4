// CONNECT, CONNACK and the session's attachment to / detachment from this
// connection. Worker thread.
#include <boost/asio/post.hpp>
#include <chrono>
#include <random>

#include "gateway/codec/utf8.hpp"
#include "gateway/connection/connection.hpp"
#include "gateway/ops/log.hpp"
#include "gateway/pipeline/message_builder.hpp"
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

void Connection::refuse_connect(ReasonCode reason, const std::string& detail) {
  mqtt::Connack ack;
  if (v5()) {
    ack.reason_code = static_cast<std::uint8_t>(reason);
    if (request_problem_information_) ack.properties.reason_string = detail;
  } else {
    ack.reason_code = static_cast<std::uint8_t>(mqtt::to_v311_connack(reason));
  }
  send(ack);
  log::info(describe() + ": connection refused: " + mqtt::to_string(reason) + " (" + detail + ")");
  linger_ = true;  // the client is to read the refusal (connection.hpp: linger)
  close(std::nullopt, false);
}

void Connection::handle_connect(mqtt::Connect&& c) {
  version_ = c.version;
  keep_alive_ = c.keep_alive;
  clean_start_ = c.clean_start;
  client_id_ = c.client_id;
  const auto& p = c.properties;
  if (v5()) {
    requested_expiry_ = p.session_expiry_interval.value_or(0);
    client_receive_maximum_ = p.receive_maximum.value_or(65535);
    client_max_packet_size_ = p.maximum_packet_size.value_or(268435460);
    client_topic_alias_maximum_ = p.topic_alias_maximum.value_or(0);
    request_problem_information_ = p.request_problem_information.value_or(1) == 1;
    if (p.authentication_method)
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
    if (!username_) return refuse_connect(ReasonCode::not_authorized, "client certificate has no common name");
    return continue_connect();
  }
  auto decide_by_files = [this, loopback, username = c.username, password = c.password]() {
    auto rc = broker_.access()->authenticate(username, password, loopback);
    if (rc == ReasonCode::success) return continue_connect();
    refuse_connect(rc, rc == ReasonCode::bad_user_name_or_password ? "bad user name or password"
                       : broker_.config.allow_anonymous          ? "anonymous access is not allowed"
                                                                 : "anonymous access is allowed from loopback only");
  };
  bool plugins_decide = broker_.plugins && broker_.plugins->authenticates();
  if (!plugins_decide && !broker_.auth_http) return decide_by_files();

  // Plugins, then the HTTP hook, are asked first; the first ALLOW or DENY
  // decides, and when every one ignores the client the files decide. The
  // read loop holds later packets meanwhile; connect_timeout bounds the wait.
  state_ = State::authenticating;
  ClientIdentity identity{client_id_, username_, remote_, static_cast<int>(version_)};
  // Weak: an answer that never comes must not keep the connection alive.
  std::weak_ptr<Connection> weak = shared_from_this();
  auto decided = [weak, decide_by_files](int decision, std::vector<HookAclRule> rules, bool rules_given) {
    auto self = weak.lock();
    if (!self || self->state_ != State::authenticating) return;  // closed meanwhile (connect_timeout)
    self->state_ = State::awaiting_connect;
    if (decision == TIDEGATE_DENY)
      return self->refuse_connect(self->username_ ? ReasonCode::bad_user_name_or_password : ReasonCode::not_authorized,
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
    if (version_ == mqtt::ProtocolVersion::v31 || (version_ == mqtt::ProtocolVersion::v311 && !clean_start_))
      return refuse_connect(ReasonCode::client_identifier_not_valid, "empty client identifier");
    client_id_ = assign_client_id();
    assigned_id_ = true;
  }
  if (client_id_.starts_with(kBridgeClientIdPrefix))  // the bridges' own sessions
    return refuse_connect(ReasonCode::client_identifier_not_valid, "client identifiers starting with $bridge/ are reserved");
  if (v5() && broker_.config.max_keepalive && (keep_alive_ == 0 || keep_alive_ > *broker_.config.max_keepalive))
    keep_alive_ = *broker_.config.max_keepalive;
  access_ = broker_.access()->bind(username_, client_id_);
  access_.add_plugin_checks(broker_.plugins, ClientIdentity{client_id_, username_, remote_, static_cast<int>(version_)});
  if (hook_rules_) access_.add_hook_rules(std::move(*hook_rules_));
  if (connect_will_ && !access_.may_publish(connect_will_->topic)) {
    // Checked now, as it may be published when nobody is connected to ask.
    log::info(describe() + ": will topic '" + connect_will_->topic + "' not allowed for this client; will dropped");
    connect_will_.reset();
  }

  fill_summary(requested_expiry_);

  state_ = State::awaiting_session;
  // A takeover or a session commit that takes longer than connect_timeout ends this attempt.
  keep_alive_timer_.expires_after(std::chrono::seconds(broker_.config.connect_timeout));
  keep_alive_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec && self->state_ == State::awaiting_session) {
      log::info(self->describe() + ": session not ready within connect_timeout");
      self->close(std::nullopt, false);
    }
  });
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
  refuse_connect(ReasonCode::not_authorized,
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
  broker_.cluster().fetch_remote_session(
      client_id_, summary_.connected_since_ms.value_or(0),
      [self = shared_from_this()](std::unique_ptr<Session> s, bool retry_later) {
        boost::asio::post(self->worker_.io(), [self, s = std::move(s), retry_later]() mutable {
          self->fetching_session_ = false;
          // Moved here, but another identity's: parked here untouched, and refused.
          const bool other_identity = s && !self->may_take(*s);
          if (self->state_ != State::awaiting_session || self->taken_over_while_fetching_ || other_identity) {
            // Closed meanwhile (connect_timeout), or a newer connection claimed
            // the id: the session goes to it, or is parked here. Either way it
            // is here now, and the lookup must say so (the gateway it came
            // from has let go): claimed and left, as a connection would.
            const bool kept = s && s->persistent();
            self->broker_.registry.release(self->client_id_, self.get(), std::move(s));
            if (kept) {
              self->broker_.cluster().announce_connect(self->client_id_,
                                                       self->summary_.connected_since_ms.value_or(0));
              self->broker_.cluster().announce_disconnect(self->client_id_, true);
            }
            if (self->state_ != State::awaiting_session) return;
            if (other_identity && !self->taken_over_while_fetching_) return self->refuse_session_of_another_identity();
            self->close(std::nullopt, false);
            return;
          }
          if (retry_later) {
            // The id is free here again at once: the client's retry must not wait behind us.
            self->broker_.registry.release(self->client_id_, self.get(), nullptr);
            return self->refuse_connect(ReasonCode::server_unavailable,
                                        "its session is on another gateway and could not be moved now");
          }
          self->finish_connect(std::move(s));
        });
      });
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
    session_ = std::make_unique<Session>(client_id_, version_);
  }
  session_->version = version_;
  session_->owner = identity();  // a record of an older version, or (bind_sessions_to_identity false) a new owner
  if (session_present && requested_expiry_ == 0)
    for (const auto& [queue, cursor] : session_->cursors) broker_.ingest.forget_reader(client_id_, queue);
  session_->expiry_interval = requested_expiry_;
  session_->will = connect_will_ ? std::make_unique<mqtt::Will>(*connect_will_) : nullptr;
  session_->pending_will.reset();  // MQTT-3.1.3-9: reconnected before the Will Delay passed
  // Still awaiting_session: the read loop holds later packets until CONNACK is out.

  mqtt::Connack ack;
  ack.session_present = session_present;
  if (v5()) {
    auto& props = ack.properties;
    if (assigned_id_) props.assigned_client_identifier = client_id_;
    if (keep_alive_ != 0 && broker_.config.max_keepalive && keep_alive_ == *broker_.config.max_keepalive)
      props.server_keep_alive = keep_alive_;
    if (broker_.config.receive_maximum != 65535) props.receive_maximum = broker_.config.receive_maximum;
    props.maximum_packet_size = broker_.config.max_packet_size;
    if (broker_.config.topic_alias_maximum > 0) props.topic_alias_maximum = broker_.config.topic_alias_maximum;
  }
  auto attach = [this, self = shared_from_this(), ack, session_present] {
    if (state_ != State::awaiting_session) return;
    state_ = State::connected;
    session_wake_.cancel();
    send(ack);
    if (broker_.plugins)
      broker_.plugins->client_connected(ClientIdentity{client_id_, username_, remote_, static_cast<int>(version_)});
    log::debug(describe() + ": connected, protocol " + std::to_string(int(version_)) +
               (session_present ? ", session present" : ""));
    arm_keep_alive();
    broker_.cluster().announce_connect(client_id_, summary_.connected_since_ms.value_or(0));
    announced_ = true;
    for (auto& [queue, cursor] : session_->cursors) {
      worker_.add_reader(queue, this);
      cursor.announced = UINT64_MAX;
    }
    for (const auto& [filter, sub] : session_->subscriptions)
      if (!parse_shared(filter).group.empty()) broker_.ingest.set_member_online(client_id_, filter, true, read_check());
    resend_inflight();
    schedule_delivery();
  };
  if (!session_->persistent()) return attach();
  // CONNACK only once the session record is durable: what CONNACK confirms survives.
  broker_.ingest.save_session(client_id_, encode_session_record(*session_),
                              [self = shared_from_this(), attach](std::error_code ec) {
                                boost::asio::post(self->worker_.io(), [self, attach, ec] {
                                  if (!ec) return attach();
                                  // Not durable: CONNACK would promise a session that is not there.
                                  if (self->state_ == State::awaiting_session)
                                    self->refuse_connect(ReasonCode::unspecified_error, "store error: " + ec.message());
                                });
                              });
}

void Connection::fill_summary(std::uint32_t expiry_interval) {
  summary_.client_id = client_id_;
  summary_.online = true;
  summary_.address = remote_;
  summary_.protocol = static_cast<int>(version_);
  summary_.connected_since_ms = store::wall_clock_ms();
  summary_.keep_alive = keep_alive_;
  summary_.persistent = expiry_interval > 0;
  summary_.expiry_interval = expiry_interval;
}

void Connection::publish_will_message(const mqtt::Will& will) {
  auto message = message_from_will(will, client_id_, store::wall_clock_ms());
  broker_.ingest.publish(std::move(message), std::nullopt, {});
}

void Connection::detach_session(bool publish_will) {
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
        if (session_->persistent()) progress_.inflight.emplace_back(it->packet_id, std::nullopt);
        it = session_->inflight.erase(it);
      } else {
        ++it;
      }
    }
    if (!seqs.empty()) broker_.ingest.reoffer(client_id_, filter, std::move(seqs));
  }
  for (auto& [queue, cursor] : session_->cursors) dirty_offsets_.push_back(queue);
  flush_progress();
  // Held bytes were never sent: the inflight entries go out again (DUP) on reconnect.
  held_.clear();
  hold_chunks_.clear();
  chunked_bytes_ = 0;

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

namespace tidegate {

void Connection::inspect(std::function<void(SessionView)> done) {
  boost::asio::post(worker_.io(), [self = shared_from_this(), done = std::move(done)] {
    SessionView view = self->summary_;
    if (self->session_) describe_session(*self->session_, true, view);
    view.online = self->state_ == State::connected;
    done(std::move(view));
  });
}

void Connection::kick(bool end_session) {
  boost::asio::post(worker_.io(), [self = shared_from_this(), end_session] {
    if (self->state_ != State::connected) return;
    log::info(self->describe() + (end_session ? ": deleted by the admin API" : ": kicked by the admin API"));
    self->end_on_detach_ = end_session;
    self->close(ReasonCode::administrative_action, true);
  });
}

}  // namespace tidegate
