#include "gateway/codec/encoder.hpp"

#include <algorithm>
#include <stdexcept>
#include <type_traits>
#include <variant>

#include "gateway/codec/wire.hpp"

namespace tidegate::mqtt {

namespace {

bool is_v5(ProtocolVersion v) { return v == ProtocolVersion::v5; }

uint8_t check_qos(uint8_t qos, const char* what) {
  if (qos > 2) throw std::invalid_argument(std::string("mqtt encode: ") + what + " above 2");
  return qos;
}

// The body writers below describe each packet once; they run with a
// SizeCounter to learn the remaining length and then with a StringWriter.

template <class W>
void properties(W& w, const Properties& props, PropertyContext ctx) {
  if constexpr (std::is_same_v<W, wire::SizeCounter>) {
    w.n += encoded_properties_size(props, ctx);
  } else {
    encode_properties(props, ctx, w.out);
  }
}

bool no_properties(const Properties& props, PropertyContext ctx) {
  return encoded_properties_size(props, ctx) == 1;  // just a zero Property Length
}

// Each body writer returns the first byte of the fixed header.
struct BodyWriter {
  ProtocolVersion version;

  template <class W>
  uint8_t operator()(W& w, const Connect& p) const {
    const ProtocolVersion v = p.version;
    const bool v5 = is_v5(v);
    std::string_view name = p.protocol_name;
    if (name.empty()) name = v == ProtocolVersion::v31 ? "MQIsdp" : "MQTT";
    w.string(name, "protocol name");
    w.u8(static_cast<uint8_t>(v));
    if (!v5 && p.password && !p.username) {
      throw std::invalid_argument("mqtt encode: CONNECT password without user name before MQTT 5");
    }
    uint8_t flags = 0;
    if (p.clean_start) flags |= 0x02;
    if (p.will) {
      flags |= 0x04;
      flags |= static_cast<uint8_t>(check_qos(p.will->qos, "will QoS") << 3);
      if (p.will->retain) flags |= 0x20;
    }
    if (p.password) flags |= 0x40;
    if (p.username) flags |= 0x80;
    w.u8(flags);
    w.u16(p.keep_alive);
    if (v5) properties(w, p.properties, PropertyContext::connect);
    w.string(p.client_id, "client identifier");
    if (p.will) {
      if (v5) properties(w, p.will->properties, PropertyContext::will);
      w.string(p.will->topic, "will topic");
      w.string(p.will->payload, "will payload");
    }
    if (p.username) w.string(*p.username, "user name");
    if (p.password) w.string(*p.password, "password");
    return 0x10;
  }

  template <class W>
  uint8_t operator()(W& w, const Connack& p) const {
    w.u8(p.session_present ? 1 : 0);
    if (is_v5(version)) {
      w.u8(p.reason_code);
      properties(w, p.properties, PropertyContext::connack);
    } else {
      uint8_t rc = p.reason_code;
      if (rc >= 0x80) rc = static_cast<uint8_t>(to_v311_connack(static_cast<ReasonCode>(rc)));
      w.u8(rc);
    }
    return 0x20;
  }

  template <class W>
  uint8_t operator()(W& w, const Publish& p) const {
    return (*this)(w, PublishView{p.topic, p.payload, p.qos, p.retain, p.dup, p.packet_id, &p.properties});
  }

  template <class W>
  uint8_t operator()(W& w, const PublishView& p) const {
    static const Properties none;
    const uint8_t qos = check_qos(p.qos, "PUBLISH QoS");
    w.string(p.topic, "topic name");
    if (qos > 0) w.u16(p.packet_id);
    if (is_v5(version)) properties(w, p.properties ? *p.properties : none, PropertyContext::publish);
    w.raw(p.payload);
    uint8_t first = 0x30 | static_cast<uint8_t>(qos << 1);
    if (p.dup && qos > 0) first |= 0x08;  // DUP must be 0 for QoS 0 [MQTT-3.3.1-2]
    if (p.retain) first |= 0x01;
    return first;
  }

  template <class W>
  uint8_t operator()(W& w, const PubResponse& p) const {
    const uint8_t type = static_cast<uint8_t>(p.type);
    if (type < static_cast<uint8_t>(PacketType::puback) ||
        type > static_cast<uint8_t>(PacketType::pubcomp)) {
      throw std::invalid_argument("mqtt encode: PubResponse type is not PUBACK..PUBCOMP");
    }
    w.u16(p.packet_id);
    if (is_v5(version)) {
      const PropertyContext ctx = property_context(p.type);
      const bool bare = no_properties(p.properties, ctx);
      if (p.reason_code != 0 || !bare) w.u8(p.reason_code);
      if (!bare) properties(w, p.properties, ctx);
    }
    return static_cast<uint8_t>(type << 4) | (p.type == PacketType::pubrel ? 0x2 : 0x0);
  }

  template <class W>
  uint8_t operator()(W& w, const Subscribe& p) const {
    w.u16(p.packet_id);
    const bool v5 = is_v5(version);
    if (v5) properties(w, p.properties, PropertyContext::subscribe);
    for (const SubscriptionRequest& s : p.subscriptions) {
      w.string(s.filter, "topic filter");
      uint8_t options = check_qos(s.qos, "subscription QoS");
      if (v5) {
        if (s.no_local) options |= 0x04;
        if (s.retain_as_published) options |= 0x08;
        options |= static_cast<uint8_t>((s.retain_handling & 0x3) << 4);
      }
      w.u8(options);
    }
    return 0x82;
  }

  template <class W>
  uint8_t operator()(W& w, const Suback& p) const {
    w.u16(p.packet_id);
    const bool v5 = is_v5(version);
    if (v5) properties(w, p.properties, PropertyContext::suback);
    for (uint8_t rc : p.reason_codes) w.u8(!v5 && rc >= 0x80 ? uint8_t{0x80} : rc);
    return 0x90;
  }

  template <class W>
  uint8_t operator()(W& w, const Unsubscribe& p) const {
    w.u16(p.packet_id);
    if (is_v5(version)) properties(w, p.properties, PropertyContext::unsubscribe);
    for (const std::string& filter : p.filters) w.string(filter, "topic filter");
    return 0xA2;
  }

  template <class W>
  uint8_t operator()(W& w, const Unsuback& p) const {
    w.u16(p.packet_id);
    if (is_v5(version)) {
      properties(w, p.properties, PropertyContext::unsuback);
      for (uint8_t rc : p.reason_codes) w.u8(rc);
    }
    return 0xB0;
  }

  template <class W>
  uint8_t operator()(W&, const Pingreq&) const {
    return 0xC0;
  }

  template <class W>
  uint8_t operator()(W&, const Pingresp&) const {
    return 0xD0;
  }

  template <class W>
  uint8_t operator()(W& w, const Disconnect& p) const {
    if (is_v5(version))
      reason_and_properties(w, p.reason_code, p.properties, PropertyContext::disconnect);
    return 0xE0;
  }

  template <class W>
  uint8_t operator()(W& w, const Auth& p) const {
    if (!is_v5(version)) throw std::invalid_argument("mqtt encode: AUTH exists only in MQTT 5");
    reason_and_properties(w, p.reason_code, p.properties, PropertyContext::auth);
    return 0xF0;
  }

  // DISCONNECT and AUTH: nothing for success without properties, the reason
  // code alone without properties, else both.
  template <class W>
  static void reason_and_properties(W& w, uint8_t rc, const Properties& props,
                                    PropertyContext ctx) {
    const bool bare = no_properties(props, ctx);
    if (rc == 0 && bare) return;
    w.u8(rc);
    if (!bare) properties(w, props, ctx);
  }
};

struct Sized {
  uint8_t first_byte;
  std::size_t body;
};

template <class P>
Sized measure(const P& p, ProtocolVersion version) {
  wire::SizeCounter counter;
  const uint8_t first = BodyWriter{version}(counter, p);
  if (counter.n > wire::max_vbi) {
    throw std::length_error("mqtt encode: packet exceeds the maximum remaining length");
  }
  return {first, counter.n};
}

template <class P>
void encode_one(const P& p, ProtocolVersion version, std::string& out) {
  const Sized size = measure(p, version);
  const std::size_t needed =
      out.size() + 1 + wire::vbi_size(static_cast<uint32_t>(size.body)) + size.body;
  // Keep geometric growth when many packets are appended to one buffer.
  if (needed > out.capacity()) out.reserve(std::max(needed, 2 * out.capacity()));
  wire::StringWriter w{out};
  w.u8(size.first_byte);
  w.vbi(static_cast<uint32_t>(size.body));
  BodyWriter{version}(w, p);
}

template <class P>
std::size_t size_one(const P& p, ProtocolVersion version) {
  const Sized size = measure(p, version);
  return 1 + wire::vbi_size(static_cast<uint32_t>(size.body)) + size.body;
}

}  // namespace

void encode(const Packet& packet, ProtocolVersion version, std::string& out) {
  std::visit([&](const auto& p) { encode_one(p, version, out); }, packet);
}

std::size_t encoded_size(const Publish& publish, ProtocolVersion version) {
  return size_one(publish, version);
}

void encode(const PublishView& publish, ProtocolVersion version, std::string& out) {
  encode_one(publish, version, out);
}

std::size_t encoded_size(const PublishView& publish, ProtocolVersion version) {
  return size_one(publish, version);
}

std::size_t publish_packet_id_offset(std::string_view encoded, std::size_t topic_size) {
  if (encoded.size() < 2 || (static_cast<uint8_t>(encoded[0]) & 0x06) == 0) return 0;  // QoS 0: no packet id
  std::size_t header = 1;
  while (header < encoded.size() && (static_cast<uint8_t>(encoded[header]) & 0x80)) ++header;
  return header + 1 + 2 + topic_size;  // fixed header, topic length, topic
}

void append_patched_publish(std::string_view encoded, std::size_t packet_id_at, uint8_t qos, bool retain, bool dup,
                            uint16_t packet_id, std::string& out) {
  check_qos(qos, "PUBLISH QoS");
  if ((qos > 0) != (packet_id_at != 0))
    throw std::invalid_argument("mqtt encode: shared PUBLISH of another QoS class");
  const std::size_t at = out.size();
  if (at + encoded.size() > out.capacity()) out.reserve(std::max(at + encoded.size(), 2 * out.capacity()));
  out.append(encoded);
  uint8_t first = 0x30 | static_cast<uint8_t>(qos << 1);  // as BodyWriter(PublishView)
  if (dup && qos > 0) first |= 0x08;
  if (retain) first |= 0x01;
  out[at] = static_cast<char>(first);
  if (qos > 0) {
    out[at + packet_id_at] = static_cast<char>(packet_id >> 8);
    out[at + packet_id_at + 1] = static_cast<char>(packet_id & 0xff);
  }
}

void encode(const PubResponse& response, ProtocolVersion version, std::string& out) {
  encode_one(response, version, out);
}

std::size_t encoded_size(const PubResponse& response, ProtocolVersion version) {
  return size_one(response, version);
}

std::size_t encoded_size(const Packet& packet, ProtocolVersion version) {
  return std::visit([&](const auto& p) { return size_one(p, version); }, packet);
}

}  // namespace tidegate::mqtt
