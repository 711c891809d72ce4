#pragma once
// The MQTT rules of one connection, with no socket, no timer and no session:
// bytes in, packets or a verdict out; packets in, bytes out. Used by the
// connection drivers (gateway/connection/connection_driver.hpp) on their
// worker thread; one ProtocolCore per connection, never shared.
//
// What it owns: framing and decoding of the input (and which packet types a
// role may receive), the output buffer and its encoding (the peer's Maximum
// Packet Size), keep alive as time arithmetic (`now` is passed in), topic
// aliases both ways, the inbound Receive Maximum quota and the outbound
// window. What it does not own: the session (the QoS 2 packet ids awaiting
// PUBREL are persisted with it, so they are passed in by reference).
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

#include "gateway/codec/encoder.hpp"
#include "gateway/codec/frame_reader.hpp"
#include "gateway/codec/packet.hpp"

namespace tidegate::mqtt {

// server: we accept a device's connection; client: we connect to a broker (a bridge).
enum class Role : std::uint8_t { server, client };

// A broken protocol rule and how to answer it.
struct Violation {
  enum class Answer : std::uint8_t {
    refuse_connack,  // a bad CONNECT: CONNACK with the reason, in the client's version, then close
    disconnect,      // MQTT 5: DISCONNECT with the reason, then close; the will is due
    close,           // MQTT 3.1.x: close without an answer; the will is due
    close_silently,  // before the connection was accepted: close, nothing is due
  };
  ReasonCode reason = ReasonCode::protocol_error;
  std::string detail;
  Answer answer = Answer::close_silently;
  bool counted = true;  // a protocol error (false: the peer did not start with CONNECT / CONNACK)
};

class ProtocolCore {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::uint32_t kNoPacketSizeLimit = 268435460;  // the protocol's own maximum

  // What we announce: the largest packet we read, our Receive Maximum and Topic Alias Maximum.
  struct OurLimits {
    std::uint32_t max_packet_size = 0;
    std::uint16_t receive_maximum = 65535;
    std::uint16_t topic_alias_maximum = 0;
  };
  // A server learns the version from CONNECT; a client states it.
  ProtocolCore(Role role, ProtocolVersion version, const OurLimits& ours);

  ProtocolVersion version() const { return version_; }
  bool v5() const { return version_ == ProtocolVersion::v5; }

  // Input. The driver reads into reader().prepare() and commit()s.
  FrameReader& reader() { return reader_; }
  enum class Event : std::uint8_t {
    need_more,  // no complete packet buffered
    packet,     // `packet` is for the driver to handle
    answer,     // `packet` is the answer to send now (PINGRESP for PINGREQ)
    violation,  // violation() says what was broken and how to answer; read no more
  };
  // The next packet, checked against what this role may receive in this phase.
  // A server's CONNECT (a client's CONNACK) sets the version and the peer's limits.
  Event next(Clock::time_point now, Packet& packet);
  const Violation& violation() const { return violation_; }
  // The verdict for a rule the driver found broken, answered as this phase requires.
  Violation verdict(ReasonCode reason, std::string detail) const;

  // CONNECT and CONNACK.
  // The refusing CONNACK of a bad CONNECT: a v5 reason code (and reason string
  // if the client wants problem information) or the nearest 3.1.1 return code.
  Connack refusal(ReasonCode reason, const std::string& detail) const;
  std::uint16_t keep_alive() const { return keep_alive_; }
  void set_keep_alive(std::uint16_t seconds) { keep_alive_ = seconds; }

  // Keep alive (MQTT 3.1.2.10). start_keep_alive at CONNACK: when the timer
  // is first due (nullopt: keep alive 0, no timer).
  std::optional<Clock::time_point> start_keep_alive(Clock::time_point now);
  // When the timer fires. A server waits 1.5 times the keep alive since the
  // last packet; a client sends PINGREQ every keep alive, and gives up when
  // nothing at all came for a whole period after the last PINGREQ.
  enum class KeepAlive : std::uint8_t { wait, send_pingreq, expired };
  struct KeepAliveStep {
    KeepAlive action = KeepAlive::wait;
    Clock::time_point next{};  // when to look again (wait, send_pingreq)
  };
  KeepAliveStep on_keep_alive(Clock::time_point now);

  // Inbound PUBLISH. Subscription identifiers (a server refuses them, a
  // client drops the remote's) and the topic alias (resolved, or registered);
  // nullopt when the publish may go on.
  std::optional<Violation> resolve_publish(Publish& publish);
  // MQTT-4.3.3-10: a QoS 2 packet id still awaiting PUBREL is the same message.
  static bool qos2_duplicate(const Publish& publish, const std::set<std::uint16_t>& awaiting_pubrel) {
    return publish.qos == 2 && awaiting_pubrel.count(publish.packet_id) > 0;
  }
  // MQTT-3.3.4-7 (v5): more QoS 1/2 unacknowledged than we announced.
  // `awaiting_pubrel`: QoS 2 publishes not yet PUBCOMPed.
  bool receive_maximum_exceeded(std::uint8_t qos, std::size_t awaiting_pubrel) const {
    return qos > 0 && v5() && inbound_qos1_pending_ + awaiting_pubrel >= ours_.receive_maximum;
  }
  // A QoS 1/2 publish went to the store / came back from it.
  void publish_pending(std::uint8_t qos) {
    ++inbound_pending_;
    if (qos == 1) ++inbound_qos1_pending_;
  }
  void publish_settled(std::uint8_t qos) {
    --inbound_pending_;
    if (qos == 1) --inbound_qos1_pending_;
  }
  // A 3.1.1 client (no Receive Maximum) is not read while that many wait for the store.
  bool inbound_paused() const { return !v5() && inbound_pending_ >= ours_.receive_maximum; }
  // An acknowledgement: reason codes exist in v5 only.
  PubResponse ack(PacketType type, std::uint16_t packet_id, ReasonCode reason) const {
    PubResponse r;
    r.type = type;
    r.packet_id = packet_id;
    r.reason_code = v5() ? static_cast<std::uint8_t>(reason) : 0;
    return r;
  }

  // Outbound.
  bool fits_peer(std::size_t size) const { return size <= peer_max_packet_size_; }
  // The inflight window: the peer's Receive Maximum (v5), else `max_inflight`.
  std::size_t window(std::size_t max_inflight) const { return v5() ? peer_receive_maximum_ : max_inflight; }
  // Whether PUBLISH bytes may be shared with other deliveries: none of ours differ per delivery.
  bool assigns_aliases() const { return v5() && peer_topic_alias_maximum_ > 0; }
  // Outbound topic alias: the alias of `topic` (then `wire_topic` is emptied)
  // or a new one while the peer's Topic Alias Maximum allows.
  void assign_alias(std::string_view topic, Properties& properties, std::string_view& wire_topic);

  // The output: encoded and waiting for the writer.
  std::string& output() { return out_; }
  // MQTT-3.1.2-25: Reason String and User Properties are dropped from a packet
  // too large for the peer; false: still too large, nothing was added.
  // (PUBLISH is checked, and discarded, before it gets here.)
  bool send(const Packet& packet);
  // The per-message packets, encoded without building a Packet.
  void send(const PublishView& publish) { encode(publish, version_, out_); }
  bool send(const PubResponse& response);
  // A PUBLISH encoded once for many deliveries, with this one's flags and packet id.
  void send_shared(std::string_view bytes, std::size_t packet_id_at, std::uint8_t qos, bool retain,
                   std::uint16_t packet_id) {
    append_patched_publish(bytes, packet_id_at, qos, retain, false, packet_id, out_);
  }
  // Into another buffer (bytes held back until a commit).
  void encode_to(const PublishView& publish, std::string& out) const { encode(publish, version_, out); }
  void encode_to(const PubResponse& response, std::string& out) const { encode(response, version_, out); }

 private:
  enum class Phase : std::uint8_t { awaiting_connect, awaiting_connack, open };
  Event fail(ReasonCode reason, std::string detail);
  Event fail_quietly(std::string detail);
  Event accept(Clock::time_point now, Packet& packet);
  // Whether an accepted packet is for the driver (false: consumed here, or a violation is set).
  Event check_open(Packet& packet, bool& consumed);
  void take_connect(const Connect& connect);
  void take_connack(const Connack& connack);

  FrameReader reader_;
  std::string out_;
  Violation violation_;
  OurLimits ours_;
  Role role_;
  ProtocolVersion version_;
  Phase phase_;
  bool request_problem_information_ = true;
  bool ping_outstanding_ = false;
  std::uint16_t keep_alive_ = 0;
  Clock::time_point last_packet_at_{};
  Clock::time_point ping_sent_at_{};
  std::uint16_t peer_receive_maximum_ = 65535;
  std::uint16_t peer_topic_alias_maximum_ = 0;
  std::uint16_t next_outbound_alias_ = 1;
  std::uint32_t peer_max_packet_size_ = kNoPacketSizeLimit;
  std::size_t inbound_pending_ = 0;       // QoS 1/2 publishes waiting for the store
  std::size_t inbound_qos1_pending_ = 0;  // of which QoS 1 (QoS 2 ones are awaiting PUBREL already)
  // Topic aliases both ways: only MQTT 5 peers that use them have any, so
  // they are allocated at the first alias (two empty maps cost 112 bytes on
  // every connection).
  struct TopicAliases {
    std::unordered_map<std::uint16_t, std::string> inbound;
    std::unordered_map<std::string, std::uint16_t> outbound;
  };
  TopicAliases& aliases();
  std::unique_ptr<TopicAliases> aliases_;
};

}  // namespace tidegate::mqtt
