#pragma once
// Turns an inbound PUBLISH or a will into the stored Message, and a stored
// Message back into the PUBLISH sent to one subscriber (MQTT-3.3.2-*: which
// properties are forwarded, and the remaining Message Expiry Interval).
#include <memory>

#include "gateway/codec/packet.hpp"
#include "storeclient/message.hpp"

namespace tidegate {

std::shared_ptr<store::Message> message_from_publish(const mqtt::Publish& publish, const std::string& origin,
                                                     std::int64_t now_ms);
std::shared_ptr<store::Message> message_from_will(const mqtt::Will& will, const std::string& origin,
                                                  std::int64_t now_ms);
// The PUBLISH for one delivery; packet id, DUP, topic alias and subscription
// identifiers are set by the caller.
mqtt::Publish publish_from_message(const store::Message& message, std::uint8_t qos, bool retain, std::int64_t now_ms);

}  // namespace tidegate
