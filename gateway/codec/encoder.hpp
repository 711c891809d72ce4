// Encoding of packets to bytes. Pure; usable from any thread.
//
// The encoder trusts its caller (the broker) for protocol rules and only
// shapes the packet for the version: v3/v4 encoding writes no properties and
// ignores v5-only fields; properties not allowed in the packet type are
// omitted. Misuse that cannot be put on the wire throws: std::length_error
// for a string over 65535 bytes or a packet over the 268435455-byte remaining
// length, std::invalid_argument for QoS 3, AUTH before v5, or a CONNECT with a
// password but no user name before v5.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "gateway/codec/packet.hpp"

namespace tidegate::mqtt {

// Appends the complete packet (fixed header included) to out. CONNECT is
// encoded with its own `version` field; `version` is ignored for it.
// v5 PUBACK/PUBREC/PUBREL/PUBCOMP with reason 0 and no properties use the
// 2-byte short form; DISCONNECT and AUTH with reason 0 and no properties use
// the zero-length form.
void encode(const Packet& packet, ProtocolVersion version, std::string& out);

// Size a PUBLISH would take, to honour a client's Maximum Packet Size before sending.
std::size_t encoded_size(const Publish& publish, ProtocolVersion version);

// A PUBLISH whose topic and payload live elsewhere (a stored message that many
// sessions deliver): encoded straight from them, with no Publish (and no copy
// of topic and payload) built per delivery. Same bytes as the equivalent
// Publish.
struct PublishView {
  std::string_view topic;
  std::string_view payload;
  uint8_t qos = 0;
  bool retain = false;
  bool dup = false;
  uint16_t packet_id = 0;                  // only on the wire for QoS 1 and 2
  const Properties* properties = nullptr;  // v5 only; null: none
};
void encode(const PublishView& publish, ProtocolVersion version, std::string& out);
std::size_t encoded_size(const PublishView& publish, ProtocolVersion version);

// A PUBLISH encoded once and appended for many deliveries (fan-out).
// Deliveries whose bytes differ only in the fixed-header flags (QoS 1 vs 2,
// DUP, RETAIN) and the packet id share one encoding: encode the PublishView
// once (QoS 0, or QoS 1 or 2 with any packet id), note where its packet id is
// (publish_packet_id_offset), and append_patched_publish writes the flags and
// packet id of each delivery, byte for byte what encode() gives for it.
// QoS 0 and QoS 1/2 differ in length (no packet id) and cannot share.
std::size_t publish_packet_id_offset(std::string_view encoded, std::size_t topic_size);  // 0: QoS 0
void append_patched_publish(std::string_view encoded, std::size_t packet_id_at, uint8_t qos, bool retain, bool dup,
                            uint16_t packet_id, std::string& out);

// The acknowledgements without wrapping them in a Packet first (a Packet copy
// costs a Properties copy per acknowledgement).
void encode(const PubResponse& response, ProtocolVersion version, std::string& out);
std::size_t encoded_size(const PubResponse& response, ProtocolVersion version);

// Size encode() would append for any packet.
std::size_t encoded_size(const Packet& packet, ProtocolVersion version);

}  // namespace tidegate::mqtt
