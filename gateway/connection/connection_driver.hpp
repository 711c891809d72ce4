#pragma once
// What both kinds of MQTT connection share: the driver that moves bytes
// between the transport and the protocol core (read loop, write loop, linger,
// close deadline, keep alive timer), the attached session with its inbound
// publishes (inbound.cpp) and its deliveries (SessionDelivery), and the
// SessionOwner side (session_owner.cpp). Worker thread only, except the
// SessionOwner calls, which post to the worker (docs/design.md, "Threads").
//
// The roles derive from it: Connection (a device, server role) and
// BridgeConnection (a bridge's link, client role). They handle the control
// packets and the lifecycle events through the virtual hooks below, called
// once per connection or per control packet; PUBLISH and the acknowledgements
// are handled here, without a virtual call.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/broker_context.hpp"
#include "gateway/connection/session_delivery.hpp"
#include "gateway/net/connection_slot.hpp"
#include "gateway/net/transport.hpp"
#include "gateway/pipeline/queue_subscriber.hpp"
#include "gateway/pipeline/worker.hpp"
#include "gateway/protocol/protocol_core.hpp"
#include "gateway/session/session.hpp"
#include "gateway/session/session_registry.hpp"

namespace tidegate {

class LinkMapping;

class ConnectionDriver : public SessionOwner,
                         public QueueSubscriber,
                         public DeadlineOwner,
                         public std::enable_shared_from_this<ConnectionDriver> {
 public:
  ~ConnectionDriver() override;

  void start();
  // Server shutdown (or a bridge stopped): DISCONNECT, wills published, session kept.
  void shut_down_by_server() override;

  // SessionOwner: any thread (session_owner.cpp).
  void take_over() override;
  void superseded() override;
  void taken_over_elsewhere(std::int64_t claimed_at_ms, bool lose_ties,
                            std::function<void(std::int64_t connected_ms)> keep) override;
  void session_handed(std::unique_ptr<Session> session) override;
  SessionView summary() const override { return summary_; }
  void inspect(std::function<void(SessionView)> done) override;
  void kick(bool end_session) override;

  // Worker thread: the notify channel says `queue` has entries up to last_seq.
  void on_queue_event(const std::string& queue, std::uint64_t last_seq) override {
    delivery_.on_queue_event(queue, last_seq);
  }
  // Worker thread: keep_alive_deadline_ or close_deadline_ passed.
  void deadline_passed(Deadline& deadline) override;

 protected:
  friend class SessionDelivery;
  using Clock = std::chrono::steady_clock;
  // authenticating: CONNECT read, a plugin or the HTTP hook is deciding.
  enum class State { awaiting_connect, authenticating, awaiting_connack, awaiting_session, connected, closing, closed };

  ConnectionDriver(BrokerContext& broker, Worker& worker, std::unique_ptr<Transport> transport,
                   const ListenerConfig& listener, ConnectionSlot slot, mqtt::Role role, mqtt::ProtocolVersion version);

  // Hooks of the role.
  virtual std::string describe() const = 0;
  // The transport is up (a client sends CONNECT now).
  virtual void on_transport_ready() {}
  // connect_timeout passed in a state other than awaiting_connect or connected.
  virtual void on_connect_timeout() = 0;
  // CONNECT, CONNACK, SUBSCRIBE, UNSUBSCRIBE, SUBACK, DISCONNECT.
  virtual void handle_control(mqtt::Packet&& packet) = 0;
  virtual void on_violation(const mqtt::Violation& violation) = 0;
  // The session handed by the registry (a claim that waited).
  virtual void attach(std::unique_ptr<Session> session) = 0;
  // close() while connected with a reason: what the peer is told.
  virtual void say_goodbye(mqtt::ReasonCode reason) = 0;
  // close() of a connected connection, before its session is detached.
  virtual void on_disconnected() {}
  virtual void on_keep_alive_expired() = 0;
  // The store refused a QoS 1/2 publish of the peer (inbound.cpp).
  virtual void refuse_stored(std::uint16_t packet_id, std::uint8_t qos, std::error_code ec) = 0;
  // Why the connection ends: `reason` one word (docs/operations.md, "Log
  // events"), `detail` what happened. Called before close(); the first call
  // wins (a device's disconnect log line, a bridge's status).
  virtual void note_close_reason(const char* /*reason*/, std::string /*detail*/) {}
  // The socket is closed; the worker lets go of this connection next.
  virtual void on_finished() {}

  // connection_reader.cpp
  // The reader: a coroutine while bytes arrive; an idle TCP connection holds
  // only a readiness wait (park_reader). When it fires, on_readable() reads
  // without a coroutine unless something must be waited for.
  enum class ReadStart {
    handshake,  // a new connection: the transport's handshake first
    readable,   // the socket has bytes
    buffered,       // on_readable drained the socket; its packets must wait (for the session, a commit)
    buffered_more,  // likewise, but the read filled the buffer: more may be waiting
  };
  void spawn_reader(ReadStart start);
  boost::asio::awaitable<void> read_loop(ReadStart start);
  void park_reader();
  void on_readable();
  // Pacing, or our last QoS 0 batch still in the ingest thread: the
  // coroutine waits for them (read_loop), on_readable() does not read.
  bool paced_by_lag(bool may_pace) const;
  bool qos0_batch_in_ingest() const;
  bool must_wait_before_reading();
  // Counts `n` bytes read into the reader (of `asked`); whether that drained the socket.
  bool took_bytes(std::size_t n, std::size_t asked);
  // After a read's packets: its publishes to the ingest thread, positions saved.
  void end_of_read();
  void reader_stopped();
  // The wait of the reader or linger(), armed until wake_reader().
  boost::asio::steady_timer& wake_timer();
  void wake_reader() {
    if (session_wake_) session_wake_->cancel();
  }
  // Decodes and handles what the reader holds, until it needs more bytes, must
  // wait (for the session, or a 3.1.1 client's publishes to commit) or the
  // connection ends.
  enum class ReadStep { need_more, wait, stop };
  ReadStep handle_buffered_packets();
  bool may_be_paced();
  // Bytes asked of the next read.
  std::size_t read_ask(bool paced, bool may_pace);
  // A read (or the wait for readability) failed: the connection is closed (true).
  bool read_failed(boost::system::error_code ec);
  // The input ended (the peer closed or reset): nobody to linger for.
  void input_lost(boost::system::error_code ec);
  // connection_driver.cpp
  boost::asio::awaitable<void> write_loop();
  // After a DISCONNECT or a refusing CONNACK is written: ends our output (TLS
  // close_notify, FIN) and reads and discards what the client still sends,
  // until it closes, close_linger_max_bytes, or close_deadline_. Without it,
  // bytes arriving after the close make the kernel reset the connection and
  // the client may never read the reason code (docs/durability.md).
  boost::asio::awaitable<void> linger();
  void handle_packet(mqtt::Packet&& packet);
  void send(const mqtt::Packet& packet);
  void send(const mqtt::PublishView& publish);
  void send(const mqtt::PubResponse& response);
  void send_shared(std::string_view bytes, std::size_t packet_id_at, std::uint8_t qos, bool retain,
                   std::uint16_t packet_id);
  // Replies to a client that does not read beyond twice max_output_bytes:
  // disconnects it (true: nothing may be queued any more).
  bool output_overflowing();
  void wake_writer();
  // Keep alive: one deadline armed at CONNACK; each packet only records its
  // time (in the core), and the deadline, when it passes, re-arms for what remains.
  void arm_keep_alive();
  void wait_keep_alive(Clock::time_point at);
  void on_keep_alive_timer();
  // Ends the connection: the role's goodbye (a reason given while connected)
  // and whether the will is due.
  void close(std::optional<mqtt::ReasonCode> disconnect_reason, bool publish_will);
  void finish_close();
  void protocol_error(mqtt::ReasonCode reason, std::string detail) {
    on_violation(core_.verdict(reason, std::move(detail)));
  }
  // The store could not commit what an acknowledgement would promise.
  void close_for_store_error();
  bool v5() const { return core_.v5(); }
  bool closing() const { return state_ == State::closing || state_ == State::closed; }

  // inbound.cpp: PUBLISH and PUBREL from the peer.
  void handle_publish(mqtt::Publish&& publish);
  // Topic limits and the ACL: false when the publish has been answered and is dropped.
  bool admit_publish(const mqtt::Publish& publish);
  void ingest_publish(mqtt::Publish&& publish);
  // What the batch completion needs of each publish of pending_publishes_.
  struct InboundAck {
    std::uint16_t packet_id;
    std::uint8_t qos;
  };
  void on_batch_committed(const std::vector<InboundAck>& ids, const std::vector<Ingest::PublishOutcome>& outcomes,
                          bool paced);
  void on_publish_committed(std::uint16_t packet_id, std::uint8_t qos, std::error_code ec, std::size_t queues);
  // Hands the publishes read so far to the ingest thread in one command. Called
  // at the end of each read and before anything else this connection sends the
  // ingest thread, so its commands keep the order the client sent them in.
  void flush_publishes();
  void handle_pubrel(const mqtt::PubResponse& pubrel);
  // A publish no rule of the link maps: acknowledged, not kept (false).
  bool map_inbound(mqtt::Publish& publish);
  bool within_topic_limits(std::string_view topic_or_filter) const;
  // A new subscription's cursor (handle_subscribe.cpp, a bridge's out rules).
  void start_reading(const std::string& queue, std::uint64_t after);

  // session_owner.cpp
  void detach_session(bool publish_will);
  // Shared subscriptions: QoS 1 messages this member did not acknowledge go to another member.
  void reoffer_shared();
  void publish_will_message(const mqtt::Will& will);
  // What the admin API shows of this connection; written before the registry claim.
  void fill_summary(std::uint32_t expiry_interval);

  BrokerContext& broker_;
  Worker& worker_;
  ConnectionSlot slot_;  // given back when the connection is destroyed
  std::unique_ptr<Transport> transport_;
  const ListenerConfig& listener_;
  // On the worker's one timer (Deadlines). Until CONNACK, keep_alive_deadline_
  // is connect_timeout: for CONNECT, then for the session or the authentication.
  Deadline keep_alive_deadline_{*this};
  Deadline close_deadline_{*this};  // bounds the final flush and linger to a peer that does not read
  // The reader waits here for the session, a commit or a quota (and linger()
  // for the reader to end); wake_reader() ends the wait. Allocated while
  // the reader runs (an idle connection holds none).
  std::unique_ptr<boost::asio::steady_timer> session_wake_;
  std::string remote_;
  mqtt::ProtocolCore core_;
  SessionDelivery delivery_;

  State state_ = State::awaiting_connect;
  std::size_t read_size_ = 1024;  // bytes asked of the next read: 1 KiB doubling to 16 KiB
  std::string writing_;  // being written
  bool writer_active_ = false;
  bool reader_active_ = false;  // read_loop runs or is parked (linger() waits for it to end)
  bool input_ended_ = false;    // a read failed or found the end of stream: nobody to linger for
  bool linger_ = false;         // the close delivers a reason code: linger() before closing
  bool lingering_ = false;      // linger() is discarding input
  bool tells_plugins_ = false;  // a device: plugins hear of its publishes
  bool end_on_detach_ = false;  // admin delete: the session ends with this connection
  bool announced_ = false;      // cluster: announce_connect was called; announce_disconnect at detach
  bool fetching_session_ = false;           // cluster: awaiting its session from another gateway
  bool taken_over_while_fetching_ = false;  // and a newer connection claimed the id meanwhile
  // Pacing applies to QoS 0 publishers only: QoS 1/2 publishes are stored
  // and acknowledged (the store paces them), and acknowledgements or large
  // packets of other clients must not wait for a lagging subscriber.
  bool qos0_in_this_read_ = false;
  bool qos0_publisher_ = false;  // the last read carried QoS 0 publishes

  std::string client_id_;
  SessionView summary_;  // written at CONNECT before claim(), read-only afterwards
  ClientAccess access_;  // bound at CONNECT
  std::unique_ptr<Session> session_;
  std::vector<Ingest::PublishRequest> pending_publishes_;
  std::vector<InboundAck> pending_acks_;  // one per pending publish, in the same order
  std::size_t qos0_batches_in_ingest_ = 0;  // flush_publishes(): pacing of QoS 0 reads
  LinkMapping* mapping_ = nullptr;  // a bridge's link maps topics both ways; null for a device
};

}  // namespace tidegate
