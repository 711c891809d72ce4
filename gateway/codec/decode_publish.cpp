// PUBLISH (MQTT 3.1.1 section 3.3, 5.0 section 3.3).
#include "gateway/codec/decode_fields.hpp"
#include "gateway/codec/utf8.hpp"

namespace tidegate::mqtt::detail {

DecodeStatus decode_publish(uint8_t flags, std::span<const uint8_t> body, ProtocolVersion v,
                            Publish& out) {
  Fields f(body, "PUBLISH", v);
  out.retain = (flags & 0x1) != 0;
  out.qos = static_cast<uint8_t>((flags >> 1) & 0x3);
  out.dup = (flags & 0x8) != 0;
  // [MQTT-3.3.1-4]
  if (out.qos == 3) {
    f.fail(ReasonCode::malformed_packet, "QoS is 3");
    return f.take_status();
  }
  // [MQTT-3.3.1-2]: a flag combination the spec forbids, hence invalid flags.
  if (out.dup && out.qos == 0) {
    f.fail(ReasonCode::malformed_packet, "DUP is set on a QoS 0 message");
    return f.take_status();
  }

  if (!f.utf8(out.topic, "topic name")) return f.take_status();
  if (out.qos > 0 && !f.u16(out.packet_id, "packet identifier")) return f.take_status();
  if (f.v5() && !f.properties(PropertyContext::publish, out.properties)) return f.take_status();
  const auto payload = f.reader().rest();
  out.payload.assign(reinterpret_cast<const char*>(payload.data()), payload.size());

  if (out.topic.empty()) {
    // MQTT 5 section 3.3.2.3.4: empty topic means "use the Topic Alias".
    // 3.1.1 [MQTT-4.7.3-1]: topic names are at least one character.
    if (!f.v5() || !out.properties.topic_alias)
      f.violation("empty topic name without a topic alias");
  } else if (has_wildcard(out.topic)) {
    // [MQTT-3.3.2-2]
    f.fail(ReasonCode::topic_name_invalid, "topic name contains a wildcard");
  }
  if (out.qos > 0 && out.packet_id == 0) f.violation("packet identifier is 0");  // [MQTT-2.2.1-3]
  return f.take_status();
}

}  // namespace tidegate::mqtt::detail
