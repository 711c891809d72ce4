// The driver: the write side, the deadlines and the end of a connection (the
// read side: connection_reader.cpp). Worker thread (docs/design.md, "Threads").
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
  // on_readable() reads without waiting: a spurious readiness returns would_block.
  if (transport_->waits_for_readability()) transport_->socket().non_blocking(true, ec);
}

ConnectionDriver::~ConnectionDriver() = default;

void ConnectionDriver::start() {
  auto self = shared_from_this();
  worker_.add_connection(self);
  // CONNECT (a client: CONNACK) must arrive within connect_timeout (the keep-alive deadline doubles for it).
  worker_.deadlines().arm(keep_alive_deadline_, Clock::now() + std::chrono::seconds(broker_.config.connect_timeout));
  reader_active_ = true;
  spawn_reader(ReadStart::handshake);
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
    // Counted for the session as it is handed to the socket: a DISCONNECT
    // read while the write completes may detach the session first.
    if (session_) session_->traffic.bytes_out += writing_.size();
    // One write per wake-up: everything encoded meanwhile goes out together.
    auto [ec, n] = co_await transport_->write(asio::buffer(writing_));
    if (ec) {
      out.clear();
      writer_active_ = false;
      note_close_reason("socket_closed", "write failed: " + ec.message());
      close(std::nullopt, true);
      finish_close();
      co_return;
    }
    Metrics::add(broker_.metrics.bytes_sent, n);
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
    note_close_reason("not_reading", "replies past twice max_output_bytes");
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
  note_close_reason("store_error", "");
  delivery_.drop_held();
  close(ReasonCode::unspecified_error, true);
}

void ConnectionDriver::shut_down_by_server() {
  note_close_reason("server_shutdown", "");
  close(ReasonCode::server_shutting_down, true);
}

}  // namespace tidegate
