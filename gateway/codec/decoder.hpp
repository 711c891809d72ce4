// Decoding of one framed MQTT control packet into a Packet. Pure: no I/O, no
// session state; usable from any thread.
//
// Errors are returned, never thrown. On error `packet` holds the alternative
// of the packet type being decoded (when the type is known) with the fields
// read before the error, which lets the caller answer sensibly (e.g. the
// protocol level of a rejected CONNECT). The error is the reason code the
// connection should answer with (MQTT 5 DISCONNECT/CONNACK) or, for 3.1.1
// clients, simply the cause of closing the connection.
//
// Choices where the specification leaves room:
//  - A "protocol violation" that is well-formed on the wire (packet identifier
//    0, SUBSCRIBE/UNSUBSCRIBE without topic filters, empty PUBLISH topic
//    without a Topic Alias) is protocol_error in v5 and malformed_packet in
//    3.1/3.1.1, which has no such distinction (the connection just closes).
//  - A topic filter that breaks the wildcard/$share syntax is malformed_packet:
//    MQTT 5 reserves 0x8F (topic_filter_invalid) for filters that are
//    "correctly formed" but refused, which is the broker's decision.
//  - A Topic Name with '+' or '#' (PUBLISH or Will Topic) is topic_name_invalid.
//  - A reason code outside the set the spec lists for that packet type is
//    malformed_packet.
//  - Direction rules (a client must not send CONNACK, nor a Subscription
//    Identifier in PUBLISH, ...) and session rules (Topic Alias above the
//    maximum, Receive Maximum exceeded, second CONNECT) are left to the
//    session: the decoder accepts every packet type in both directions.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "gateway/codec/frame_reader.hpp"
#include "gateway/codec/packet.hpp"
#include "gateway/codec/reason_code.hpp"

namespace tidegate::mqtt {

struct DecodeResult {
  Packet packet;
  ReasonCode error = ReasonCode::success;
  std::string detail;  // human-readable; empty on success
  bool ok() const { return error == ReasonCode::success; }
};

// CONNECT is decoded with `version` ignored (it carries its own level).
// Returns malformed_packet, protocol_error, topic_name_invalid,
// unsupported_protocol_version, ... with a human-readable detail.
DecodeResult decode(const FrameReader::Frame& frame, ProtocolVersion version);
DecodeResult decode(uint8_t first_byte, std::span<const uint8_t> body, ProtocolVersion version);
// The same, into a packet the caller keeps from one frame to the next (no
// DecodeResult per packet: the hot path). `out` holds the frame's packet type
// even when decoding fails; `detail` says what is wrong.
ReasonCode decode_into(const FrameReader::Frame& frame, ProtocolVersion version, Packet& out, std::string& detail);
ReasonCode decode_into(uint8_t first_byte, std::span<const uint8_t> body, ProtocolVersion version, Packet& out,
                       std::string& detail);

// Whether `code` is one the spec lists for packets of `type` in `version`
// (CONNACK return codes 0..5 and SUBACK 0/1/2/0x80 for 3.1/3.1.1;
// PUBACK..PUBCOMP, UNSUBACK, DISCONNECT and AUTH carry none before v5, so only
// 0 is valid for them there).
bool valid_reason_code(PacketType type, uint8_t code, ProtocolVersion version);

}  // namespace tidegate::mqtt
