// One PUBLISH encoding shared by every delivery of a message that gets the
// same bytes (fan-out: one publisher, many subscribers). The slots live on the
// message (store::EncodedPublishSlots, which states the threads); this file
// decides which deliveries may share them.
#pragma once

#include <cstddef>
#include <memory>

#include "storeclient/message.hpp"

namespace tidegate {

// Larger messages are encoded per delivery: encoding them costs about what
// copying shared bytes would, and a shared copy of them would take much of the
// budget (max_shared_publish_bytes) for little gain.
inline constexpr std::size_t kMaxSharedPublishBytes = 4096;

// The PUBLISH of `message` for a subscriber of protocol family v5 / v3.1(.1)
// (the two encode a PUBLISH the same way), QoS 0 (`with_packet_id` false) or
// QoS 1/2 (true), without topic alias and subscription identifiers, with the
// flags and packet id to be patched by mqtt::append_patched_publish. Built on
// first use by the calling worker thread.
// Null for the first delivery of a message that asks (a message delivered
// once gains nothing from a shared copy), when the bytes would not be the
// same for every delivery (an MQTT 5 message with a Message Expiry Interval:
// what remains of it is sent, and that changes with time; a message larger
// than kMaxSharedPublishBytes), and when building the bytes would pass
// `budget`'s limit (the refusal is counted there); the caller then encodes per
// delivery. A slot built earlier is returned whatever the budget says: its
// bytes are held (and charged) already.
// Callers must also not use it for a delivery with subscription identifiers,
// a topic alias or a bridged (rewritten) topic.
const store::EncodedPublish* shared_publish(const store::Message& message, bool v5, bool with_packet_id,
                                            const std::shared_ptr<store::EncodingBudget>& budget);

}  // namespace tidegate
