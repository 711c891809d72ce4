// SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK (MQTT 3.1.1 sections 3.8-3.11,
// 5.0 sections 3.8-3.11).
#include "gateway/codec/decode_fields.hpp"
#include "gateway/codec/utf8.hpp"

namespace tidegate::mqtt::detail {

namespace {

// Syntax errors in a filter are malformed_packet, see decoder.hpp.
bool filter(Fields& f, std::string& out) {
  if (!f.utf8(out, "topic filter")) return false;
  return valid_topic_filter(out) ||
         f.fail(ReasonCode::malformed_packet, "invalid topic filter \"" + out + "\"");
}

bool subscription_options(Fields& f, SubscriptionRequest& sub) {
  uint8_t options = 0;
  if (!f.u8(options, "subscription options")) return false;
  sub.qos = options & 0x3;
  if (!f.v5()) {
    // [MQTT-3.8.3-4]: bits 2..7 reserved, QoS 3 malformed.
    if (options & 0xFC) return f.fail(ReasonCode::malformed_packet, "reserved option bits set");
    if (sub.qos == 3) return f.fail(ReasonCode::malformed_packet, "requested QoS is 3");
    return true;
  }
  // [MQTT-3.8.3-5]: bits 6..7 reserved.
  if (options & 0xC0) return f.fail(ReasonCode::malformed_packet, "reserved option bits set");
  sub.no_local = (options & 0x04) != 0;
  sub.retain_as_published = (options & 0x08) != 0;
  sub.retain_handling = static_cast<uint8_t>((options >> 4) & 0x3);
  if (sub.qos == 3) return f.fail(ReasonCode::protocol_error, "requested QoS is 3");
  if (sub.retain_handling == 3) return f.fail(ReasonCode::protocol_error, "retain handling is 3");
  // [MQTT-3.8.3-4] (v5)
  if (sub.no_local && is_shared_filter(sub.filter)) {
    return f.fail(ReasonCode::protocol_error, "no local set on a shared subscription");
  }
  return true;
}

bool reason_codes(Fields& f, PacketType type, std::vector<uint8_t>& out) {
  while (!f.reader().empty()) {
    if (!f.reason_code(type, out.emplace_back())) return false;
  }
  return !out.empty() || f.fail(ReasonCode::malformed_packet, "no reason codes");
}

}  // namespace

DecodeStatus decode_subscribe(std::span<const uint8_t> body, ProtocolVersion v, Subscribe& out) {
  Fields f(body, "SUBSCRIBE", v);
  if (!f.packet_id(out.packet_id)) return f.take_status();
  if (f.v5() && !f.properties(PropertyContext::subscribe, out.properties)) return f.take_status();
  while (!f.reader().empty()) {
    SubscriptionRequest& sub = out.subscriptions.emplace_back();
    if (!filter(f, sub.filter) || !subscription_options(f, sub)) return f.take_status();
  }
  // [MQTT-3.8.3-3] (3.1.1), [MQTT-3.8.3-2] (5.0)
  if (out.subscriptions.empty()) f.violation("no topic filters");
  return f.take_status();
}

DecodeStatus decode_suback(std::span<const uint8_t> body, ProtocolVersion v, Suback& out) {
  Fields f(body, "SUBACK", v);
  if (!f.packet_id(out.packet_id)) return f.take_status();
  if (f.v5() && !f.properties(PropertyContext::suback, out.properties)) return f.take_status();
  reason_codes(f, PacketType::suback, out.reason_codes);
  return f.take_status();
}

DecodeStatus decode_unsubscribe(std::span<const uint8_t> body, ProtocolVersion v,
                                Unsubscribe& out) {
  Fields f(body, "UNSUBSCRIBE", v);
  if (!f.packet_id(out.packet_id)) return f.take_status();
  if (f.v5() && !f.properties(PropertyContext::unsubscribe, out.properties)) {
    return f.take_status();
  }
  while (!f.reader().empty()) {
    if (!filter(f, out.filters.emplace_back())) return f.take_status();
  }
  // [MQTT-3.10.3-2]
  if (out.filters.empty()) f.violation("no topic filters");
  return f.take_status();
}

DecodeStatus decode_unsuback(std::span<const uint8_t> body, ProtocolVersion v, Unsuback& out) {
  Fields f(body, "UNSUBACK", v);
  if (!f.packet_id(out.packet_id)) return f.take_status();
  if (!f.v5()) {
    f.finish();  // 3.1.1 UNSUBACK has no payload
    return f.take_status();
  }
  if (!f.properties(PropertyContext::unsuback, out.properties)) return f.take_status();
  reason_codes(f, PacketType::unsuback, out.reason_codes);
  return f.take_status();
}

}  // namespace tidegate::mqtt::detail
