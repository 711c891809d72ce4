#include "gateway/protocol/protocol_core.hpp"

#include <type_traits>

#include "gateway/codec/decoder.hpp"

namespace tidegate::mqtt {

ProtocolCore::ProtocolCore(Role role, ProtocolVersion version, const OurLimits& ours)
    : reader_(ours.max_packet_size),
      ours_(ours),
      role_(role),
      version_(version),
      phase_(role == Role::server ? Phase::awaiting_connect : Phase::awaiting_connack) {}

Violation ProtocolCore::verdict(ReasonCode reason, std::string detail) const {
  Violation v{reason, std::move(detail), Violation::Answer::close_silently, true};
  if (phase_ == Phase::awaiting_connect) {
    // Errors in CONNECT itself: MQTT 5 answers with a CONNACK reason code
    // (MQTT-3.2.2-*). 3.1 and 3.1.1 have return codes only for a protocol
    // level we do not speak (1) and an identifier we refuse (2); any other
    // malformed CONNECT is closed without an answer (MQTT-3.1.2-3, 3.1.2-14,
    // 4.8), never "server unavailable", which invites a retry of the same
    // bytes (docs/conformance.md).
    if (v5() || has_v311_connack_for_bad_connect(reason)) v.answer = Violation::Answer::refuse_connack;
  } else if (phase_ == Phase::open) {
    v.answer = v5() ? Violation::Answer::disconnect : Violation::Answer::close;
  }
  return v;
}

ProtocolCore::Event ProtocolCore::fail(ReasonCode reason, std::string detail) {
  violation_ = verdict(reason, std::move(detail));
  return Event::violation;
}

ProtocolCore::Event ProtocolCore::fail_quietly(std::string detail) {
  violation_ = Violation{ReasonCode::protocol_error, std::move(detail), Violation::Answer::close_silently, false};
  return Event::violation;
}

ProtocolCore::Event ProtocolCore::next(Clock::time_point now, Packet& packet) {
  for (;;) {
    FrameReader::Frame frame;
    auto status = reader_.next(frame);
    if (status == FrameReader::Status::need_more) return Event::need_more;
    if (status == FrameReader::Status::malformed_remaining_length)
      return fail(ReasonCode::malformed_packet, "malformed remaining length");
    if (status == FrameReader::Status::packet_too_large)
      return fail(ReasonCode::packet_too_large, "packet larger than max_packet_size");
    // MQTT-3.1.0-1: anything but CONNECT first closes without an answer.
    if (phase_ == Phase::awaiting_connect && (frame.first_byte >> 4) != 1)
      return fail_quietly("first packet is not CONNECT");
    // Straight into the caller's packet: no copy of it per frame.
    std::string detail;
    if (auto error = decode_into(frame, version_, packet, detail); error != ReasonCode::success) {
      // Answer a bad CONNECT in the client's own protocol version when it said one we speak.
      if (auto* c = std::get_if<Connect>(&packet); c && phase_ == Phase::awaiting_connect) {
        auto level = static_cast<int>(c->version);
        if (level >= 3 && level <= 5) version_ = c->version;
      }
      return fail(error, std::move(detail));
    }
    if (phase_ != Phase::open) return accept(now, packet);
    last_packet_at_ = now;
    bool consumed = false;
    auto event = check_open(packet, consumed);
    if (!consumed) return event;
  }
}

ProtocolCore::Event ProtocolCore::accept(Clock::time_point now, Packet& packet) {
  if (phase_ == Phase::awaiting_connect) {  // the frame check let only CONNECT through
    take_connect(std::get<Connect>(packet));
    phase_ = Phase::open;
    return Event::packet;
  }
  last_packet_at_ = now;
  auto* ack = std::get_if<Connack>(&packet);
  if (!ack)
    return fail_quietly("the remote broker sent " + std::string(to_string(packet_type(packet))) + " before CONNACK");
  take_connack(*ack);
  phase_ = Phase::open;
  return Event::packet;
}

ProtocolCore::Event ProtocolCore::check_open(Packet& packet, bool& consumed) {
  const bool server = role_ == Role::server;
  switch (packet_type(packet)) {
    case PacketType::publish:
    case PacketType::puback:
    case PacketType::pubrec:
    case PacketType::pubrel:
    case PacketType::pubcomp:
    case PacketType::disconnect:
      return Event::packet;
    case PacketType::suback:
      if (server) return fail(ReasonCode::protocol_error, "packet type not sent by clients");
      return Event::packet;
    case PacketType::unsuback:
      if (server) return fail(ReasonCode::protocol_error, "packet type not sent by clients");
      consumed = true;
      return Event::need_more;
    case PacketType::pingresp:
      if (server) return fail(ReasonCode::protocol_error, "packet type not sent by clients");
      ping_outstanding_ = false;
      consumed = true;
      return Event::need_more;
    case PacketType::subscribe:
      if (!server) return fail(ReasonCode::protocol_error, "SUBSCRIBE from a server");
      return Event::packet;
    case PacketType::unsubscribe:
      if (!server) return fail(ReasonCode::protocol_error, "UNSUBSCRIBE from a server");
      return Event::packet;
    case PacketType::pingreq:
      if (!server) return fail(ReasonCode::protocol_error, "PINGREQ from a server");
      packet = Pingresp{};
      return Event::answer;
    case PacketType::connect:
      return fail(ReasonCode::protocol_error, "second CONNECT");  // MQTT-3.1.0-2
    case PacketType::auth:
      return fail(ReasonCode::protocol_error, "AUTH without an authentication method");
    default:
      return fail(ReasonCode::protocol_error, "packet type not sent by clients");
  }
}

void ProtocolCore::take_connect(const Connect& c) {
  version_ = c.version;
  keep_alive_ = c.keep_alive;
  if (version_ != ProtocolVersion::v5) return;
  const auto& p = c.properties;
  peer_receive_maximum_ = p.receive_maximum.value_or(65535);
  peer_max_packet_size_ = p.maximum_packet_size.value_or(kNoPacketSizeLimit);
  peer_topic_alias_maximum_ = p.topic_alias_maximum.value_or(0);
  request_problem_information_ = p.request_problem_information.value_or(1) == 1;
}

void ProtocolCore::take_connack(const Connack& ack) {
  if (ack.reason_code != 0 || !v5()) return;
  // A bridge assigns no outbound aliases: the remote's Topic Alias Maximum is not used.
  const auto& p = ack.properties;
  peer_receive_maximum_ = p.receive_maximum.value_or(65535);
  peer_max_packet_size_ = p.maximum_packet_size.value_or(kNoPacketSizeLimit);
  if (p.server_keep_alive) keep_alive_ = *p.server_keep_alive;  // MQTT-3.2.2-21
}

Connack ProtocolCore::refusal(ReasonCode reason, const std::string& detail) const {
  Connack ack;
  if (v5()) {
    ack.reason_code = static_cast<std::uint8_t>(reason);
    if (request_problem_information_) ack.properties.reason_string = detail;
  } else {
    ack.reason_code = static_cast<std::uint8_t>(to_v311_connack(reason));
  }
  return ack;
}

std::optional<ProtocolCore::Clock::time_point> ProtocolCore::start_keep_alive(Clock::time_point now) {
  last_packet_at_ = now;
  if (keep_alive_ == 0) return std::nullopt;
  if (role_ == Role::client) return now + std::chrono::seconds(keep_alive_);
  return now + std::chrono::milliseconds(keep_alive_ * 1500);
}

ProtocolCore::KeepAliveStep ProtocolCore::on_keep_alive(Clock::time_point now) {
  if (role_ == Role::client) {
    // Nothing at all from the remote for a whole keep alive period after a PINGREQ.
    if (ping_outstanding_ && last_packet_at_ < ping_sent_at_) return {KeepAlive::expired, {}};
    ping_outstanding_ = true;
    ping_sent_at_ = now;
    return {KeepAlive::send_pingreq, now + std::chrono::seconds(keep_alive_)};
  }
  // MQTT-3.1.2-22: one and a half times the keep alive without a packet.
  auto deadline = last_packet_at_ + std::chrono::milliseconds(keep_alive_ * 1500);
  if (now < deadline) return {KeepAlive::wait, deadline};
  return {KeepAlive::expired, {}};
}

std::optional<Violation> ProtocolCore::resolve_publish(Publish& p) {
  if (role_ == Role::client) p.properties.subscription_identifiers.clear();  // the remote's, meaningless here
  if (!p.properties.subscription_identifiers.empty())  // MQTT-3.3.4-6: server to client only
    return verdict(ReasonCode::protocol_error, "subscription identifier in a client PUBLISH");
  if (v5() && p.properties.topic_alias) {
    std::uint16_t alias = *p.properties.topic_alias;
    if (alias == 0 || alias > ours_.topic_alias_maximum)
      return verdict(ReasonCode::topic_alias_invalid, "topic alias out of range");  // MQTT-3.3.2-9
    if (p.topic.empty()) {
      auto it = aliases().inbound.find(alias);
      if (it == aliases_->inbound.end()) return verdict(ReasonCode::protocol_error, "unknown topic alias");
      p.topic = it->second;
    } else {
      aliases().inbound[alias] = p.topic;
    }
    p.properties.topic_alias.reset();
  }
  if (p.topic.empty()) return verdict(ReasonCode::protocol_error, "empty topic name");
  return std::nullopt;
}

void ProtocolCore::assign_alias(std::string_view topic, Properties& props, std::string_view& wire_topic) {
  if (!assigns_aliases()) return;
  // Aliases until the peer's maximum; later topics go in full.
  auto& outbound = aliases().outbound;
  auto alias = outbound.find(std::string(topic));
  if (alias != outbound.end()) {
    props.topic_alias = alias->second;
    wire_topic = {};
  } else if (next_outbound_alias_ <= peer_topic_alias_maximum_) {
    props.topic_alias = next_outbound_alias_;
    outbound.emplace(std::string(topic), next_outbound_alias_++);
  }
}

ProtocolCore::TopicAliases& ProtocolCore::aliases() {
  if (!aliases_) aliases_ = std::make_unique<TopicAliases>();
  return *aliases_;
}

bool ProtocolCore::send(const Packet& packet) {
  if (!v5() || peer_max_packet_size_ >= kNoPacketSizeLimit || encoded_size(packet, version_) <= peer_max_packet_size_) {
    encode(packet, version_, out_);
    return true;
  }
  // MQTT-3.1.2-25, 3.2.2-19: Reason String and User Properties go first; a
  // packet still too large is not sent at all.
  Packet trimmed = packet;
  std::visit(
      [](auto& p) {
        if constexpr (requires { p.properties; }) {
          p.properties.reason_string.reset();
          p.properties.user_properties.clear();
        }
      },
      trimmed);
  if (encoded_size(trimmed, version_) > peer_max_packet_size_) return false;
  encode(trimmed, version_, out_);
  return true;
}

bool ProtocolCore::send(const PubResponse& response) {
  if (v5() && peer_max_packet_size_ < kNoPacketSizeLimit && encoded_size(response, version_) > peer_max_packet_size_)
    return send(Packet(response));  // the general path trims its properties
  encode(response, version_, out_);
  return true;
}

}  // namespace tidegate::mqtt
