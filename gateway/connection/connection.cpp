// A device's connection: the driver's hooks for the server role. Worker thread.
#include "gateway/connection/connection.hpp"

#include <cstdio>

#include "gateway/ops/log.hpp"
#include "storeclient/message.hpp"

namespace tidegate {

using mqtt::ReasonCode;

namespace {
// "0x00 normal disconnection": the DISCONNECT's reason code, as the log shows it.
std::string disconnect_detail(bool v5, std::uint8_t code) {
  if (!v5) return "DISCONNECT";
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02x ", code);
  return hex + std::string(code == 0 ? "normal disconnection" : mqtt::to_string(static_cast<ReasonCode>(code)));
}
}  // namespace

Connection::Connection(BrokerContext& broker, Worker& worker, std::unique_ptr<Transport> transport,
                       const ListenerConfig& listener, ConnectionSlot slot)
    : ConnectionDriver(broker, worker, std::move(transport), listener, std::move(slot), mqtt::Role::server,
                       mqtt::ProtocolVersion::v311) {
  tells_plugins_ = true;
}

std::string Connection::describe() const { return "client '" + client_id_ + "' (" + remote_ + ")"; }

void Connection::on_connect_timeout() {
  if (state_ == State::awaiting_session) {
    log_closed_before_connack("connect_timeout", "session not ready within connect_timeout");
    return close(std::nullopt, false);
  }
  if (state_ != State::authenticating) return;
  refuse_login(AuthFailure::hook_timeout, ReasonCode::not_authorized, "no authentication answer in time");
}

void Connection::handle_control(mqtt::Packet&& packet) {
  // The core let through only what a client may send in this phase.
  if (auto* connect = std::get_if<mqtt::Connect>(&packet)) return handle_connect(std::move(*connect));
  if (auto* subscribe = std::get_if<mqtt::Subscribe>(&packet)) return handle_subscribe(std::move(*subscribe));
  if (auto* unsubscribe = std::get_if<mqtt::Unsubscribe>(&packet)) return handle_unsubscribe(std::move(*unsubscribe));
  if (auto* disconnect = std::get_if<mqtt::Disconnect>(&packet)) return handle_disconnect(*disconnect);
}

void Connection::handle_disconnect(const mqtt::Disconnect& p) {
  if (v5() && p.properties.session_expiry_interval && session_) {
    // MQTT 5 §3.14.2.2.2: a session that was to end with the connection may not be revived here.
    if (requested_expiry_ == 0 && *p.properties.session_expiry_interval != 0)
      return protocol_error(ReasonCode::protocol_error, "session expiry set on DISCONNECT after 0 on CONNECT");
    session_->expiry_interval = *p.properties.session_expiry_interval;
  }
  // 0x04 asks for the will; any other reason discards it (MQTT-3.1.2-10).
  bool will = v5() && p.reason_code == static_cast<std::uint8_t>(ReasonCode::disconnect_with_will_message);
  note_close_reason("client_disconnect", disconnect_detail(v5(), p.reason_code));
  close(std::nullopt, will);
}

void Connection::on_violation(const mqtt::Violation& v) {
  if (!v.counted) {
    // MQTT-3.1.0-1: the first packet is not CONNECT.
    log_closed_before_connack("protocol_error", v.detail);
    return close(std::nullopt, false);
  }
  Metrics::add(broker_.metrics.protocol_errors);
  const std::string detail = std::string(mqtt::to_string(v.reason)) + ": " + v.detail;
  // Connected: the disconnect line says it; a refusal says it; before CONNECT, this line.
  if (state_ == State::connected) {
    note_close_reason("protocol_error", detail);
  } else if (v.answer != mqtt::Violation::Answer::refuse_connack) {
    log_closed_before_connack("protocol_error", detail);
  }
  switch (v.answer) {
    case mqtt::Violation::Answer::refuse_connack:
      return refuse_connect(v.reason, v.detail);
    case mqtt::Violation::Answer::close_silently:
      return close(std::nullopt, false);
    case mqtt::Violation::Answer::disconnect:
    case mqtt::Violation::Answer::close:
      return close(v.reason, true);
  }
}

void Connection::say_goodbye(ReasonCode reason) {
  if (!v5()) return;  // 3.1.1 has no DISCONNECT from the server
  mqtt::Disconnect d;
  d.reason_code = static_cast<std::uint8_t>(reason);
  send(d);
  linger_ = true;
}

void Connection::on_disconnected() {
  if (broker_.plugins) broker_.plugins->client_disconnected(client_identity());
  const double seconds =
      static_cast<double>(store::wall_clock_ms() - summary_.connected_since_ms.value_or(store::wall_clock_ms())) / 1000.0;
  log::event(log::Level::info, "disconnected", "client disconnected",
             {{"client_id", client_id_},
              {"address", remote_},
              {"username", username_},
              {"reason", close_reason_ ? close_reason_ : "closed"},
              {"detail", close_detail_.empty() ? log::Field::Value() : log::Field::Value(close_detail_)},
              {"duration_s", seconds}});
}

void Connection::log_closed_before_connack(const char* reason, std::string_view detail) {
  log::event(log::Level::info, "connection_closed", "connection closed",
             {{"client_id", client_id_.empty() ? log::Field::Value() : log::Field::Value(client_id_)},
              {"address", remote_},
              {"username", username_},
              {"reason", reason},
              {"detail", detail}});
}

void Connection::note_close_reason(const char* reason, std::string detail) {
  if (close_reason_) return;
  close_reason_ = reason;
  close_detail_ = std::move(detail);
}

void Connection::on_keep_alive_expired() {
  note_close_reason("keep_alive_timeout", "no packet within 1.5 times the keep alive of " +
                                              std::to_string(core_.keep_alive()) + " s");
  close(ReasonCode::keep_alive_timeout, true);
}

void Connection::refuse_stored(std::uint16_t packet_id, std::uint8_t qos, std::error_code ec) {
  if (!v5()) {
    // 3.1.1 has no negative acknowledgement: close so the client resends.
    note_close_reason("store_refused", ec.message());
    close(std::nullopt, false);
    return;
  }
  // A full store (its cap or the disk) or a retained quota: 0x97; anything else: 0x80.
  bool quota = ec == IngestError::quota_exceeded || ec == IngestError::store_full;
  send(core_.ack(qos == 1 ? mqtt::PacketType::puback : mqtt::PacketType::pubrec, packet_id,
                 quota ? ReasonCode::quota_exceeded : ReasonCode::unspecified_error));
}

}  // namespace tidegate
