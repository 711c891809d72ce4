#include "gateway/connection/connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "gateway/bridge/bridge_link.hpp"
#include "gateway/codec/decoder.hpp"
#include "gateway/codec/encoder.hpp"
#include "gateway/ops/log.hpp"

namespace tidegate {

namespace asio = boost::asio;
using mqtt::ReasonCode;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t kNoPacketSizeLimit = 268435460;  // the protocol's own maximum
constexpr std::size_t kMaxReadSize = 16384;
constexpr std::size_t kPacedReadSize = 2048;
constexpr std::size_t kRecentlyPacedReadSize = 4096;
constexpr std::size_t kLingerReadSize = 4096;

Connection::Connection(BrokerContext& broker, Worker& worker, std::unique_ptr<Transport> transport,
                       const ListenerConfig& listener, ConnectionSlot slot)
    : broker_(broker),
      worker_(worker),
      slot_(std::move(slot)),
      transport_(std::move(transport)),
      listener_(listener),
      keep_alive_timer_(worker.io()),
      session_wake_(worker.io(), asio::steady_timer::time_point::max()),
      close_deadline_(worker.io()),
      reader_(broker.config.max_packet_size) {
  boost::system::error_code ec;
  auto ep = transport_->socket().remote_endpoint(ec);
  remote_ = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
  // Writes are already gathered per wake-up (write_loop): Nagle would only add delay.
  if (broker_.config.tcp_nodelay) transport_->socket().set_option(asio::ip::tcp::no_delay(true), ec);
}

Connection::Connection(BrokerContext& broker, Worker& worker, std::unique_ptr<Transport> transport,
                       const ListenerConfig& listener, std::shared_ptr<BridgeLink> bridge)
    : Connection(broker, worker, std::move(transport), listener, ConnectionSlot::take(broker.metrics.connections_open)) {
  bridge_ = std::move(bridge);
  client_id_ = bridge_->config().local_client_id();
  version_ = bridge_->config().protocol_version == 5 ? mqtt::ProtocolVersion::v5 : mqtt::ProtocolVersion::v311;
  access_ = ClientAccess::unrestricted();
}

Connection::~Connection() = default;

std::string Connection::describe() const {
  if (bridge_) return "bridge '" + bridge_->config().name + "' (" + remote_ + ")";
  return "client '" + client_id_ + "' (" + remote_ + ")";
}

void Connection::start() {
  auto self = shared_from_this();
  worker_.add_connection(self);
  // CONNECT must arrive within connect_timeout (the keep-alive timer doubles for it).
  keep_alive_timer_.expires_after(std::chrono::seconds(broker_.config.connect_timeout));
  keep_alive_timer_.async_wait([self](boost::system::error_code ec) {
    if (ec) return;
    if (self->state_ == State::awaiting_connect) self->close(std::nullopt, false);
    if (self->state_ == State::authenticating) {
      log::info(self->describe() + ": no authentication answer within connect_timeout");
      self->refuse_connect(ReasonCode::not_authorized, "no authentication answer in time");
    }
    if (self->state_ == State::awaiting_connack) {
      self->close_reason_ = "no CONNACK within connect_timeout";
      self->close(std::nullopt, false);
    }
  });
  asio::co_spawn(worker_.io(), read_loop(), [self](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        log::error(self->describe() + ": dropped after internal error: " + ex.what());
      }
      self->close(ReasonCode::implementation_specific_error, true);
    }
  });
}

asio::awaitable<void> Connection::read_loop() {
  auto self = shared_from_this();
  // Whichever way the loop ends, a linger() waiting for it goes on.
  struct ReaderExit {
    Connection& c;
    ~ReaderExit() {
      c.reader_active_ = false;
      c.session_wake_.cancel();
    }
  };
  reader_active_ = true;
  ReaderExit reader_exit{*this};
  // TLS / WebSocket handshake, inside the CONNECT deadline armed by start().
  if (auto ec = co_await transport_->handshake()) {
    log::debug("connection from " + remote_ + ": " + listener_.protocol + " handshake failed: " + ec.message());
    if (bridge_) close_reason_ = "TLS handshake failed: " + ec.message();
    close(std::nullopt, false);
    co_return;
  }
  if (state_ != State::awaiting_connect) co_return;  // closed during the handshake (deadline, stop)
  if (bridge_) send_bridge_connect();
  bool drained = true;  // the last read left the socket empty
  while (state_ != State::closing && state_ != State::closed) {
    if (drained && transport_->waits_for_readability()) {
      // Nothing waits in the socket: hold no read buffer until something does
      // (an idle connection would otherwise keep up to read_size_ resident).
      reader_.release_if_empty();
      auto wait_error = co_await transport_->wait_readable();
      if (state_ == State::closing || state_ == State::closed) co_return;
      if (wait_error) {
        input_ended_ = true;
        if (bridge_ && close_reason_.empty()) close_reason_ = "connection lost: " + wait_error.message();
        close(std::nullopt, true);
        co_return;
      }
    }
    // Pacing (worker.hpp): while a subscriber of this worker lags, wait for
    // it (bounded) before reading more that it would have to deliver. Never
    // for our own lag: our acknowledgements may be what frees us.
    // Only a QoS 0 publisher, and never in the middle of a packet larger than
    // a paced read (a large PUBLISH is read at full speed once it started).
    const bool may_pace =
        state_ == State::connected && qos0_publisher_ && reader_.incomplete_frame_size() <= kPacedReadSize;
    bool paced = false;
    if (may_pace && worker_.has_lagging() && !worker_.is_lagging(this)) {
      paced = true;
      co_await worker_.caught_up().async_wait(use_nothrow);
      if (state_ == State::closing || state_ == State::closed) co_return;
    }
    // And no read while our last QoS 0 batch is still in the ingest thread (flush_publishes).
    while (state_ == State::connected && qos0_batches_in_ingest_ > 0) {
      session_wake_.expires_at(asio::steady_timer::time_point::max());
      co_await session_wake_.async_wait(use_nothrow);
    }
    if (state_ == State::closing || state_ == State::closed) co_return;
    // Small first; a read that fills the buffer doubles it.
    // Paced, or a subscriber lagged lately: a smaller read, so that one read
    // of every publisher together stays within a queue's cached tail
    // (queue_cache_entries). Otherwise the full size: fan-out wants big batches.
    std::size_t ask = read_size_;
    if (paced)
      ask = std::min(ask, kPacedReadSize);
    else if (may_pace && worker_.lagged_recently())
      ask = std::min(ask, kRecentlyPacedReadSize);
    auto buffer = reader_.prepare(ask);
    auto [ec, n] = co_await transport_->read_some(asio::buffer(buffer.data(), buffer.size()));
    if (ec == boost::system::errc::protocol_error && state_ != State::closing && state_ != State::closed) {
      // The transport's own rules were broken (a WebSocket text frame): the will is due.
      Metrics::add(broker_.metrics.protocol_errors);
      log::info(describe() + ": protocol error in the " + listener_.protocol + " transport: " + ec.message());
      close(std::nullopt, true);
      co_return;
    }
    if (ec) {
      // The peer went away without DISCONNECT: the will is due (MQTT-3.1.2-8).
      input_ended_ = true;
      if (bridge_ && close_reason_.empty()) close_reason_ = "connection lost: " + ec.message();
      close(std::nullopt, true);
      co_return;
    }
    // Posted work (a takeover, a kick) may have closed us while the read completed.
    if (state_ == State::closing || state_ == State::closed) co_return;
    reader_.commit(n);
    drained = n < buffer.size();
    if (!drained && read_size_ < kMaxReadSize) read_size_ *= 2;
    Metrics::add(broker_.metrics.bytes_received, n);
    if (session_) session_->traffic.bytes_in += n;
    // Decoding happens in an ordinary function: its locals (a decoded packet
    // is several hundred bytes) stay off this coroutine's frame, which every
    // idle connection keeps allocated.
    for (;;) {
      auto step = handle_buffered_packets();
      if (step == ReadStep::stop) co_return;
      if (step == ReadStep::need_more) break;
      session_wake_.expires_at(asio::steady_timer::time_point::max());
      co_await session_wake_.async_wait(use_nothrow);
      if (state_ == State::closing || state_ == State::closed) co_return;
    }
    qos0_publisher_ = std::exchange(qos0_in_this_read_, false);
    flush_publishes();
    flush_progress();
  }
}

Connection::ReadStep Connection::handle_buffered_packets() {
  for (;;) {
    // Packets that follow CONNECT wait until the session is ours; a 3.1.1
    // client (no Receive Maximum) waits while receive_maximum publishes wait
    // for the store (not on PUBREL: those must be read to make progress).
    if (state_ == State::awaiting_session || state_ == State::authenticating ||
        (state_ == State::connected && !v5() && inbound_pending_ >= broker_.config.receive_maximum))
      return ReadStep::wait;
    mqtt::FrameReader::Frame frame;
    auto status = reader_.next(frame);
    if (status == mqtt::FrameReader::Status::need_more) return ReadStep::need_more;
    if (status == mqtt::FrameReader::Status::malformed_remaining_length) {
      protocol_error(ReasonCode::malformed_packet, "malformed remaining length");
      return ReadStep::stop;
    }
    if (status == mqtt::FrameReader::Status::packet_too_large) {
      protocol_error(ReasonCode::packet_too_large, "packet larger than max_packet_size");
      return ReadStep::stop;
    }
    if (state_ == State::awaiting_connect && (frame.first_byte >> 4) != 1) {
      // MQTT-3.1.0-1: anything but CONNECT first closes without an answer.
      log::info(describe() + ": first packet is not CONNECT");
      close(std::nullopt, false);
      return ReadStep::stop;
    }
    auto result = mqtt::decode(frame, version_);
    if (!result.ok() && state_ == State::awaiting_connect) {
      // Answer a bad CONNECT in the client's own protocol version when it said one we speak.
      if (auto* c = std::get_if<mqtt::Connect>(&result.packet)) {
        auto level = static_cast<int>(c->version);
        if (level >= 3 && level <= 5) version_ = c->version;
      }
    }
    if (!result.ok()) {
      protocol_error(result.error, result.detail);
      return ReadStep::stop;
    }
    handle_packet(std::move(result.packet));
    if (state_ == State::closing || state_ == State::closed) return ReadStep::stop;
    if (state_ == State::connected && !v5() && inbound_pending_ >= broker_.config.receive_maximum) {
      flush_publishes();  // the commits this pause waits for
      flush_progress();   // held PUBRELs and offsets must not wait behind the pause
    }
  }
}

asio::awaitable<void> Connection::write_loop() {
  auto self = shared_from_this();
  writer_active_ = true;
  while (!out_.empty()) {
    writing_.clear();
    writing_.swap(out_);
    // One write per wake-up: everything encoded meanwhile goes out together.
    auto [ec, n] = co_await transport_->write(asio::buffer(writing_));
    if (ec) {
      out_.clear();
      writer_active_ = false;
      close(std::nullopt, true);
      finish_close();
      co_return;
    }
    Metrics::add(broker_.metrics.bytes_sent, n);
    if (session_) session_->traffic.bytes_out += n;
    if (state_ == State::connected) schedule_delivery();  // room in the output again
  }
  writing_.clear();
  // Still the writer while lingering: nothing else may write after our output ended.
  if (state_ == State::closing && linger_ && !input_ended_ && !broker_.shutting_down &&
      broker_.config.close_linger_max_bytes > 0)
    co_await linger();
  writer_active_ = false;
  if (state_ == State::closing) finish_close();
}

asio::awaitable<void> Connection::linger() {
  auto self = shared_from_this();
  boost::system::error_code ignored;
  // One read at a time: the read loop's pending read (or wait) is cancelled,
  // and the loop ends before ours begins.
  if (reader_active_) transport_->socket().cancel(ignored);
  while (reader_active_ && state_ == State::closing) {
    session_wake_.expires_at(asio::steady_timer::time_point::max());
    co_await session_wake_.async_wait(use_nothrow);
  }
  if (state_ != State::closing) co_return;  // close_deadline_ passed
  co_await transport_->end_output();
  if (state_ != State::closing) co_return;
  transport_->socket().shutdown(asio::socket_base::shutdown_send, ignored);
  // Below the TLS and WebSocket layers: their state is of no use any more.
  lingering_ = true;
  std::vector<char> sink(kLingerReadSize);
  std::size_t discarded = 0;
  while (discarded < broker_.config.close_linger_max_bytes) {
    auto [ec, n] = co_await transport_->socket().async_read_some(asio::buffer(sink), use_nothrow);
    if (ec) {
      // The client closed (or reset): it ended the linger. Aborted: our deadline did.
      if (ec != asio::error::operation_aborted) lingering_ = false;
      break;
    }
    discarded += n;
  }
}

void Connection::finish_close() {
  if (state_ == State::closed) return;
  // The client neither closed nor stopped sending within the linger's bounds.
  if (lingering_) Metrics::add(broker_.metrics.close_linger_cut);
  transport_->close();
  close_deadline_.cancel();
  state_ = State::closed;
  if (bridge_) bridge_->on_closed(close_reason_);
  worker_.remove_connection(shared_from_this());
}

void Connection::wake_writer() {
  if (writer_active_) return;
  if (out_.empty() && state_ != State::closing) return;
  writer_active_ = true;
  asio::co_spawn(worker_.io(), write_loop(), asio::detached);
}

bool Connection::output_overflowing() {
  // Deliveries stop at max_output_bytes; replies to a client that keeps sending
  // (PINGREQ, SUBSCRIBE) but never reads may reach twice that, then it is
  // dropped rather than allowed to grow our memory.
  if (state_ == State::connected && out_.size() + held_.size() > 2 * LiveLimits::get(broker_.limits.max_output_bytes)) {
    Metrics::add(broker_.metrics.disconnected_output_overflow);
    log::info(describe() + ": not reading its output; disconnected");
    close(std::nullopt, true);
    return true;
  }
  return false;
}

void Connection::send(const mqtt::PublishView& publish) {
  // The caller has checked the client's Maximum Packet Size already.
  if (state_ == State::closed || output_overflowing()) return;
  mqtt::encode(publish, version_, out_);
  wake_writer();
}

void Connection::send_shared(const store::EncodedPublish& shared, std::uint8_t qos, bool retain,
                             std::uint16_t packet_id) {
  // The caller has checked the client's Maximum Packet Size already.
  if (state_ == State::closed || output_overflowing()) return;
  mqtt::append_patched_publish(shared.bytes, shared.packet_id_at, qos, retain, false, packet_id, out_);
  wake_writer();
}

void Connection::send(const mqtt::PubResponse& response) {
  if (state_ == State::closed) return;
  if (v5() && client_max_packet_size_ < kNoPacketSizeLimit &&
      mqtt::encoded_size(response, version_) > client_max_packet_size_)
    return send(mqtt::Packet(response));  // the general path trims its properties
  if (output_overflowing()) return;
  mqtt::encode(response, version_, out_);
  wake_writer();
}

void Connection::send(const mqtt::Packet& packet) {
  if (state_ == State::closed || output_overflowing()) return;
  if (v5() && client_max_packet_size_ < kNoPacketSizeLimit &&
      mqtt::encoded_size(packet, version_) > client_max_packet_size_) {
    // MQTT-3.1.2-25, 3.2.2-19: too large for the client. Reason String and User
    // Properties go first; a packet still too large is not sent at all.
    // (PUBLISH is checked, and discarded, before it gets here.)
    mqtt::Packet trimmed = packet;
    std::visit(
        [](auto& p) {
          if constexpr (requires { p.properties; }) {
            p.properties.reason_string.reset();
            p.properties.user_properties.clear();
          }
        },
        trimmed);
    if (mqtt::encoded_size(trimmed, version_) > client_max_packet_size_) return;
    mqtt::encode(trimmed, version_, out_);
  } else {
    mqtt::encode(packet, version_, out_);
  }
  wake_writer();
}

void Connection::arm_keep_alive() {
  last_packet_at_ = std::chrono::steady_clock::now();
  if (keep_alive_ == 0) {
    keep_alive_timer_.cancel();
    return;
  }
  if (bridge_) {
    // The client side: a PINGREQ every keep alive period (bridge_client.cpp).
    keep_alive_timer_.expires_after(std::chrono::seconds(keep_alive_));
    keep_alive_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->on_bridge_keep_alive();
    });
    return;
  }
  keep_alive_timer_.expires_at(last_packet_at_ + std::chrono::milliseconds(keep_alive_ * 1500));
  keep_alive_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->on_keep_alive_timer();
  });
}

void Connection::on_keep_alive_timer() {
  if (state_ != State::connected) return;
  // MQTT-3.1.2-22: one and a half times the keep alive without a packet.
  auto deadline = last_packet_at_ + std::chrono::milliseconds(keep_alive_ * 1500);
  if (std::chrono::steady_clock::now() < deadline) {
    keep_alive_timer_.expires_at(deadline);
    keep_alive_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->on_keep_alive_timer();
    });
    return;
  }
  log::info(describe() + ": keep alive timeout");
  close(ReasonCode::keep_alive_timeout, true);
}

void Connection::handle_packet(mqtt::Packet&& packet) {
  // A takeover, kick or stop may have closed us (and taken the session) while
  // these bytes were in flight: what follows a close is not ours to act on.
  if (state_ == State::closing || state_ == State::closed) return;
  if (state_ == State::awaiting_connack) {
    last_packet_at_ = std::chrono::steady_clock::now();
    if (auto* ack = std::get_if<mqtt::Connack>(&packet)) return handle_connack(*ack);
    close_reason_ = "the remote broker sent " + std::string(mqtt::to_string(mqtt::packet_type(packet))) + " before CONNACK";
    return close(std::nullopt, false);
  }
  if (state_ == State::awaiting_connect) {
    if (auto* connect = std::get_if<mqtt::Connect>(&packet)) {
      handle_connect(std::move(*connect));
    } else {
      // MQTT-3.1.0-1: the first packet must be CONNECT.
      log::info(describe() + ": first packet is not CONNECT");
      close(std::nullopt, false);
    }
    return;
  }
  last_packet_at_ = std::chrono::steady_clock::now();
  std::visit(
      [this](auto&& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, mqtt::Publish>) {
          handle_publish(std::move(p));
        } else if constexpr (std::is_same_v<T, mqtt::PubResponse>) {
          if (p.type == mqtt::PacketType::pubrel)
            handle_pubrel(p);
          else
            handle_ack(p);
        } else if constexpr (std::is_same_v<T, mqtt::Suback>) {
          if (!bridge_) return protocol_error(ReasonCode::protocol_error, "packet type not sent by clients");
          handle_suback(p);
        } else if constexpr (std::is_same_v<T, mqtt::Unsuback>) {
          if (!bridge_) return protocol_error(ReasonCode::protocol_error, "packet type not sent by clients");
        } else if constexpr (std::is_same_v<T, mqtt::Pingresp>) {
          if (!bridge_) return protocol_error(ReasonCode::protocol_error, "packet type not sent by clients");
          ping_outstanding_ = false;
        } else if constexpr (std::is_same_v<T, mqtt::Subscribe>) {
          if (bridge_) return protocol_error(ReasonCode::protocol_error, "SUBSCRIBE from a server");
          handle_subscribe(std::move(p));
        } else if constexpr (std::is_same_v<T, mqtt::Unsubscribe>) {
          if (bridge_) return protocol_error(ReasonCode::protocol_error, "UNSUBSCRIBE from a server");
          handle_unsubscribe(std::move(p));
        } else if constexpr (std::is_same_v<T, mqtt::Pingreq>) {
          if (bridge_) return protocol_error(ReasonCode::protocol_error, "PINGREQ from a server");
          send(mqtt::Pingresp{});
        } else if constexpr (std::is_same_v<T, mqtt::Disconnect>) {
          if (bridge_) {
            close_reason_ = "DISCONNECT from the remote broker" +
                            (v5() ? ": " + std::string(mqtt::to_string(static_cast<ReasonCode>(p.reason_code))) : "");
            return close(std::nullopt, false);
          }
          if (v5() && p.properties.session_expiry_interval && session_) {
            // MQTT 5 §3.14.2.2.2: a session that was to end with the connection may not be revived here.
            if (requested_expiry_ == 0 && *p.properties.session_expiry_interval != 0) {
              protocol_error(ReasonCode::protocol_error, "session expiry set on DISCONNECT after 0 on CONNECT");
              return;
            }
            session_->expiry_interval = *p.properties.session_expiry_interval;
          }
          // 0x04 asks for the will; any other reason discards it (MQTT-3.1.2-10).
          bool will = v5() && p.reason_code == static_cast<std::uint8_t>(ReasonCode::disconnect_with_will_message);
          close(std::nullopt, will);
        } else if constexpr (std::is_same_v<T, mqtt::Connect>) {
          protocol_error(ReasonCode::protocol_error, "second CONNECT");  // MQTT-3.1.0-2
        } else if constexpr (std::is_same_v<T, mqtt::Auth>) {
          protocol_error(ReasonCode::protocol_error, "AUTH without an authentication method");
        } else {
          protocol_error(ReasonCode::protocol_error, "packet type not sent by clients");
        }
      },
      std::move(packet));
}

void Connection::protocol_error(ReasonCode reason, const std::string& detail) {
  Metrics::add(broker_.metrics.protocol_errors);
  if (bridge_) close_reason_ = "protocol error from the remote broker: " + detail;
  log::info(describe() + ": protocol error " + mqtt::to_string(reason) + ": " + detail);
  if (state_ == State::awaiting_connect) {
    // Errors in CONNECT itself: MQTT 5 answers with a CONNACK reason code
    // (MQTT-3.2.2-*). 3.1 and 3.1.1 have return codes only for a protocol
    // level we do not speak (1) and an identifier we refuse (2); any other
    // malformed CONNECT is closed without an answer (MQTT-3.1.2-3, 3.1.2-14,
    // 4.8), never "server unavailable", which invites a retry of the same
    // bytes (docs/conformance.md).
    if (v5() || mqtt::has_v311_connack_for_bad_connect(reason))
      refuse_connect(reason, detail);
    else
      close(std::nullopt, false);
    return;
  }
  close(reason, true);
}

void Connection::close(std::optional<ReasonCode> disconnect_reason, bool publish_will) {
  if (state_ == State::closing || state_ == State::closed) return;
  if (disconnect_reason && state_ == State::connected && bridge_) {
    // The client side: a stop or a kick is a normal DISCONNECT (both
    // versions); a v5 remote is told of our protocol errors.
    bool normal = *disconnect_reason == ReasonCode::server_shutting_down ||
                  *disconnect_reason == ReasonCode::administrative_action;
    if (close_reason_.empty()) close_reason_ = normal ? "closed by this gateway" : mqtt::to_string(*disconnect_reason);
    if (normal || (v5() && *disconnect_reason != ReasonCode::keep_alive_timeout)) {
      mqtt::Disconnect d;
      d.reason_code = normal ? 0 : static_cast<std::uint8_t>(*disconnect_reason);
      send(d);
    }
  } else if (disconnect_reason && v5() && (state_ == State::connected)) {
    mqtt::Disconnect d;
    d.reason_code = static_cast<std::uint8_t>(*disconnect_reason);
    send(d);
    linger_ = true;
  }
  auto previous = state_;
  state_ = State::closing;
  worker_.set_lagging(this, false);  // paces nobody any more
  if (previous == State::connected && !bridge_ && broker_.plugins)
    broker_.plugins->client_disconnected(ClientIdentity{client_id_, username_, remote_, static_cast<int>(version_)});
  keep_alive_timer_.cancel();
  session_wake_.cancel();
  if (previous == State::connected || (previous == State::awaiting_session && session_))
    detach_session(publish_will);
  // A claim still in progress gets its session handed to us later; we pass it on then.
  // A peer that does not read cannot hold the socket open: bounded flush. The
  // deadline is armed first because the writer may finish (and cancel it) inline.
  // close_linger_ms (docs/durability.md, "Closing a connection").
  close_deadline_.expires_after(std::chrono::milliseconds(broker_.config.close_linger_ms));
  close_deadline_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->finish_close();
  });
  if (!writer_active_) {
    writer_active_ = true;
    asio::co_spawn(worker_.io(), write_loop(), asio::detached);
  }
}

void Connection::close_for_store_error() {
  if (state_ != State::connected) return;
  log::warn(describe() + ": store error; closing instead of acknowledging");
  held_.clear();
  hold_chunks_.clear();
  chunked_bytes_ = 0;
  close(ReasonCode::unspecified_error, true);
}

void Connection::shut_down_by_server() { close(ReasonCode::server_shutting_down, true); }

void Connection::take_over() {
  asio::post(worker_.io(), [self = shared_from_this()] {
    if (self->state_ == State::connected) {
      log::info(self->describe() + ": taken over by a new connection");
      self->close(ReasonCode::session_taken_over, true);
    } else if (self->state_ == State::awaiting_session && self->session_) {
      // Taken over before our CONNACK went out: give the session on at once.
      log::info(self->describe() + ": taken over before it was connected");
      self->close(std::nullopt, false);
    } else if (self->state_ == State::awaiting_session && self->fetching_session_) {
      // Its session is on its way from another gateway: passed on when it arrives.
      self->taken_over_while_fetching_ = true;
    }
  });
}

void Connection::taken_over_elsewhere(std::int64_t claimed_at_ms, bool lose_ties,
                                      std::function<void(std::int64_t connected_ms)> keep) {
  asio::post(worker_.io(), [self = shared_from_this(), claimed_at_ms, lose_ties, keep = std::move(keep)] {
    if (self->state_ != State::connected) return;
    auto since = self->summary_.connected_since_ms.value_or(0);
    if (since > claimed_at_ms || (since == claimed_at_ms && !lose_ties)) {
      if (keep) keep(since);  // we are the newer one
      return;
    }
    log::info(self->describe() + ": taken over by a connection on another gateway");
    Metrics::add(self->broker_.metrics.taken_over_elsewhere);
    self->end_on_detach_ = true;
    self->close(ReasonCode::session_taken_over, true);
  });
}

void Connection::superseded() {
  asio::post(worker_.io(), [self = shared_from_this()] {
    // A newer connection claimed the id before our session arrived.
    if (self->state_ == State::awaiting_session && !self->session_) self->close(std::nullopt, false);
  });
}

void Connection::session_handed(std::unique_ptr<Session> session) {
  asio::post(worker_.io(), [self = shared_from_this(), session = std::move(session)]() mutable {
    if (self->state_ != State::awaiting_session) {
      // We went away while waiting: pass the session on or park it.
      self->broker_.registry.release(self->client_id_, self.get(), std::move(session));
      return;
    }
    if (self->bridge_) return self->bridge_attach(std::move(session));
    self->continue_with_session(std::move(session));
  });
}

}  // namespace tidegate
