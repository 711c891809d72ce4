#include "gateway/codec/properties.hpp"

#include <string_view>

#include "gateway/codec/utf8.hpp"
#include "gateway/codec/wire.hpp"

namespace tidegate::mqtt {

namespace {

using Id = PropertyId;
using Ctx = PropertyContext;

constexpr uint16_t bit(Ctx c) { return static_cast<uint16_t>(1u << static_cast<unsigned>(c)); }

constexpr uint16_t all_contexts = 0x3FFF;
constexpr uint16_t publish_and_will = bit(Ctx::publish) | bit(Ctx::will);
constexpr uint16_t acks_with_reason = bit(Ctx::connack) | bit(Ctx::puback) | bit(Ctx::pubrec) |
                                      bit(Ctx::pubrel) | bit(Ctx::pubcomp) | bit(Ctx::suback) |
                                      bit(Ctx::unsuback) | bit(Ctx::disconnect) | bit(Ctx::auth);

// MQTT 5.0 table 2-4. Zero for identifiers the spec does not define.
uint16_t allowed_mask(uint8_t id) {
  switch (static_cast<Id>(id)) {
    case Id::payload_format_indicator:
    case Id::message_expiry_interval:
    case Id::content_type:
    case Id::response_topic:
    case Id::correlation_data: return publish_and_will;
    case Id::subscription_identifier: return bit(Ctx::publish) | bit(Ctx::subscribe);
    case Id::session_expiry_interval:
      return bit(Ctx::connect) | bit(Ctx::connack) | bit(Ctx::disconnect);
    case Id::assigned_client_identifier:
    case Id::server_keep_alive:
    case Id::response_information:
    case Id::maximum_qos:
    case Id::retain_available:
    case Id::wildcard_subscription_available:
    case Id::subscription_identifier_available:
    case Id::shared_subscription_available: return bit(Ctx::connack);
    case Id::authentication_method:
    case Id::authentication_data: return bit(Ctx::connect) | bit(Ctx::connack) | bit(Ctx::auth);
    case Id::request_problem_information:
    case Id::request_response_information: return bit(Ctx::connect);
    case Id::will_delay_interval: return bit(Ctx::will);
    case Id::server_reference: return bit(Ctx::connack) | bit(Ctx::disconnect);
    case Id::reason_string: return acks_with_reason;
    case Id::receive_maximum:
    case Id::topic_alias_maximum:
    case Id::maximum_packet_size: return bit(Ctx::connect) | bit(Ctx::connack);
    case Id::topic_alias: return bit(Ctx::publish);
    case Id::user_property: return all_contexts;
  }
  return 0;
}

const char* context_name(Ctx c) {
  switch (c) {
    case Ctx::connect: return "CONNECT";
    case Ctx::connack: return "CONNACK";
    case Ctx::publish: return "PUBLISH";
    case Ctx::puback: return "PUBACK";
    case Ctx::pubrec: return "PUBREC";
    case Ctx::pubrel: return "PUBREL";
    case Ctx::pubcomp: return "PUBCOMP";
    case Ctx::subscribe: return "SUBSCRIBE";
    case Ctx::suback: return "SUBACK";
    case Ctx::unsubscribe: return "UNSUBSCRIBE";
    case Ctx::unsuback: return "UNSUBACK";
    case Ctx::disconnect: return "DISCONNECT";
    case Ctx::auth: return "AUTH";
    case Ctx::will: return "Will Properties";
  }
  return "?";
}

// Reads the properties of one block. The first error ends decoding.
class BlockParser {
 public:
  BlockParser(std::span<const uint8_t> block, Ctx ctx, Properties& out, std::string& detail)
      : r_(block), ctx_(ctx), out_(out), detail_(detail) {}

  ReasonCode run() {
    while (!r_.empty()) {
      uint8_t raw_id = 0;
      r_.u8(raw_id);
      const uint16_t mask = allowed_mask(raw_id);
      if (mask == 0) {
        return fail(ReasonCode::malformed_packet, "unknown property identifier 0x" + hex(raw_id));
      }
      id_ = static_cast<Id>(raw_id);
      if ((mask & bit(ctx_)) == 0) {
        return fail(ReasonCode::malformed_packet,
                    std::string(to_string(id_)) + " is not allowed in " + context_name(ctx_));
      }
      if (const ReasonCode rc = one(); rc != ReasonCode::success) return rc;
    }
    return ReasonCode::success;
  }

 private:
  static std::string hex(uint8_t v) {
    const char* digits = "0123456789abcdef";
    return {digits[v >> 4], digits[v & 0xF]};
  }

  ReasonCode fail(ReasonCode rc, std::string what) {
    detail_ = std::move(what);
    return rc;
  }
  ReasonCode truncated() {
    return fail(ReasonCode::malformed_packet, std::string(to_string(id_)) + " value is truncated");
  }
  ReasonCode duplicate() {
    return fail(ReasonCode::protocol_error,
                std::string(to_string(id_)) + " appears more than once");
  }
  ReasonCode bad_value(const char* why) {
    return fail(ReasonCode::protocol_error, std::string(to_string(id_)) + " " + why);
  }

  // Each value is read before the duplicate check so that a block which is
  // both malformed and repetitive is reported as malformed.
  template <class T>
  ReasonCode integer(std::optional<T>& field) {
    T v{};
    bool ok;
    if constexpr (sizeof(T) == 1)
      ok = r_.u8(v);
    else if constexpr (sizeof(T) == 2)
      ok = r_.u16(v);
    else
      ok = r_.u32(v);
    if (!ok) return truncated();
    if (field) return duplicate();
    field = v;
    return ReasonCode::success;
  }
  ReasonCode flag(std::optional<uint8_t>& field) {
    if (const ReasonCode rc = integer(field); rc != ReasonCode::success) return rc;
    if (*field > 1) return bad_value("must be 0 or 1");
    return ReasonCode::success;
  }
  template <class T>
  ReasonCode nonzero(std::optional<T>& field) {
    if (const ReasonCode rc = integer(field); rc != ReasonCode::success) return rc;
    if (*field == 0) return bad_value("must not be 0");
    return ReasonCode::success;
  }
  ReasonCode utf8(std::string& value) {
    if (!r_.binary(value)) return truncated();
    if (!valid_mqtt_utf8(value)) {
      return fail(ReasonCode::malformed_packet,
                  std::string(to_string(id_)) + " is not valid UTF-8");
    }
    return ReasonCode::success;
  }
  ReasonCode string(std::optional<std::string>& field) {
    std::string v;
    if (const ReasonCode rc = utf8(v); rc != ReasonCode::success) return rc;
    if (field) return duplicate();
    field = std::move(v);
    return ReasonCode::success;
  }
  ReasonCode binary(std::optional<std::string>& field) {
    std::string v;
    if (!r_.binary(v)) return truncated();
    if (field) return duplicate();
    field = std::move(v);
    return ReasonCode::success;
  }

  ReasonCode one() {
    Properties& p = out_;
    switch (id_) {
      case Id::payload_format_indicator: return flag(p.payload_format_indicator);
      case Id::message_expiry_interval: return integer(p.message_expiry_interval);
      case Id::content_type: return string(p.content_type);
      case Id::response_topic: {
        if (const ReasonCode rc = string(p.response_topic); rc != ReasonCode::success) return rc;
        // [MQTT-3.3.2-14]: a Topic Name, so no wildcards and not empty.
        if (!valid_topic_name(*p.response_topic)) return bad_value("is not a valid topic name");
        return ReasonCode::success;
      }
      case Id::correlation_data: return binary(p.correlation_data);
      case Id::subscription_identifier: {
        uint32_t v = 0;
        switch (r_.vbi(v)) {
          case wire::Reader::VbiStatus::truncated: return truncated();
          case wire::Reader::VbiStatus::malformed:
            return fail(ReasonCode::malformed_packet,
                        "Subscription Identifier is not a valid variable byte integer");
          case wire::Reader::VbiStatus::ok: break;
        }
        // Several only in PUBLISH (one per matching subscription).
        if (ctx_ != Ctx::publish && !p.subscription_identifiers.empty()) return duplicate();
        if (v == 0) return bad_value("must not be 0");
        p.subscription_identifiers.push_back(v);
        return ReasonCode::success;
      }
      case Id::session_expiry_interval: return integer(p.session_expiry_interval);
      case Id::assigned_client_identifier: return string(p.assigned_client_identifier);
      case Id::server_keep_alive: return integer(p.server_keep_alive);
      case Id::authentication_method: return string(p.authentication_method);
      case Id::authentication_data: return binary(p.authentication_data);
      case Id::request_problem_information: return flag(p.request_problem_information);
      case Id::will_delay_interval: return integer(p.will_delay_interval);
      case Id::request_response_information: return flag(p.request_response_information);
      case Id::response_information: return string(p.response_information);
      case Id::server_reference: return string(p.server_reference);
      case Id::reason_string: return string(p.reason_string);
      case Id::receive_maximum: return nonzero(p.receive_maximum);
      case Id::topic_alias_maximum: return integer(p.topic_alias_maximum);
      // Topic Alias 0 is forbidden [MQTT-3.3.2-8]; an alias above the
      // negotiated maximum is the session's business (topic_alias_invalid).
      case Id::topic_alias: return nonzero(p.topic_alias);
      case Id::maximum_qos: return flag(p.maximum_qos);
      case Id::retain_available: return flag(p.retain_available);
      case Id::user_property: {
        UserProperty up;
        if (const ReasonCode rc = utf8(up.key); rc != ReasonCode::success) return rc;
        if (const ReasonCode rc = utf8(up.value); rc != ReasonCode::success) return rc;
        p.user_properties.push_back(std::move(up));
        return ReasonCode::success;
      }
      case Id::maximum_packet_size: return nonzero(p.maximum_packet_size);
      case Id::wildcard_subscription_available: return flag(p.wildcard_subscription_available);
      case Id::subscription_identifier_available: return flag(p.subscription_identifier_available);
      case Id::shared_subscription_available: return flag(p.shared_subscription_available);
    }
    return fail(ReasonCode::malformed_packet, "unknown property identifier");
  }

  wire::Reader r_;
  Ctx ctx_;
  Properties& out_;
  std::string& detail_;
  Id id_ = Id::user_property;
};

// The properties of the block, without the Property Length, in identifier order.
template <class W>
void write_properties(const Properties& p, Ctx ctx, W& w) {
  const auto allowed = [ctx](Id id) { return property_allowed(id, ctx); };
  const auto id_byte = [](Id id) { return static_cast<uint8_t>(id); };
  const auto u8 = [&](Id id, const std::optional<uint8_t>& v) {
    if (v && allowed(id)) {
      w.u8(id_byte(id));
      w.u8(*v);
    }
  };
  const auto u16 = [&](Id id, const std::optional<uint16_t>& v) {
    if (v && allowed(id)) {
      w.u8(id_byte(id));
      w.u16(*v);
    }
  };
  const auto u32 = [&](Id id, const std::optional<uint32_t>& v) {
    if (v && allowed(id)) {
      w.u8(id_byte(id));
      w.u32(*v);
    }
  };
  const auto str = [&](Id id, const std::optional<std::string>& v) {
    if (v && allowed(id)) {
      w.u8(id_byte(id));
      w.string(*v, to_string(id));
    }
  };

  u8(Id::payload_format_indicator, p.payload_format_indicator);
  u32(Id::message_expiry_interval, p.message_expiry_interval);
  str(Id::content_type, p.content_type);
  str(Id::response_topic, p.response_topic);
  str(Id::correlation_data, p.correlation_data);
  if (allowed(Id::subscription_identifier)) {
    for (const uint32_t v : p.subscription_identifiers) {
      w.u8(id_byte(Id::subscription_identifier));
      w.vbi(v);
      if (ctx != Ctx::publish) break;  // SUBSCRIBE carries at most one
    }
  }
  u32(Id::session_expiry_interval, p.session_expiry_interval);
  str(Id::assigned_client_identifier, p.assigned_client_identifier);
  u16(Id::server_keep_alive, p.server_keep_alive);
  str(Id::authentication_method, p.authentication_method);
  str(Id::authentication_data, p.authentication_data);
  u8(Id::request_problem_information, p.request_problem_information);
  u32(Id::will_delay_interval, p.will_delay_interval);
  u8(Id::request_response_information, p.request_response_information);
  str(Id::response_information, p.response_information);
  str(Id::server_reference, p.server_reference);
  str(Id::reason_string, p.reason_string);
  u16(Id::receive_maximum, p.receive_maximum);
  u16(Id::topic_alias_maximum, p.topic_alias_maximum);
  u16(Id::topic_alias, p.topic_alias);
  u8(Id::maximum_qos, p.maximum_qos);
  u8(Id::retain_available, p.retain_available);
  for (const UserProperty& up : p.user_properties) {
    w.u8(id_byte(Id::user_property));
    w.string(up.key, "User Property name");
    w.string(up.value, "User Property value");
  }
  u32(Id::maximum_packet_size, p.maximum_packet_size);
  u8(Id::wildcard_subscription_available, p.wildcard_subscription_available);
  u8(Id::subscription_identifier_available, p.subscription_identifier_available);
  u8(Id::shared_subscription_available, p.shared_subscription_available);
}

std::size_t body_size(const Properties& props, Ctx ctx) {
  wire::SizeCounter counter;
  write_properties(props, ctx, counter);
  return counter.n;
}

}  // namespace

const char* to_string(PropertyId id) {
  switch (id) {
    case Id::payload_format_indicator: return "Payload Format Indicator";
    case Id::message_expiry_interval: return "Message Expiry Interval";
    case Id::content_type: return "Content Type";
    case Id::response_topic: return "Response Topic";
    case Id::correlation_data: return "Correlation Data";
    case Id::subscription_identifier: return "Subscription Identifier";
    case Id::session_expiry_interval: return "Session Expiry Interval";
    case Id::assigned_client_identifier: return "Assigned Client Identifier";
    case Id::server_keep_alive: return "Server Keep Alive";
    case Id::authentication_method: return "Authentication Method";
    case Id::authentication_data: return "Authentication Data";
    case Id::request_problem_information: return "Request Problem Information";
    case Id::will_delay_interval: return "Will Delay Interval";
    case Id::request_response_information: return "Request Response Information";
    case Id::response_information: return "Response Information";
    case Id::server_reference: return "Server Reference";
    case Id::reason_string: return "Reason String";
    case Id::receive_maximum: return "Receive Maximum";
    case Id::topic_alias_maximum: return "Topic Alias Maximum";
    case Id::topic_alias: return "Topic Alias";
    case Id::maximum_qos: return "Maximum QoS";
    case Id::retain_available: return "Retain Available";
    case Id::user_property: return "User Property";
    case Id::maximum_packet_size: return "Maximum Packet Size";
    case Id::wildcard_subscription_available: return "Wildcard Subscription Available";
    case Id::subscription_identifier_available: return "Subscription Identifier Available";
    case Id::shared_subscription_available: return "Shared Subscription Available";
  }
  return "unknown property";
}

PropertyContext property_context(PacketType type) {
  switch (type) {
    case PacketType::connect: return Ctx::connect;
    case PacketType::connack: return Ctx::connack;
    case PacketType::publish: return Ctx::publish;
    case PacketType::puback: return Ctx::puback;
    case PacketType::pubrec: return Ctx::pubrec;
    case PacketType::pubrel: return Ctx::pubrel;
    case PacketType::pubcomp: return Ctx::pubcomp;
    case PacketType::subscribe: return Ctx::subscribe;
    case PacketType::suback: return Ctx::suback;
    case PacketType::unsubscribe: return Ctx::unsubscribe;
    case PacketType::unsuback: return Ctx::unsuback;
    case PacketType::auth: return Ctx::auth;
    case PacketType::disconnect:
    case PacketType::pingreq:
    case PacketType::pingresp: return Ctx::disconnect;
  }
  return Ctx::disconnect;
}

bool property_allowed(PropertyId id, PropertyContext ctx) {
  return (allowed_mask(static_cast<uint8_t>(id)) & bit(ctx)) != 0;
}

ReasonCode decode_properties(std::span<const uint8_t>& in, PropertyContext ctx, Properties& out,
                             std::string& detail) {
  wire::Reader r(in);
  uint32_t length = 0;
  switch (r.vbi(length)) {
    case wire::Reader::VbiStatus::truncated:
      detail = std::string(context_name(ctx)) + ": property length is truncated";
      return ReasonCode::malformed_packet;
    case wire::Reader::VbiStatus::malformed:
      detail =
          std::string(context_name(ctx)) + ": property length is not a valid variable byte integer";
      return ReasonCode::malformed_packet;
    case wire::Reader::VbiStatus::ok: break;
  }
  if (length > r.remaining()) {
    detail = std::string(context_name(ctx)) + ": property length " + std::to_string(length) +
             " exceeds the " + std::to_string(r.remaining()) + " bytes left in the packet";
    return ReasonCode::malformed_packet;
  }
  const std::span<const uint8_t> block = r.take(length);
  std::string what;
  const ReasonCode rc = BlockParser(block, ctx, out, what).run();
  if (rc != ReasonCode::success) {
    detail = std::string(context_name(ctx)) + ": " + what;
    return rc;
  }
  in = r.rest();
  return ReasonCode::success;
}

void encode_properties(const Properties& props, PropertyContext ctx, std::string& out) {
  wire::StringWriter w{out};
  w.vbi(static_cast<uint32_t>(body_size(props, ctx)));
  write_properties(props, ctx, w);
}

std::size_t encoded_properties_size(const Properties& props, PropertyContext ctx) {
  const std::size_t n = body_size(props, ctx);
  return wire::vbi_size(static_cast<uint32_t>(n)) + n;
}

}  // namespace tidegate::mqtt
