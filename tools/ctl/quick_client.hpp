#pragma once
// `tidegatectl pub` and `tidegatectl sub`: quick checks from the box, as an
// MQTT 3.1.1 client of the gateway's own listener (docs/operations.md,
// "tidegatectl"). Synchronous, one connection, every wait bounded.
#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "tools/ctl/http_client.hpp"

namespace tidegate::ctl {

struct MqttLogin {
  Endpoint endpoint;  // host and port of an MQTT listener (tls is not supported here)
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::chrono::milliseconds timeout{10000};  // for connecting and for each answer
};

// Publishes one message; returns once it is acknowledged (QoS 1/2) or written
// (QoS 0). Throws TransportError (unreachable, closed, no answer) or
// std::runtime_error (refused: the CONNACK's or PUBACK's reason).
void quick_publish(const MqttLogin& login, const std::string& topic, const std::string& payload, std::uint8_t qos,
                   bool retain);

// Subscribes and prints "TOPIC PAYLOAD" lines (or the payload only) until
// `count` messages (0: no limit) or `wait` without one (0: no limit) passed.
// Returns the number printed. Throws as quick_publish.
std::size_t quick_subscribe(const MqttLogin& login, const std::string& filter, std::uint8_t qos, std::size_t count,
                            std::chrono::milliseconds wait, bool with_topic, std::ostream& out);

}  // namespace tidegate::ctl
