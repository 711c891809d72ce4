// Fixed-header checks and dispatch to the per-packet decoders, plus the
// shared field reader they use.
#include "gateway/codec/decoder.hpp"

#include <algorithm>
#include <initializer_list>

#include "gateway/codec/decode_fields.hpp"
#include "gateway/codec/utf8.hpp"

namespace tidegate::mqtt {

namespace detail {

bool Fields::fail(ReasonCode code, std::string what) {
  if (status_.code == ReasonCode::success) {
    status_.code = code;
    status_.detail = std::string(packet_) + ": " + what;
  }
  return false;
}

bool Fields::violation(std::string what) {
  return fail(v5() ? ReasonCode::protocol_error : ReasonCode::malformed_packet, std::move(what));
}

bool Fields::truncated(const char* what) {
  return fail(ReasonCode::malformed_packet, std::string(what) + " is truncated");
}

bool Fields::u8(uint8_t& v, const char* what) { return r_.u8(v) || truncated(what); }

bool Fields::u16(uint16_t& v, const char* what) { return r_.u16(v) || truncated(what); }

bool Fields::packet_id(uint16_t& v) {
  if (!u16(v, "packet identifier")) return false;
  return v != 0 || violation("packet identifier is 0");
}

bool Fields::utf8(std::string& v, const char* what) {
  if (!r_.binary(v)) return truncated(what);
  return valid_mqtt_utf8(v) ||
         fail(ReasonCode::malformed_packet, std::string(what) + " is not valid UTF-8");
}

bool Fields::binary(std::string& v, const char* what) { return r_.binary(v) || truncated(what); }

bool Fields::properties(PropertyContext ctx, Properties& out) {
  std::span<const uint8_t> rest = r_.peek();
  std::string what;
  const ReasonCode rc = decode_properties(rest, ctx, out, what);
  if (rc != ReasonCode::success) {
    // decode_properties names the packet itself.
    if (status_.code == ReasonCode::success) status_ = {rc, std::move(what)};
    return false;
  }
  r_.skip(r_.remaining() - rest.size());
  return true;
}

bool Fields::reason_code(PacketType type, uint8_t& v) {
  if (!u8(v, "reason code")) return false;
  if (valid_reason_code(type, v, version_)) return true;
  const char* digits = "0123456789abcdef";
  return fail(ReasonCode::malformed_packet, std::string("reason code 0x") + digits[v >> 4] +
                                                digits[v & 0xF] +
                                                " is not valid for this packet type");
}

bool Fields::finish() {
  return r_.empty() || fail(ReasonCode::malformed_packet,
                            std::to_string(r_.remaining()) + " unexpected bytes at the end");
}

}  // namespace detail

namespace {

using detail::DecodeStatus;

DecodeStatus decode_empty(std::span<const uint8_t> body, const char* name) {
  if (body.empty()) return {};
  return {ReasonCode::malformed_packet, std::string(name) + ": remaining length must be 0"};
}

// Fixed header flags of MQTT 3.1.1 table 2.2 / MQTT 5.0 table 2-2 (PUBLISH
// excepted); anything else is a malformed packet [MQTT-2.1.3-1].
uint8_t required_flags(PacketType type) {
  switch (type) {
    case PacketType::pubrel:
    case PacketType::subscribe:
    case PacketType::unsubscribe: return 0x2;
    default: return 0x0;
  }
}

template <class T>
T& emplace(Packet& packet) {
  return packet.emplace<T>();
}

}  // namespace

bool valid_reason_code(PacketType type, uint8_t code, ProtocolVersion version) {
  const auto in = [code](std::initializer_list<uint8_t> set) {
    return std::find(set.begin(), set.end(), code) != set.end();
  };
  if (version != ProtocolVersion::v5) {
    switch (type) {
      case PacketType::connack: return code <= 5;
      case PacketType::suback: return in({0x00, 0x01, 0x02, 0x80});
      default: return code == 0;
    }
  }
  switch (type) {
    case PacketType::connack:
      return in({0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
                 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F});
    case PacketType::puback:
    case PacketType::pubrec: return in({0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99});
    case PacketType::pubrel:
    case PacketType::pubcomp: return in({0x00, 0x92});
    case PacketType::suback:
      return in({0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2});
    case PacketType::unsuback: return in({0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91});
    case PacketType::disconnect:
      return in({0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
                 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
                 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2});
    case PacketType::auth: return in({0x00, 0x18, 0x19});
    default: return code == 0;
  }
}

DecodeResult decode(const FrameReader::Frame& frame, ProtocolVersion version) {
  return decode(frame.first_byte, frame.body, version);
}

namespace {
// The packet of `type` decoded from `body` into `result` (which holds that
// type even when decoding fails, so a caller can read what was parsed).
DecodeStatus decode_body(PacketType type, uint8_t flags, std::span<const uint8_t> body, ProtocolVersion version,
                         Packet& result) {
  DecodeStatus status;
  const auto check_flags = [&]() {
    if (flags == required_flags(type)) return true;
    status = {ReasonCode::malformed_packet,
              std::string(to_string(type)) + ": reserved fixed header flags are " +
                  std::to_string(flags) + ", must be " + std::to_string(required_flags(type))};
    return false;
  };

  using namespace detail;
  switch (type) {
    case PacketType::connect: {
      auto& p = emplace<Connect>(result);
      if (check_flags()) status = decode_connect(body, p);
      break;
    }
    case PacketType::connack: {
      auto& p = emplace<Connack>(result);
      if (check_flags()) status = decode_connack(body, version, p);
      break;
    }
    case PacketType::publish:
      status = decode_publish(flags, body, version, emplace<Publish>(result));
      break;
    case PacketType::puback:
    case PacketType::pubrec:
    case PacketType::pubrel:
    case PacketType::pubcomp: {
      auto& p = emplace<PubResponse>(result);
      p.type = type;
      if (check_flags()) status = decode_pub_response(body, version, p);
      break;
    }
    case PacketType::subscribe: {
      auto& p = emplace<Subscribe>(result);
      if (check_flags()) status = decode_subscribe(body, version, p);
      break;
    }
    case PacketType::suback: {
      auto& p = emplace<Suback>(result);
      if (check_flags()) status = decode_suback(body, version, p);
      break;
    }
    case PacketType::unsubscribe: {
      auto& p = emplace<Unsubscribe>(result);
      if (check_flags()) status = decode_unsubscribe(body, version, p);
      break;
    }
    case PacketType::unsuback: {
      auto& p = emplace<Unsuback>(result);
      if (check_flags()) status = decode_unsuback(body, version, p);
      break;
    }
    case PacketType::pingreq:
      emplace<Pingreq>(result);
      if (check_flags()) status = decode_empty(body, "PINGREQ");
      break;
    case PacketType::pingresp:
      emplace<Pingresp>(result);
      if (check_flags()) status = decode_empty(body, "PINGRESP");
      break;
    case PacketType::disconnect: {
      auto& p = emplace<Disconnect>(result);
      if (check_flags()) status = decode_disconnect(body, version, p);
      break;
    }
    case PacketType::auth: {
      auto& p = emplace<Auth>(result);
      if (check_flags()) status = decode_auth(body, p);
      break;
    }
  }
  return status;
}
}  // namespace

ReasonCode decode_into(uint8_t first_byte, std::span<const uint8_t> body, ProtocolVersion version, Packet& out,
                       std::string& detail) {
  const uint8_t type_bits = first_byte >> 4;
  const uint8_t flags = first_byte & 0x0F;
  if (type_bits == 0) {
    detail = "packet type 0 is reserved";
    return ReasonCode::malformed_packet;
  }
  if (type_bits == 15 && version != ProtocolVersion::v5) {
    detail = "packet type 15 (AUTH) does not exist before MQTT 5";
    return ReasonCode::malformed_packet;
  }
  DecodeStatus status = decode_body(static_cast<PacketType>(type_bits), flags, body, version, out);
  detail = std::move(status.detail);
  return status.code;
}

ReasonCode decode_into(const FrameReader::Frame& frame, ProtocolVersion version, Packet& out, std::string& detail) {
  return decode_into(frame.first_byte, frame.body, version, out, detail);
}

DecodeResult decode(uint8_t first_byte, std::span<const uint8_t> body, ProtocolVersion version) {
  DecodeResult result;
  result.error = decode_into(first_byte, body, version, result.packet, result.detail);
  return result;
}

}  // namespace tidegate::mqtt
