// One MQTT connection of the load generator, driven by Asio callbacks on one
// io_context that a single thread runs.
//
// Thread: every member function, and every Done callback, runs on the thread
// of the io_context given to the constructor; other threads post to
// executor(). Ownership: the client is a shared_ptr; each pending handler
// holds `self`, so a client lives until its last operation completes.
//
// Writes: one async_write in flight; packets produced meanwhile accumulate in
// a pending buffer that becomes the next write. What bounds that buffer:
// a publisher produces only within its window (QoS 1/2: unacknowledged
// messages; QoS 0: messages not yet written), a subscriber only acks what the
// broker sent within the broker's own window, plus one PINGREQ per period.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/codec/frame_reader.hpp"
#include "gateway/codec/packet.hpp"
#include "tools/bench/stats.hpp"

namespace tidegate::bench {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct ClientConfig {
  tcp::endpoint broker;
  std::optional<asio::ip::address> source;  // bind to this address (port 0) before connecting
  std::string client_id;
  mqtt::ProtocolVersion version = mqtt::ProtocolVersion::v311;
  uint16_t keep_alive = 60;  // seconds; a v5 Server Keep Alive replaces it
  std::chrono::milliseconds connect_timeout{10000};  // TCP connect + CONNACK
  std::chrono::milliseconds close_timeout{1000};     // wait for the broker to close after DISCONNECT
  std::shared_ptr<asio::ssl::context> tls;  // MQTT over TLS (--tls); null: plain TCP
  bool nagle = false;                        // true: leave Nagle on (no TCP_NODELAY)
};

struct PublishPlan {
  std::string topic;
  bool numbered_topics = false;  // publish message i to topic + "/" + (first_index + i)
  uint64_t first_index = 0;
  uint8_t qos = 0;
  bool retain = false;
  std::size_t payload_size = 64;  // >= 16 carries timestamp + sequence; 0 (clearing retained) carries nothing
  unsigned window = 16;           // see Options::inflight
  double rate = 0;                // msgs/s of this publisher; 0: as fast as the window allows
  uint64_t count = 0;             // 0: until stop_publishing()
  bool counted = true;            // false: housekeeping (clearing retained), kept out of the stats
};

// Where a subscriber measures latency from.
enum class LatencyOrigin {
  payload_timestamp,  // the publisher's send time carried in the payload
  subscribe_time,     // when SUBSCRIBE was written (retained messages)
};

class BenchClient : public std::enable_shared_from_this<BenchClient> {
 public:
  // Called once per operation, on the client's thread; `error` is empty on success.
  using Done = std::function<void(const std::string& error)>;

  BenchClient(asio::io_context& io, ThreadStats& stats, ClientConfig config);

  asio::io_context::executor_type executor() { return io_.get_executor(); }
  const std::string& id() const { return config_.client_id; }

  // TCP connect, CONNECT, CONNACK. Done: after a successful CONNACK, or with
  // the reason it failed (refused, timeout, socket error).
  void connect(Done done);

  // SUBSCRIBE to the filters at `qos`. Done: after a SUBACK granting every
  // filter, or with the refusal.
  void subscribe(std::vector<std::string> filters, uint8_t qos, LatencyOrigin origin, Done done);

  // Starts publishing. With plan.count > 0, Done runs once all of them are
  // accepted (written for QoS 0, acknowledged for QoS 1/2); otherwise it runs
  // after stop_publishing() once nothing is left in flight. Done also runs,
  // with an error, if the connection is lost.
  void start_publishing(PublishPlan plan, Done done);
  // No new PUBLISH; acknowledgements of those in flight are still awaited.
  void stop_publishing();

  // DISCONNECT, then wait (bounded by close_timeout) for the broker to close
  // the connection, so TIME_WAIT stays on the broker's side. Done: when the
  // socket is closed; never with an error.
  void disconnect(Done done);

 private:
  enum class State { idle, connecting, connected, closing, closed };

  void on_connect(const boost::system::error_code& ec);
  void do_read();
  void on_read(const boost::system::error_code& ec, std::size_t n);
  void handle(mqtt::Packet& packet, int64_t now_ns);
  void handle_connack(const mqtt::Connack& connack);
  void handle_publish(const mqtt::Publish& publish, int64_t now_ns);
  void handle_response(const mqtt::PubResponse& response, int64_t now_ns);
  void handle_suback(const mqtt::Suback& suback);

  void pump();
  void publish_one();
  void release_id(uint16_t id, bool accepted, int64_t now_ns);
  void check_publish_done();
  void arm_rate_timer(std::chrono::steady_clock::time_point due);
  void arm_keep_alive();

  void send(const mqtt::Packet& packet);
  void flush();
  void on_write(const boost::system::error_code& ec);

  // Ends the connection: closes the socket, cancels the timers and runs every
  // pending Done. An empty reason is an orderly close.
  void end(const std::string& reason);
  void start_session();  // CONNECT, once TCP (and TLS) is up
  uint16_t alloc_id();
  uint64_t window_used() const;
  std::string describe(const boost::system::error_code& ec) const;

  asio::io_context& io_;
  ThreadStats& stats_;
  ClientConfig config_;
  tcp::socket socket_;
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls_;  // over socket_ when config_.tls
  asio::steady_timer deadline_;    // connect timeout, then close timeout
  asio::steady_timer rate_timer_;
  asio::steady_timer keep_alive_timer_;
  State state_ = State::idle;

  mqtt::FrameReader reader_;
  std::size_t read_chunk_;
  std::string pending_;   // packets produced while a write is in flight
  std::string writing_;   // the buffer of the write in flight
  bool write_in_flight_ = false;
  uint64_t pending_publishes_ = 0;  // PUBLISH packets in pending_ (QoS 0 window)
  uint64_t writing_publishes_ = 0;  // PUBLISH packets in writing_
  bool disconnect_queued_ = false;

  Done connect_done_, subscribe_done_, publish_done_, close_done_;
  std::size_t subscribe_count_ = 0;
  LatencyOrigin origin_ = LatencyOrigin::payload_timestamp;
  int64_t subscribed_at_ns_ = 0;
  uint16_t keep_alive_s_ = 0;
  uint16_t receive_maximum_ = 65535;  // the broker's, from a v5 CONNACK

  // Publisher state.
  PublishPlan plan_;
  bool publishing_ = false;
  bool rate_timer_armed_ = false;
  int64_t publish_start_ns_ = 0;
  uint64_t published_ = 0;
  uint32_t inflight_ = 0;              // QoS 1/2 ids awaiting their last ack
  std::vector<uint8_t> id_state_;      // per packet id: 0 free, 1 awaiting PUBACK/PUBREC, 2 awaiting PUBCOMP
  uint16_t next_id_ = 0;  // ids 1..65534; 65535 is SUBSCRIBE's
  // Reused for every PUBLISH (only the stamp, id and numbered topic change);
  // held as a Packet because encode() takes one, so nothing is copied.
  mqtt::Packet publish_{mqtt::Publish{}};
};

}  // namespace tidegate::bench
