#pragma once
// One stream message as the admin API shows it (docs/events.md, "Reading a
// stream"): its sequence, topic, time, QoS, publisher, and the payload as
// text when it is UTF-8, else as base64.
#include <nlohmann/json.hpp>

#include "storeclient/message.hpp"

namespace tidegate::admin {

nlohmann::json message_json(const store::Message& m);

}  // namespace tidegate::admin
