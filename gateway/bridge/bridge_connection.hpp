#pragma once
// The link of a bridge to its remote broker: the client role of the protocol
// on a ConnectionDriver (docs/bridge.md). Worker thread only.
//
// The link speaks MQTT as a client: CONNECT with a persistent remote session
// (clean start off), SUBSCRIBE for the "in" rules, PINGREQ every keep alive
// (the protocol core's client keep alive). On CONNACK it attaches the
// bridge's local session "$bridge/<name>", persistent and never expiring,
// whose subscriptions are the "out" rules (no local: what the bridge brought
// in never goes back out); from then on the remote broker is served like a
// device, through the same inflight/ack machinery (SessionDelivery), with
// topics mapped by its LinkMapping.
#include <memory>
#include <string>

#include "gateway/bridge/link_mapping.hpp"
#include "gateway/connection/connection_driver.hpp"

namespace tidegate {

class BridgeLink;

class BridgeConnection final : public ConnectionDriver {
 public:
  BridgeConnection(BrokerContext& broker, Worker& worker, std::unique_ptr<Transport> transport,
                   std::shared_ptr<BridgeLink> link);

 private:
  std::shared_ptr<BridgeConnection> self() {
    return std::static_pointer_cast<BridgeConnection>(shared_from_this());
  }
  std::string describe() const override;
  void on_transport_ready() override { send_connect(); }
  void on_connect_timeout() override;
  void handle_control(mqtt::Packet&& packet) override;
  void on_violation(const mqtt::Violation& violation) override;
  void attach(std::unique_ptr<Session> session) override;
  void say_goodbye(mqtt::ReasonCode reason) override;
  void on_keep_alive_expired() override;
  void refuse_stored(std::uint16_t packet_id, std::uint8_t qos, std::error_code ec) override;
  void note_close_reason(const char* reason, std::string detail) override {
    if (close_reason_.empty()) close_reason_ = detail.empty() ? std::string(reason) : std::move(detail);
  }
  void on_finished() override;

  void send_connect();
  void handle_connack(const mqtt::Connack& ack);
  void subscribe_out_rules();
  void subscribe_in_rules();
  void handle_suback(const mqtt::Suback& ack);

  std::shared_ptr<BridgeLink> link_;
  LinkMapping link_mapping_;
  std::string close_reason_;  // why the link ended, for the bridge's status
};

}  // namespace tidegate
