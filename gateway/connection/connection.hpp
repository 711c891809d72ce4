#pragma once
// One device's network connection (MQTT over TCP) and the protocol logic that
// drives its session. Worker thread only, except the SessionOwner calls,
// which post to the worker.
//
// Files: connection.cpp (I/O, lifecycle, keep alive), handle_connect.cpp,
// handle_publish.cpp (inbound PUBLISH/PUBREL), handle_subscribe.cpp
// (SUBSCRIBE/UNSUBSCRIBE), delivery.cpp (outbound messages and their acks).
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/container/devector.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "gateway/broker_context.hpp"
#include "gateway/codec/encoder.hpp"
#include "gateway/codec/frame_reader.hpp"
#include "gateway/codec/packet.hpp"
#include "gateway/net/connection_slot.hpp"
#include "gateway/session/session.hpp"
#include "gateway/session/session_registry.hpp"
#include "gateway/net/transport.hpp"
#include "gateway/pipeline/queue_subscriber.hpp"
#include "gateway/pipeline/worker.hpp"

namespace tidegate {

class BridgeLink;

class Connection : public SessionOwner, public QueueSubscriber, public std::enable_shared_from_this<Connection> {
 public:
  // `slot`: this connection's place in max_connections, taken at accept.
  Connection(BrokerContext& broker, Worker& worker, std::unique_ptr<Transport> transport,
             const ListenerConfig& listener, ConnectionSlot slot);
  // Client role: the link of a bridge to its remote broker (bridge_client.cpp).
  // The connection sends CONNECT, and on CONNACK attaches the bridge's local
  // session "$bridge/<name>"; from then on the remote broker is served like a
  // device: local messages go out under the same inflight/ack machinery.
  Connection(BrokerContext& broker, Worker& worker, std::unique_ptr<Transport> transport,
             const ListenerConfig& listener, std::shared_ptr<BridgeLink> bridge);
  ~Connection() override;

  void start();
  // Server shutdown: DISCONNECT 0x8B (v5), wills published, session kept.
  void shut_down_by_server() override;

  // SessionOwner: any thread.
  void take_over() override;
  void superseded() override;
  void taken_over_elsewhere(std::int64_t claimed_at_ms, bool lose_ties,
                            std::function<void(std::int64_t connected_ms)> keep) override;
  void session_handed(std::unique_ptr<Session> session) override;
  SessionView summary() const override { return summary_; }
  void inspect(std::function<void(SessionView)> done) override;
  void kick(bool end_session) override;

  // Worker thread: the notify channel says `queue` has entries up to last_seq.
  void on_queue_event(const std::string& queue, std::uint64_t last_seq) override;

 private:
  // authenticating: CONNECT read, a plugin or the HTTP hook is deciding.
  enum class State { awaiting_connect, authenticating, awaiting_connack, awaiting_session, connected, closing, closed };

  // connection.cpp
  boost::asio::awaitable<void> read_loop();
  // Decodes and handles what the reader holds, until it needs more bytes, must
  // wait (for the session, or a 3.1.1 client's publishes to commit) or the
  // connection ends.
  enum class ReadStep { need_more, wait, stop };
  ReadStep handle_buffered_packets();
  boost::asio::awaitable<void> write_loop();
  void handle_packet(mqtt::Packet&& packet);
  void send(const mqtt::Packet& packet);
  // The per-message packets, encoded without building a Packet (worker thread).
  void send(const mqtt::PublishView& publish);
  void send(const mqtt::PubResponse& response);
  // A PUBLISH encoded once for many deliveries (shared_publish.hpp), with this
  // delivery's flags and packet id (worker thread).
  void send_shared(const store::EncodedPublish& shared, std::uint8_t qos, bool retain, std::uint16_t packet_id);
  // Replies to a client that does not read beyond twice max_output_bytes:
  // disconnects it (true: nothing may be queued any more).
  bool output_overflowing();
  void wake_writer();
  // Keep alive: one timer armed at CONNACK; each packet only records its time,
  // and the timer, when it fires, re-arms for what remains (no syscall per packet).
  void arm_keep_alive();
  void on_keep_alive_timer();
  // Ends the connection: optional DISCONNECT (v5 only) and whether the will is due.
  void close(std::optional<mqtt::ReasonCode> disconnect_reason, bool publish_will);
  void finish_close();
  // After a DISCONNECT or a refusing CONNACK is written: ends our output (TLS
  // close_notify, FIN) and reads and discards what the client still sends,
  // until it closes, close_linger_max_bytes, or close_deadline_. Without it,
  // bytes arriving after the close make the kernel reset the connection and
  // the client may never read the reason code (docs/durability.md).
  boost::asio::awaitable<void> linger();
  void protocol_error(mqtt::ReasonCode reason, const std::string& detail);
  // The store could not commit what an acknowledgement would promise.
  void close_for_store_error();
  void detach_session(bool publish_will);
  std::string describe() const;
  bool v5() const { return version_ == mqtt::ProtocolVersion::v5; }

  // handle_connect.cpp
  void handle_connect(mqtt::Connect&& connect);
  void continue_connect();  // authenticated: client id, session claim
  // What the admin API shows of this connection; written before the registry claim.
  void fill_summary(std::uint32_t expiry_interval);
  // The claimed session (or nullptr): fetched from another gateway first when
  // there is none here and the client wants one (cluster mode), then finish_connect.
  void continue_with_session(std::unique_ptr<Session> previous);
  void finish_connect(std::unique_ptr<Session> previous);
  void refuse_connect(mqtt::ReasonCode reason, const std::string& detail);
  void refuse_session_of_another_identity();
  SessionIdentity identity() const { return SessionIdentity{username_}; }
  // False when bind_sessions_to_identity is on and `session` is another identity's.
  bool may_take(const Session& session) const {
    return !broker_.config.bind_sessions_to_identity || !session.owner || *session.owner == identity();
  }
  // This client's read rights, for a shared group's round robin (ingest thread).
  Ingest::ReadCheck read_check() const {
    return [access = access_](std::string_view topic) { return access.may_read(topic); };
  }
  void publish_will_message(const mqtt::Will& will);

  // bridge_client.cpp (client role only)
  void send_bridge_connect();
  void handle_connack(const mqtt::Connack& ack);
  void bridge_attach(std::unique_ptr<Session> session);
  void subscribe_bridge_out_rules();
  void on_bridge_keep_alive();
  void handle_suback(const mqtt::Suback& ack);
  // Remote topic of a local message; nullopt when no out rule maps it.
  std::optional<std::string> bridge_remote_topic(const std::string& local_topic) const;

  // handle_publish.cpp
  void handle_publish(mqtt::Publish&& publish);
  void on_publish_committed(std::uint16_t packet_id, std::uint8_t qos, std::error_code ec, std::size_t queues);
  // Hands the publishes read so far to the ingest thread in one command. Called
  // at the end of each read and before anything else this connection sends the
  // ingest thread, so its commands keep the order the client sent them in.
  void flush_publishes();
  void handle_pubrel(const mqtt::PubResponse& pubrel);
  // Bridge: the local topic of a publish from the remote broker (false: no
  // in rule maps it; it has been answered and is dropped).
  bool map_bridge_inbound(mqtt::Publish& publish);
  bool within_topic_limits(std::string_view topic_or_filter) const;

  // handle_subscribe.cpp
  void handle_subscribe(mqtt::Subscribe&& subscribe);
  void handle_unsubscribe(mqtt::Unsubscribe&& unsubscribe);
  void start_reading(const std::string& queue, std::uint64_t after);

  // delivery.cpp
  void schedule_delivery();
  void deliver();
  bool deliver_one();
  bool may_read(const store::Message& message);  // false: counted as dropped_total{reason="acl"}
  bool send_message(const store::MessagePtr& message, std::uint8_t qos, bool retain,
                    std::vector<std::string> queues, std::vector<std::uint32_t> subscription_ids);
  void handle_ack(const mqtt::PubResponse& ack);
  void resend_inflight();
  // The inflight entry (QoS 1/2) and the counters of one delivery; its packet id (0 for QoS 0).
  std::uint16_t track_delivery(const store::MessagePtr& message, std::uint8_t qos, bool retain,
                               std::vector<std::string> queues, std::vector<std::uint32_t> subscription_ids);
  // Bridge: the remote topic and what the remote accepts (false: no out rule maps it).
  bool bridge_outbound(std::string& topic, bool& retain, std::uint8_t qos, mqtt::Properties& properties);
  bool resend_within_window();
  // Persistent sessions: writes changed queue positions and inflight records
  // in one transaction; PUBLISH bytes held behind it go out once it commits.
  void flush_progress();
  void release_held();
  std::size_t window() const;

  BrokerContext& broker_;
  Worker& worker_;
  ConnectionSlot slot_;  // given back when the connection is destroyed
  std::unique_ptr<Transport> transport_;
  const ListenerConfig& listener_;
  boost::asio::steady_timer keep_alive_timer_;
  boost::asio::steady_timer session_wake_;  // read loop waits here while a takeover completes
  boost::asio::steady_timer close_deadline_;  // bounds the final flush and linger to a peer that does not read
  std::string remote_;

  State state_ = State::awaiting_connect;
  mqtt::ProtocolVersion version_ = mqtt::ProtocolVersion::v311;
  mqtt::FrameReader reader_;
  std::size_t read_size_ = 1024;  // bytes asked of the next read: 1 KiB doubling to 16 KiB
  std::string out_;      // encoded, waiting for the writer
  std::string writing_;  // being written
  bool writer_active_ = false;
  bool reader_active_ = false;  // read_loop runs (linger() waits for it to end)
  bool input_ended_ = false;    // a read failed or found the end of stream: nobody to linger for
  bool linger_ = false;         // the close delivers a reason code: linger() before closing
  bool lingering_ = false;      // linger() is discarding input
  bool delivery_scheduled_ = false;

  // From CONNECT.
  std::string client_id_;
  std::uint16_t keep_alive_ = 0;
  std::chrono::steady_clock::time_point last_packet_at_{};
  bool clean_start_ = true;
  std::uint32_t requested_expiry_ = 0;
  bool assigned_id_ = false;
  std::uint16_t client_receive_maximum_ = 65535;
  std::uint32_t client_max_packet_size_ = 268435460;
  std::uint16_t client_topic_alias_maximum_ = 0;
  bool request_problem_information_ = true;
  std::unique_ptr<mqtt::Will> connect_will_;  // a pointer: 560 bytes most clients never use
  std::optional<std::string> username_;
  SessionView summary_;        // written at CONNECT before claim(), read-only afterwards
  bool end_on_detach_ = false;  // admin delete: the session ends with this connection
  bool announced_ = false;      // cluster: announce_connect was called; announce_disconnect at detach
  bool fetching_session_ = false;           // cluster: awaiting its session from another gateway
  bool taken_over_while_fetching_ = false;  // and a newer connection claimed the id meanwhile
  ClientAccess access_;  // bound at CONNECT
  std::optional<std::vector<HookAclRule>> hook_rules_;  // from the HTTP hook's answer

  std::unique_ptr<Session> session_;
  std::size_t inbound_pending_ = 0;       // QoS 1/2 publishes waiting for the store
  std::size_t inbound_pending_qos1_ = 0;  // of which QoS 1 (QoS 2 ones are in qos2_incoming already)
  // Receive Maximum in use (MQTT-3.3.4-7): QoS 1 not yet PUBACKed, QoS 2 not yet PUBCOMPed.
  std::size_t inbound_quota_used() const { return inbound_pending_qos1_ + (session_ ? session_->qos2_incoming.size() : 0); }
  std::unordered_map<std::uint16_t, std::string> inbound_aliases_;
  std::unordered_map<std::string, std::uint16_t> outbound_aliases_;
  std::uint16_t next_outbound_alias_ = 1;
  std::vector<std::string> dirty_offsets_;
  std::vector<const std::string*> matched_queues_;  // deliver_one's scratch, kept for its capacity
  Ingest::SessionProgress progress_;
  std::vector<Ingest::PublishRequest> pending_publishes_;
  std::size_t qos0_batches_in_ingest_ = 0;  // flush_publishes(): pacing of QoS 0 reads
  // Pacing applies to QoS 0 publishers only: QoS 1/2 publishes are stored
  // and acknowledged (the store paces them), and acknowledgements or large
  // packets of other clients must not wait for a lagging subscriber.
  bool qos0_in_this_read_ = false;
  bool qos0_publisher_ = false;  // the last read carried QoS 0 publishes
  // PUBLISH bytes of a persistent session waiting for their inflight records
  // to commit, so a crash can never resend a message under another packet id.
  std::string held_;
  boost::container::devector<std::size_t> hold_chunks_;  // bytes released by each pending commit, in order
  std::size_t chunked_bytes_ = 0;

  // Client role (a bridge's link); null for device connections.
  std::shared_ptr<BridgeLink> bridge_;
  std::string close_reason_;  // why the link ended, for the bridge's status
  bool ping_outstanding_ = false;
  std::chrono::steady_clock::time_point ping_sent_at_{};
  std::uint8_t remote_maximum_qos_ = 2;  // from the remote's CONNACK (v5)
  bool remote_retain_available_ = true;
};

}  // namespace tidegate
