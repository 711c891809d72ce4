#pragma once
// A device's connection (MQTT over TCP, TLS or WebSocket): the server role of
// the protocol on a ConnectionDriver. CONNECT with its authentication and
// session claim (handle_connect.cpp), SUBSCRIBE and UNSUBSCRIBE
// (handle_subscribe.cpp), DISCONNECT and the device's answers to protocol
// violations (connection.cpp). PUBLISH, acknowledgements and deliveries are
// the driver's (connection_driver.hpp). Worker thread only, except the
// SessionOwner calls, which post to the worker (docs/design.md, "Threads").
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/connection/connection_driver.hpp"

namespace tidegate {

class Connection final : public ConnectionDriver {
 public:
  // `slot`: this connection's place in max_connections, taken at accept.
  Connection(BrokerContext& broker, Worker& worker, std::unique_ptr<Transport> transport,
             const ListenerConfig& listener, ConnectionSlot slot);

 private:
  std::shared_ptr<Connection> self() { return std::static_pointer_cast<Connection>(shared_from_this()); }

  // connection.cpp: the driver's hooks.
  std::string describe() const override;
  void on_connect_timeout() override;
  void handle_control(mqtt::Packet&& packet) override;
  void on_violation(const mqtt::Violation& violation) override;
  void attach(std::unique_ptr<Session> session) override { continue_with_session(std::move(session)); }
  void say_goodbye(mqtt::ReasonCode reason) override;
  void on_disconnected() override;
  void on_keep_alive_expired() override;
  void refuse_stored(std::uint16_t packet_id, std::uint8_t qos, std::error_code ec) override;
  void note_close_reason(const char* reason, std::string detail) override;
  // The one line of a connection that ends before CONNACK, other than by a refusal.
  void log_closed_before_connack(const char* reason, std::string_view detail);
  void handle_disconnect(const mqtt::Disconnect& disconnect);

  // handle_connect.cpp
  void handle_connect(mqtt::Connect&& connect);
  // Plugins, then the HTTP hook, then the password files decide.
  void authenticate(const mqtt::Connect& connect, bool loopback);
  void continue_connect();  // authenticated: client id, session claim
  // The claimed session (or nullptr): fetched from another gateway first when
  // there is none here and the client wants one (cluster mode), then finish_connect.
  void continue_with_session(std::unique_ptr<Session> previous);
  void fetched_session(std::unique_ptr<Session> session, bool retry_later);
  void finish_connect(std::unique_ptr<Session> previous);
  mqtt::Connack connack(bool session_present) const;
  // CONNACK out: the session reads its queues and delivers.
  void go_online(const mqtt::Connack& ack);
  void refuse_connect(mqtt::ReasonCode reason, const std::string& detail);
  // Refused by authentication: counted by why (tidegate_auth_failures_total).
  void refuse_login(AuthFailure why, mqtt::ReasonCode reason, const std::string& detail);
  void refuse_session_of_another_identity();
  SessionIdentity identity() const { return SessionIdentity{username_}; }
  ClientIdentity client_identity() const {
    return ClientIdentity{client_id_, username_, remote_, static_cast<int>(core_.version())};
  }
  // False when bind_sessions_to_identity is on and `session` is another identity's.
  bool may_take(const Session& session) const {
    return !broker_.config.bind_sessions_to_identity || !session.owner || *session.owner == identity();
  }
  // This client's read rights, for a shared group's round robin (ingest thread).
  Ingest::ReadCheck read_check() const {
    return [access = access_](std::string_view topic) { return access.may_read(topic); };
  }

  // handle_subscribe.cpp
  void handle_subscribe(mqtt::Subscribe&& subscribe);
  // Why a subscription to `filter` is refused (ACL, topic limits, quota; counted); nullopt: granted.
  std::optional<mqtt::ReasonCode> refusal(const std::string& filter);
  void handle_unsubscribe(mqtt::Unsubscribe&& unsubscribe);
  // After SUBSCRIBE's registrations (and, for a persistent session, its record): SUBACK.
  void finish_subscribe(std::function<void()> finish);

  // From CONNECT.
  bool clean_start_ = true;
  bool assigned_id_ = false;
  std::uint32_t requested_expiry_ = 0;
  std::unique_ptr<mqtt::Will> connect_will_;  // a pointer: 560 bytes most clients never use
  std::optional<std::string> username_;
  std::optional<std::vector<HookAclRule>> hook_rules_;  // from the HTTP hook's answer
  // For the disconnect log line: the first reason noted (a static word) and its detail.
  const char* close_reason_ = nullptr;
  std::string close_detail_;
};

}  // namespace tidegate
