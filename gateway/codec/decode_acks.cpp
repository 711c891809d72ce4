// CONNACK, PUBACK/PUBREC/PUBREL/PUBCOMP, DISCONNECT and AUTH: the packets
// made of a reason code and properties, several with abbreviated forms
// (MQTT 3.1.1 sections 3.2, 3.4-3.7, 3.14; 5.0 sections 3.2, 3.4-3.7, 3.14,
// 3.15).
#include "gateway/codec/decode_fields.hpp"

namespace tidegate::mqtt::detail {

DecodeStatus decode_connack(std::span<const uint8_t> body, ProtocolVersion v, Connack& out) {
  Fields f(body, "CONNACK", v);
  uint8_t ack_flags = 0;
  if (!f.u8(ack_flags, "acknowledge flags")) return f.take_status();
  // Bits 7..1 reserved [MQTT-3.2.2-1] (5.0: "Reserved and set to 0").
  if (ack_flags & 0xFE) {
    f.fail(ReasonCode::malformed_packet, "reserved acknowledge flags set");
    return f.take_status();
  }
  out.session_present = (ack_flags & 0x01) != 0;
  if (!f.reason_code(PacketType::connack, out.reason_code)) return f.take_status();
  // A v5 CONNACK always carries a property length; tolerate its absence as
  // "no properties", like the other abbreviated forms.
  if (f.v5() && !f.reader().empty() && !f.properties(PropertyContext::connack, out.properties)) {
    return f.take_status();
  }
  f.finish();
  return f.take_status();
}

DecodeStatus decode_pub_response(std::span<const uint8_t> body, ProtocolVersion v,
                                 PubResponse& out) {
  Fields f(body, to_string(out.type), v);
  if (!f.packet_id(out.packet_id)) return f.take_status();
  // v5: Remaining Length 2 means success without properties; 3 means a reason
  // code without properties (MQTT 5.0 section 3.4.2.1).
  if (f.v5() && !f.reader().empty()) {
    if (!f.reason_code(out.type, out.reason_code)) return f.take_status();
    if (!f.reader().empty() && !f.properties(property_context(out.type), out.properties)) {
      return f.take_status();
    }
  }
  f.finish();
  return f.take_status();
}

DecodeStatus decode_disconnect(std::span<const uint8_t> body, ProtocolVersion v, Disconnect& out) {
  Fields f(body, "DISCONNECT", v);
  // v5: Remaining Length 0 means normal disconnection without properties; 1
  // means a reason code without properties (MQTT 5.0 section 3.14.2.1).
  if (f.v5() && !f.reader().empty()) {
    if (!f.reason_code(PacketType::disconnect, out.reason_code)) return f.take_status();
    if (!f.reader().empty() && !f.properties(PropertyContext::disconnect, out.properties)) {
      return f.take_status();
    }
  }
  f.finish();
  return f.take_status();
}

DecodeStatus decode_auth(std::span<const uint8_t> body, Auth& out) {
  Fields f(body, "AUTH", ProtocolVersion::v5);
  // Remaining Length 0 means success without properties (MQTT 5.0 section
  // 3.15.2.1). Whether the Authentication Method is present and matches the
  // CONNECT one is checked by the session.
  if (!f.reader().empty()) {
    if (!f.reason_code(PacketType::auth, out.reason_code)) return f.take_status();
    if (!f.reader().empty() && !f.properties(PropertyContext::auth, out.properties)) {
      return f.take_status();
    }
  }
  f.finish();
  return f.take_status();
}

}  // namespace tidegate::mqtt::detail
