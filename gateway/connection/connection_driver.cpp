// The driver: bytes between the transport and the protocol core, the timers,
// and the end of a connection. Worker thread (docs/design.md, "Threads").
#include "gateway/connection/connection_driver.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gateway/ops/log.hpp"

namespace tidegate {

namespace asio = boost::asio;
using mqtt::ReasonCode;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxReadSize = 16384;
constexpr std::size_t kPacedReadSize = 2048;
constexpr std::size_t kRecentlyPacedReadSize = 4096;
constexpr std::size_t kLingerReadSize = 4096;

ConnectionDriver::ConnectionDriver(BrokerContext& broker, Worker& worker, std::unique_ptr<Transport> transport,
                                   const ListenerConfig& listener, ConnectionSlot slot, mqtt::Role role,
                                   mqtt::ProtocolVersion version)
    : broker_(broker),
      worker_(worker),
      slot_(std::move(slot)),
      transport_(std::move(transport)),
      listener_(listener),
      core_(role, version,
            {broker.config.max_packet_size, broker.config.receive_maximum, broker.config.topic_alias_maximum}),
      delivery_(*this) {
  boost::system::error_code ec;
  auto ep = transport_->socket().remote_endpoint(ec);
  remote_ = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
  // Writes are already gathered per wake-up (write_loop): Nagle would only add delay.
  if (broker_.config.tcp_nodelay) transport_->socket().set_option(asio::ip::tcp::no_delay(true), ec);
}

ConnectionDriver::~ConnectionDriver() = default;

void ConnectionDriver::start() {
  auto self = shared_from_this();
  worker_.add_connection(self);
  // CONNECT (a client: CONNACK) must arrive within connect_timeout (the keep-alive deadline doubles for it).
  worker_.deadlines().arm(keep_alive_deadline_, Clock::now() + std::chrono::seconds(broker_.config.connect_timeout));
  reader_active_ = true;
  spawn_reader(true);
}

void ConnectionDriver::spawn_reader(bool handshake) {
  asio::co_spawn(worker_.io(), read_loop(handshake), [self = shared_from_this()](std::exception_ptr e) {
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

void ConnectionDriver::reader_stopped() {
  reader_active_ = false;
  wake_reader();  // a linger() waiting for the reader goes on
}

asio::steady_timer& ConnectionDriver::wake_timer() {
  if (!session_wake_) session_wake_ = std::make_unique<asio::steady_timer>(worker_.io());
  session_wake_->expires_at(asio::steady_timer::time_point::max());
  return *session_wake_;
}

void ConnectionDriver::park_reader() {
  // Nothing waits in the socket: hold no read buffer, no coroutine frame and
  // no wake timer until something does (an idle connection keeps only this
  // wait). Nobody else waits on the wake timer unless we are closing.
  core_.reader().release_if_empty();
  session_wake_.reset();
  transport_->socket().async_wait(asio::ip::tcp::socket::wait_read,
                                  [self = shared_from_this()](boost::system::error_code ec) {
                                    if (self->closing()) return self->reader_stopped();
                                    if (ec) {
                                      self->input_lost(ec);
                                      return self->reader_stopped();
                                    }
                                    self->spawn_reader(false);
                                  });
}

asio::awaitable<void> ConnectionDriver::read_loop(bool handshake) {
  auto self = shared_from_this();
  // Whichever way the loop ends, a linger() waiting for it goes on; unless it
  // parked (park_reader), whose wait stands for the reader until it completes.
  struct ReaderExit {
    ConnectionDriver& c;
    bool parked = false;
    ~ReaderExit() {
      if (!parked) c.reader_stopped();
    }
  };
  ReaderExit reader_exit{*this};
  if (handshake) {
    // TLS / WebSocket handshake, inside the CONNECT deadline armed by start().
    if (auto ec = co_await transport_->handshake()) {
      log::debug("connection from " + remote_ + ": " + listener_.protocol + " handshake failed: " + ec.message());
      note_close_reason("TLS handshake failed: " + ec.message());
      close(std::nullopt, false);
      co_return;
    }
    if (state_ != State::awaiting_connect) co_return;  // closed during the handshake (deadline, stop)
    on_transport_ready();
  }
  auto& reader = core_.reader();
  // Spawned by park_reader's wait, the socket has bytes; after the handshake
  // a TCP reader parks at once (a client may connect and say nothing yet).
  bool drained = handshake;
  while (!closing()) {
    if (drained && transport_->waits_for_readability()) {
      park_reader();
      reader_exit.parked = true;
      co_return;
    }
    // Pacing (worker.hpp): while a subscriber of this worker lags, wait for
    // it (bounded) before reading more that it would have to deliver. Never
    // for our own lag: our acknowledgements may be what frees us.
    const bool may_pace = may_be_paced();
    bool paced = false;
    if (may_pace && worker_.has_lagging() && !worker_.is_lagging(this)) {
      paced = true;
      co_await worker_.caught_up().async_wait(use_nothrow);
      if (closing()) co_return;
    }
    // And no read while our last QoS 0 batch is still in the ingest thread (flush_publishes).
    while (state_ == State::connected && qos0_batches_in_ingest_ > 0) {
      co_await wake_timer().async_wait(use_nothrow);
    }
    if (closing()) co_return;
    auto buffer = reader.prepare(read_ask(paced, may_pace));
    auto [ec, n] = co_await transport_->read_some(asio::buffer(buffer.data(), buffer.size()));
    // Posted work (a takeover, a kick) may have closed us while the read completed.
    if (read_failed(ec) || closing()) co_return;
    reader.commit(n);
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
      co_await wake_timer().async_wait(use_nothrow);
      if (closing()) co_return;
    }
    qos0_publisher_ = std::exchange(qos0_in_this_read_, false);
    flush_publishes();
    delivery_.flush_progress();
  }
}

bool ConnectionDriver::may_be_paced() {
  // Only a QoS 0 publisher, and never in the middle of a packet larger than
  // a paced read (a large PUBLISH is read at full speed once it started).
  return state_ == State::connected && qos0_publisher_ && core_.reader().incomplete_frame_size() <= kPacedReadSize;
}

std::size_t ConnectionDriver::read_ask(bool paced, bool may_pace) {
  // Small first; a read that fills the buffer doubles it.
  // Paced, or a subscriber lagged lately: a smaller read, so that one read
  // of every publisher together stays within a queue's cached tail
  // (queue_cache_entries). Otherwise the full size: fan-out wants big batches.
  if (paced) return std::min(read_size_, kPacedReadSize);
  if (may_pace && worker_.lagged_recently()) return std::min(read_size_, kRecentlyPacedReadSize);
  return read_size_;
}

bool ConnectionDriver::read_failed(boost::system::error_code ec) {
  if (!ec) return false;
  if (ec == boost::system::errc::protocol_error && !closing()) {
    // The transport's own rules were broken (a WebSocket text frame): the will is due.
    Metrics::add(broker_.metrics.protocol_errors);
    log::info(describe() + ": protocol error in the " + listener_.protocol + " transport: " + ec.message());
    close(std::nullopt, true);
    return true;
  }
  input_lost(ec);
  return true;
}

void ConnectionDriver::input_lost(boost::system::error_code ec) {
  // The peer went away without DISCONNECT: the will is due (MQTT-3.1.2-8).
  input_ended_ = true;
  note_close_reason("connection lost: " + ec.message());
  close(std::nullopt, true);
}

ConnectionDriver::ReadStep ConnectionDriver::handle_buffered_packets() {
  const auto now = Clock::now();
  mqtt::Packet packet;
  for (;;) {
    // Packets that follow CONNECT wait until the session is ours; a 3.1.1
    // client (no Receive Maximum) waits while receive_maximum publishes wait
    // for the store (not on PUBREL: those must be read to make progress).
    if (state_ == State::awaiting_session || state_ == State::authenticating ||
        (state_ == State::connected && core_.inbound_paused()))
      return ReadStep::wait;
    switch (core_.next(now, packet)) {
      case mqtt::ProtocolCore::Event::need_more:
        return ReadStep::need_more;
      case mqtt::ProtocolCore::Event::violation:
        on_violation(core_.violation());
        return ReadStep::stop;
      case mqtt::ProtocolCore::Event::answer:
        send(packet);
        break;
      case mqtt::ProtocolCore::Event::packet:
        handle_packet(std::move(packet));
        break;
    }
    if (closing()) return ReadStep::stop;
    if (state_ == State::connected && core_.inbound_paused()) {
      flush_publishes();          // the commits this pause waits for
      delivery_.flush_progress();  // held PUBRELs and offsets must not wait behind the pause
    }
  }
}

void ConnectionDriver::handle_packet(mqtt::Packet&& packet) {
  // A takeover, kick or stop may have closed us (and taken the session) while
  // these bytes were in flight: what follows a close is not ours to act on.
  if (closing()) return;
  // The per-message packets without a virtual call; the role handles the rest.
  if (auto* publish = std::get_if<mqtt::Publish>(&packet)) return handle_publish(std::move(*publish));
  if (auto* response = std::get_if<mqtt::PubResponse>(&packet)) {
    if (response->type == mqtt::PacketType::pubrel) return handle_pubrel(*response);
    return delivery_.handle_ack(*response);
  }
  handle_control(std::move(packet));
}

asio::awaitable<void> ConnectionDriver::write_loop() {
  auto self = shared_from_this();
  writer_active_ = true;
  auto& out = core_.output();
  while (!out.empty()) {
    writing_.clear();
    writing_.swap(out);
    // One write per wake-up: everything encoded meanwhile goes out together.
    auto [ec, n] = co_await transport_->write(asio::buffer(writing_));
    if (ec) {
      out.clear();
      writer_active_ = false;
      close(std::nullopt, true);
      finish_close();
      co_return;
    }
    Metrics::add(broker_.metrics.bytes_sent, n);
    if (session_) session_->traffic.bytes_out += n;
    if (state_ == State::connected) delivery_.schedule();  // room in the output again
  }
  writing_.clear();
  // Still the writer while lingering: nothing else may write after our output ended.
  if (state_ == State::closing && linger_ && !input_ended_ && !broker_.shutting_down &&
      broker_.config.close_linger_max_bytes > 0)
    co_await linger();
  writer_active_ = false;
  if (state_ == State::closing) finish_close();
}

asio::awaitable<void> ConnectionDriver::linger() {
  auto self = shared_from_this();
  boost::system::error_code ignored;
  // One read at a time: the read loop's pending read (or wait) is cancelled,
  // and the loop ends before ours begins.
  if (reader_active_) transport_->socket().cancel(ignored);
  while (reader_active_ && state_ == State::closing) {
    co_await wake_timer().async_wait(use_nothrow);
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

void ConnectionDriver::finish_close() {
  if (state_ == State::closed) return;
  // The client neither closed nor stopped sending within the linger's bounds.
  if (lingering_) Metrics::add(broker_.metrics.close_linger_cut);
  transport_->close();
  worker_.deadlines().cancel(close_deadline_);
  state_ = State::closed;
  on_finished();
  worker_.remove_connection(shared_from_this());
}

void ConnectionDriver::wake_writer() {
  if (writer_active_) return;
  if (core_.output().empty() && state_ != State::closing) return;
  writer_active_ = true;
  asio::co_spawn(worker_.io(), write_loop(), asio::detached);
}

bool ConnectionDriver::output_overflowing() {
  // Deliveries stop at max_output_bytes; replies to a client that keeps sending
  // (PINGREQ, SUBSCRIBE) but never reads may reach twice that, then it is
  // dropped rather than allowed to grow our memory.
  if (state_ == State::connected &&
      core_.output().size() + delivery_.held_bytes() > 2 * LiveLimits::get(broker_.limits.max_output_bytes)) {
    Metrics::add(broker_.metrics.disconnected_output_overflow);
    log::info(describe() + ": not reading its output; disconnected");
    close(std::nullopt, true);
    return true;
  }
  return false;
}

void ConnectionDriver::send(const mqtt::PublishView& publish) {
  // The caller has checked the client's Maximum Packet Size already.
  if (state_ == State::closed || output_overflowing()) return;
  core_.send(publish);
  wake_writer();
}

void ConnectionDriver::send_shared(std::string_view bytes, std::size_t packet_id_at, std::uint8_t qos, bool retain,
                                   std::uint16_t packet_id) {
  // The caller has checked the client's Maximum Packet Size already.
  if (state_ == State::closed || output_overflowing()) return;
  core_.send_shared(bytes, packet_id_at, qos, retain, packet_id);
  wake_writer();
}

void ConnectionDriver::send(const mqtt::PubResponse& response) {
  if (state_ == State::closed || output_overflowing()) return;
  if (core_.send(response)) wake_writer();
}

void ConnectionDriver::send(const mqtt::Packet& packet) {
  if (state_ == State::closed || output_overflowing()) return;
  if (core_.send(packet)) wake_writer();
}

void ConnectionDriver::deadline_passed(Deadline& deadline) {
  auto self = shared_from_this();  // what follows may end the connection
  if (&deadline == &close_deadline_) return finish_close();
  if (state_ == State::awaiting_connect) return close(std::nullopt, false);
  if (state_ == State::connected) return on_keep_alive_timer();
  if (!closing()) on_connect_timeout();
}

void ConnectionDriver::arm_keep_alive() {
  auto first = core_.start_keep_alive(Clock::now());
  if (!first) return worker_.deadlines().cancel(keep_alive_deadline_);
  wait_keep_alive(*first);
}

void ConnectionDriver::wait_keep_alive(Clock::time_point at) { worker_.deadlines().arm(keep_alive_deadline_, at); }

void ConnectionDriver::on_keep_alive_timer() {
  if (state_ != State::connected) return;
  auto step = core_.on_keep_alive(Clock::now());
  switch (step.action) {
    case mqtt::ProtocolCore::KeepAlive::expired:
      return on_keep_alive_expired();
    case mqtt::ProtocolCore::KeepAlive::send_pingreq:
      send(mqtt::Pingreq{});
      [[fallthrough]];
    case mqtt::ProtocolCore::KeepAlive::wait:
      wait_keep_alive(step.next);
  }
}

void ConnectionDriver::close(std::optional<ReasonCode> disconnect_reason, bool publish_will) {
  if (closing()) return;
  if (disconnect_reason && state_ == State::connected) say_goodbye(*disconnect_reason);
  auto previous = state_;
  state_ = State::closing;
  worker_.set_lagging(this, false);  // paces nobody any more
  if (previous == State::connected) on_disconnected();
  worker_.deadlines().cancel(keep_alive_deadline_);
  wake_reader();
  if (previous == State::connected || (previous == State::awaiting_session && session_))
    detach_session(publish_will);
  // A claim still in progress gets its session handed to us later; we pass it on then.
  // A peer that does not read cannot hold the socket open: bounded flush. The
  // deadline is armed first because the writer may finish (and cancel it) inline.
  // close_linger_ms (docs/durability.md, "Closing a connection").
  worker_.deadlines().arm(close_deadline_, Clock::now() + std::chrono::milliseconds(broker_.config.close_linger_ms));
  if (!writer_active_) {
    writer_active_ = true;
    asio::co_spawn(worker_.io(), write_loop(), asio::detached);
  }
}

void ConnectionDriver::close_for_store_error() {
  if (state_ != State::connected) return;
  log::warn(describe() + ": store error; closing instead of acknowledging");
  delivery_.drop_held();
  close(ReasonCode::unspecified_error, true);
}

void ConnectionDriver::shut_down_by_server() { close(ReasonCode::server_shutting_down, true); }

}  // namespace tidegate
