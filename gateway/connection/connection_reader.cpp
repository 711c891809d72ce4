// The read side of a connection: the coroutine that reads while bytes
// arrive, the readiness wait an idle TCP connection parks on instead (no
// coroutine frame, no read buffer), the non-blocking read that most wake-ups
// take without a coroutine, pacing, and decoding. Worker thread
// (docs/design.md, "Threads").
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gateway/connection/connection_driver.hpp"
#include "gateway/ops/log.hpp"

namespace tidegate {

namespace asio = boost::asio;
using mqtt::ReasonCode;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxReadSize = 16384;
constexpr std::size_t kPacedReadSize = 2048;
constexpr std::size_t kRecentlyPacedReadSize = 4096;

void ConnectionDriver::spawn_reader(ReadStart start) {
  asio::co_spawn(worker_.io(), read_loop(start), [self = shared_from_this()](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        log::error(self->describe() + ": dropped after internal error: " + ex.what());
      }
      self->note_close_reason("internal_error", "");
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
                                    try {
                                      self->on_readable();
                                    } catch (const std::exception& ex) {
                                      // As the coroutine's exit and completion do (spawn_reader).
                                      log::error(self->describe() + ": dropped after internal error: " + ex.what());
                                      self->reader_stopped();
                                      self->note_close_reason("internal_error", "");
                                      self->close(ReasonCode::implementation_specific_error, true);
                                    }
                                  });
}

bool ConnectionDriver::paced_by_lag(bool may_pace) const {
  // Pacing (worker.hpp): while a subscriber of this worker lags, wait for
  // it (bounded) before reading more that it would have to deliver. Never
  // for our own lag: our acknowledgements may be what frees us.
  return may_pace && worker_.has_lagging() && !worker_.is_lagging(this);
}

bool ConnectionDriver::qos0_batch_in_ingest() const {
  // No read while our last QoS 0 batch is still in the ingest thread (flush_publishes).
  return state_ == State::connected && qos0_batches_in_ingest_ > 0;
}

bool ConnectionDriver::must_wait_before_reading() {
  return paced_by_lag(may_be_paced()) || qos0_batch_in_ingest();
}

void ConnectionDriver::on_readable() {
  // Most wake-ups need no coroutine: one non-blocking read of what arrived,
  // its packets handled, and the reader parks again. The coroutine takes
  // over when something must be waited for, or when the read filled the
  // buffer (more may be waiting).
  if (must_wait_before_reading()) return spawn_reader(ReadStart::readable);
  auto& reader = core_.reader();
  auto buffer = reader.prepare(read_ask(false, may_be_paced()));
  boost::system::error_code ec;
  const std::size_t n = transport_->socket().read_some(asio::buffer(buffer.data(), buffer.size()), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    reader.commit(0);  // nothing came after all (a spurious wake-up)
    return park_reader();
  }
  if (read_failed(ec) || closing()) return reader_stopped();
  const bool drained = took_bytes(n, buffer.size());
  auto step = handle_buffered_packets();
  if (step == ReadStep::stop) return reader_stopped();
  if (step == ReadStep::wait) return spawn_reader(drained ? ReadStart::buffered : ReadStart::buffered_more);
  end_of_read();
  if (closing()) return reader_stopped();
  if (!drained) return spawn_reader(ReadStart::readable);
  park_reader();
}

bool ConnectionDriver::took_bytes(std::size_t n, std::size_t asked) {
  core_.reader().commit(n);
  const bool drained = n < asked;
  if (!drained && read_size_ < kMaxReadSize) read_size_ *= 2;
  Metrics::add(broker_.metrics.bytes_received, n);
  if (session_) session_->traffic.bytes_in += n;
  return drained;
}

void ConnectionDriver::end_of_read() {
  qos0_publisher_ = std::exchange(qos0_in_this_read_, false);
  flush_publishes();
  delivery_.flush_progress();
}

asio::awaitable<void> ConnectionDriver::read_loop(ReadStart start) {
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
  if (start == ReadStart::handshake) {
    // TLS / WebSocket handshake, inside the CONNECT deadline armed by start().
    if (auto ec = co_await transport_->handshake()) {
      log::debug("connection from " + remote_ + ": " + listener_.protocol + " handshake failed: " + ec.message());
      note_close_reason("handshake_failed", "TLS handshake failed: " + ec.message());
      close(std::nullopt, false);
      co_return;
    }
    if (state_ != State::awaiting_connect) co_return;  // closed during the handshake (deadline, stop)
    on_transport_ready();
  }
  auto& reader = core_.reader();
  // After the handshake a TCP reader parks at once (a client may connect and
  // say nothing yet); spawned by on_readable, the socket has bytes, or the
  // bytes read there wait in the reader for their packets to go on.
  bool drained = start == ReadStart::handshake || start == ReadStart::buffered;
  bool read_done = start == ReadStart::buffered || start == ReadStart::buffered_more;
  while (!closing()) {
    if (!read_done) {
      if (drained && transport_->waits_for_readability()) {
        park_reader();
        reader_exit.parked = true;
        co_return;
      }
      const bool may_pace = may_be_paced();
      bool paced = false;
      if (paced_by_lag(may_pace)) {
        paced = true;
        co_await worker_.caught_up().async_wait(use_nothrow);
        if (closing()) co_return;
      }
      while (qos0_batch_in_ingest()) {
        co_await wake_timer().async_wait(use_nothrow);
      }
      if (closing()) co_return;
      auto buffer = reader.prepare(read_ask(paced, may_pace));
      auto [ec, n] = co_await transport_->read_some(asio::buffer(buffer.data(), buffer.size()));
      // Posted work (a takeover, a kick) may have closed us while the read completed.
      if (read_failed(ec) || closing()) co_return;
      drained = took_bytes(n, buffer.size());
    }
    read_done = false;
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
    end_of_read();
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
    note_close_reason("protocol_error", "in the " + listener_.protocol + " transport: " + ec.message());
    close(std::nullopt, true);
    return true;
  }
  input_lost(ec);
  return true;
}

void ConnectionDriver::input_lost(boost::system::error_code ec) {
  // The peer went away without DISCONNECT: the will is due (MQTT-3.1.2-8).
  input_ended_ = true;
  note_close_reason("socket_closed", "connection lost: " + ec.message());
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

}  // namespace tidegate
