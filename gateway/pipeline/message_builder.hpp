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
// The same, taking topic, payload and properties over from a PUBLISH that is
// done with (the worker's hot path: no copy of them per message).
std::shared_ptr<store::Message> message_from_publish(mqtt::Publish&& publish, const std::string& origin,
                                                     std::int64_t now_ms);
std::shared_ptr<store::Message> message_from_will(const mqtt::Will& will, const std::string& origin,
                                                  std::int64_t now_ms);
// The PUBLISH for one delivery; packet id, DUP, topic alias and subscription
// identifiers are set by the caller.
mqtt::Publish publish_from_message(const store::Message& message, std::uint8_t qos, bool retain, std::int64_t now_ms);
// Only the MQTT 5 properties of that PUBLISH (what a delivery encodes with
// mqtt::PublishView, the topic and payload read in place).
void publish_properties_from_message(const store::Message& message, std::int64_t now_ms, mqtt::Properties& props);
// Whether the message carries any property a v5 PUBLISH would forward.
bool has_forwarded_properties(const store::Message& message);

}  // namespace tidegate
