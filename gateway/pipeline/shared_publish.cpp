#include "gateway/pipeline/shared_publish.hpp"

#include "gateway/codec/encoder.hpp"
#include "gateway/pipeline/message_builder.hpp"

namespace tidegate {

const store::EncodedPublish* shared_publish(const store::Message& message, bool v5, bool with_packet_id,
                                            const std::shared_ptr<store::EncodingBudget>& budget) {
  // Slots: 0 v3.1/v3.1.1 QoS 0, 1 v3.1/v3.1.1 QoS 1/2, 2 v5 QoS 0, 3 v5 QoS 1/2.
  const std::size_t slot = (v5 ? 2 : 0) + (with_packet_id ? 1 : 0);
  if (const auto* built = message.encoded.get(slot)) return built;
  if (v5 && message.expires_at_ms) return nullptr;  // the remaining interval differs per delivery
  if (message.encoded.first_use()) return nullptr;  // built from the second delivery on
  if (message.topic.size() + message.payload.size() > kMaxSharedPublishBytes) return nullptr;
  mqtt::Properties props;
  if (v5 && has_forwarded_properties(message))
    publish_properties_from_message(message, store::wall_clock_ms(), props);  // no expiry: `now` is unused
  const std::uint8_t qos = with_packet_id ? 1 : 0;  // QoS 2 differs only in the first byte
  mqtt::PublishView view{message.topic, message.payload, qos, false, false, qos, v5 ? &props : nullptr};
  const auto version = v5 ? mqtt::ProtocolVersion::v5 : mqtt::ProtocolVersion::v311;
  const std::size_t size = mqtt::encoded_size(view, version);
  // Charged before anything is allocated; given back by ~EncodedPublish, also
  // when another worker's copy wins the slot below.
  const std::size_t charge = sizeof(store::EncodedPublish) + size;
  if (!budget->try_charge(charge)) return nullptr;
  auto built = std::make_unique<store::EncodedPublish>();
  built->budget = budget;
  built->charged = charge;
  built->bytes.reserve(size);
  mqtt::encode(view, version, built->bytes);
  built->packet_id_at = mqtt::publish_packet_id_offset(built->bytes, message.topic.size());
  // Another worker may have built the same bytes meanwhile: one of the two is kept.
  return message.encoded.install(slot, std::move(built));
}

}  // namespace tidegate
