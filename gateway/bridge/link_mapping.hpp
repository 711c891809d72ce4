#pragma once
// What a bridge's link changes in the messages it carries (docs/bridge.md):
// topics mapped by its in and out rules, and what the remote broker accepts
// (its Maximum QoS and Retain Available, from its MQTT 5 CONNACK). The
// connection driver and its SessionDelivery call it for every message of a
// link (non-virtual); a device connection has none. Worker thread.
#include <cstdint>
#include <string>

#include "gateway/codec/packet.hpp"

namespace tidegate {

class BridgeLink;
struct BridgeConfig;
struct Metrics;

class LinkMapping {
 public:
  LinkMapping(const BridgeConfig& config, BridgeLink& link, Metrics& metrics)
      : config_(config), link_(link), metrics_(metrics) {}

  // A publish from the remote: its local topic (false: no in rule maps it; counted).
  bool inbound(mqtt::Publish& publish);
  // A local message going out: the remote topic and what the remote accepts
  // (false: no out rule maps it; counted as bridge_unmapped).
  bool outbound(std::string& topic, bool& retain, std::uint8_t qos, mqtt::Properties& properties);
  // A QoS 1/2 message the remote acknowledged (QoS 0 is counted when sent).
  void acknowledged();

  std::uint8_t maximum_qos = 2;  // from the remote's CONNACK (v5)
  bool retain_available = true;

 private:
  const BridgeConfig& config_;
  BridgeLink& link_;
  Metrics& metrics_;
};

}  // namespace tidegate
