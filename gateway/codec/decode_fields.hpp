// Internal to the decoder: a body reader that turns every failure into the
// reason code and detail of DecodeResult, and the per-packet decoders that
// decoder.cpp dispatches to. Not part of the public API.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "gateway/codec/decoder.hpp"
#include "gateway/codec/properties.hpp"
#include "gateway/codec/wire.hpp"

namespace tidegate::mqtt::detail {

struct DecodeStatus {
  ReasonCode code = ReasonCode::success;
  std::string detail;
};

// Every reader returns false after recording the first error; later errors
// are ignored so the first cause is the one reported.
class Fields {
 public:
  Fields(std::span<const uint8_t> body, const char* packet, ProtocolVersion version)
      : r_(body), packet_(packet), version_(version) {}

  void set_version(ProtocolVersion v) { version_ = v; }
  ProtocolVersion version() const { return version_; }
  bool v5() const { return version_ == ProtocolVersion::v5; }
  wire::Reader& reader() { return r_; }

  // Records an error; always returns false.
  bool fail(ReasonCode code, std::string what);
  // protocol_error in v5, malformed_packet before (see decoder.hpp).
  bool violation(std::string what);
  bool truncated(const char* what);

  bool u8(uint8_t& v, const char* what);
  bool u16(uint16_t& v, const char* what);
  // A Packet Identifier, which must not be 0 [MQTT-2.2.1-3].
  bool packet_id(uint16_t& v);
  // UTF-8 Encoded String: truncated or invalid UTF-8 is malformed_packet.
  bool utf8(std::string& v, const char* what);
  // Binary Data.
  bool binary(std::string& v, const char* what);
  bool properties(PropertyContext ctx, Properties& out);
  // A reason code byte, checked against valid_reason_code().
  bool reason_code(PacketType type, uint8_t& v);
  // The body must be fully consumed.
  bool finish();

  DecodeStatus take_status() { return std::move(status_); }

 private:
  wire::Reader r_;
  const char* packet_;
  ProtocolVersion version_;
  DecodeStatus status_;
};

// `flags` is the low nibble of the first byte; the dispatcher has already
// checked it for every packet type except PUBLISH.
DecodeStatus decode_connect(std::span<const uint8_t> body, Connect& out);
DecodeStatus decode_connack(std::span<const uint8_t> body, ProtocolVersion v, Connack& out);
DecodeStatus decode_publish(uint8_t flags, std::span<const uint8_t> body, ProtocolVersion v,
                            Publish& out);
DecodeStatus decode_pub_response(std::span<const uint8_t> body, ProtocolVersion v,
                                 PubResponse& out);
DecodeStatus decode_subscribe(std::span<const uint8_t> body, ProtocolVersion v, Subscribe& out);
DecodeStatus decode_suback(std::span<const uint8_t> body, ProtocolVersion v, Suback& out);
DecodeStatus decode_unsubscribe(std::span<const uint8_t> body, ProtocolVersion v, Unsubscribe& out);
DecodeStatus decode_unsuback(std::span<const uint8_t> body, ProtocolVersion v, Unsuback& out);
DecodeStatus decode_disconnect(std::span<const uint8_t> body, ProtocolVersion v, Disconnect& out);
DecodeStatus decode_auth(std::span<const uint8_t> body, Auth& out);

}  // namespace tidegate::mqtt::detail
