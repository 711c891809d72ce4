#include "tools/bench/bench_client.hpp"

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>

#include "gateway/codec/decoder.hpp"
#include "gateway/codec/encoder.hpp"
#include "tools/bench/payload_stamp.hpp"

namespace tidegate::bench {

namespace {

// Largest packet accepted from the broker: retained payloads of the bench are
// small; anything near this is a broker bug, not load.
constexpr uint32_t max_incoming_packet = 64u << 20;
// Socket read size: starts small so 10k idle connections cost little, doubles
// while reads fill it, so a busy subscriber takes many PUBLISH per read.
constexpr std::size_t min_read_chunk = 2 * 1024;
constexpr std::size_t max_read_chunk = 64 * 1024;
// Packet id of SUBSCRIBE: never handed to a PUBLISH, so a subscriber needs no
// id table.
constexpr uint16_t subscribe_packet_id = 65535;
// Packet ids in flight per publisher: keep a margin below 65535 so
// alloc_id() always finds a free one quickly.
constexpr unsigned max_window = 65000;

mqtt::PubResponse response(mqtt::PacketType type, uint16_t packet_id) {
  mqtt::PubResponse r;
  r.type = type;
  r.packet_id = packet_id;
  return r;
}

std::string hex_byte(uint8_t b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", b);
  return buf;
}

}  // namespace

BenchClient::BenchClient(asio::io_context& io, ThreadStats& stats, ClientConfig config)
    : io_(io),
      stats_(stats),
      config_(std::move(config)),
      socket_(io),
      deadline_(io),
      rate_timer_(io),
      keep_alive_timer_(io),
      reader_(max_incoming_packet),
      read_chunk_(min_read_chunk) {}

std::string BenchClient::describe(const boost::system::error_code& ec) const {
  std::string where = config_.broker.address().to_string() + ":" + std::to_string(config_.broker.port());
  if (config_.source) where = config_.source->to_string() + " -> " + where;
  return where + ": " + ec.message();
}

// ---------------------------------------------------------------- connect

void BenchClient::connect(Done done) {
  connect_done_ = std::move(done);
  state_ = State::connecting;
  boost::system::error_code ec;
  socket_.open(config_.broker.protocol(), ec);
  if (!ec && config_.source) socket_.bind(tcp::endpoint(*config_.source, 0), ec);
  if (ec) {
    end("cannot open a socket: " + describe(ec));
    return;
  }
  deadline_.expires_after(config_.connect_timeout);
  deadline_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->state_ != State::connecting) return;
    self->end("no CONNACK within " + std::to_string(self->config_.connect_timeout.count()) + " ms from " +
              self->config_.broker.address().to_string() + ":" + std::to_string(self->config_.broker.port()));
  });
  socket_.async_connect(config_.broker,
                        [self = shared_from_this()](const boost::system::error_code& ec) { self->on_connect(ec); });
}

void BenchClient::on_connect(const boost::system::error_code& ec) {
  if (state_ != State::connecting) return;
  if (ec) {
    end("cannot connect: " + describe(ec));
    return;
  }
  boost::system::error_code ignored;
  if (!config_.nagle) socket_.set_option(tcp::no_delay(true), ignored);
  if (!config_.tls) return start_session();
  tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, *config_.tls);
  tls_->async_handshake(asio::ssl::stream_base::client, [self = shared_from_this()](const boost::system::error_code& ec) {
    if (self->state_ != State::connecting) return;
    if (ec) return self->end("TLS handshake: " + self->describe(ec));
    self->start_session();
  });
}

void BenchClient::start_session() {
  mqtt::Connect c;
  c.version = config_.version;
  c.clean_start = true;
  c.keep_alive = config_.keep_alive;
  c.client_id = config_.client_id;
  send(c);
  flush();
  do_read();
}

void BenchClient::handle_connack(const mqtt::Connack& connack) {
  if (state_ != State::connecting) {
    end("unexpected CONNACK");
    return;
  }
  if (connack.reason_code != 0) {
    end("CONNACK refused the connection with reason code " + hex_byte(connack.reason_code));
    return;
  }
  state_ = State::connected;
  deadline_.cancel();
  receive_maximum_ = connack.properties.receive_maximum.value_or(65535);
  keep_alive_s_ = connack.properties.server_keep_alive.value_or(config_.keep_alive);
  arm_keep_alive();
  Done done = std::move(connect_done_);
  connect_done_ = nullptr;
  if (done) done("");
}

void BenchClient::arm_keep_alive() {
  if (keep_alive_s_ == 0) return;
  // PINGREQ at half the keep-alive: the broker allows 1.5x, so one late ping
  // never costs the connection.
  keep_alive_timer_.expires_after(std::chrono::milliseconds(uint64_t{keep_alive_s_} * 500));
  keep_alive_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->state_ != State::connected) return;
    self->send(mqtt::Pingreq{});
    self->flush();
    self->arm_keep_alive();
  });
}

// ---------------------------------------------------------------- subscribe

void BenchClient::subscribe(std::vector<std::string> filters, uint8_t qos, LatencyOrigin origin, Done done) {
  if (state_ != State::connected) {
    done(config_.client_id + ": not connected");
    return;
  }
  subscribe_done_ = std::move(done);
  origin_ = origin;
  subscribe_count_ = filters.size();
  mqtt::Subscribe s;
  s.packet_id = subscribe_packet_id;
  for (auto& f : filters) s.subscriptions.push_back({.filter = std::move(f), .qos = qos});
  subscribed_at_ns_ = steady_ns();
  send(s);
  flush();
}

void BenchClient::handle_suback(const mqtt::Suback& suback) {
  if (suback.packet_id != subscribe_packet_id || !subscribe_done_) return;
  std::string error;
  if (suback.reason_codes.size() != subscribe_count_) error = "SUBACK with the wrong number of reason codes";
  for (uint8_t rc : suback.reason_codes)
    if (rc >= 0x80) error = "SUBACK refused the subscription with reason code " + hex_byte(rc);
  Done done = std::move(subscribe_done_);
  subscribe_done_ = nullptr;
  done(error.empty() ? error : config_.client_id + ": " + error);
}

// ---------------------------------------------------------------- publish

void BenchClient::start_publishing(PublishPlan plan, Done done) {
  if (state_ != State::connected) {
    done(config_.client_id + ": not connected");
    return;
  }
  plan_ = std::move(plan);
  publish_done_ = std::move(done);
  const unsigned cap = plan_.qos > 0 ? std::min<unsigned>(receive_maximum_, max_window) : max_window;
  plan_.window = std::clamp(plan_.window, 1u, cap);
  auto& p = std::get<mqtt::Publish>(publish_);
  p.topic = plan_.topic;
  p.qos = plan_.qos;
  p.retain = plan_.retain;
  p.packet_id = 0;
  p.payload.assign(plan_.payload_size, 'x');
  publishing_ = true;
  publish_start_ns_ = steady_ns();
  published_ = 0;
  pump();
}

void BenchClient::stop_publishing() {
  publishing_ = false;
  rate_timer_.cancel();
  check_publish_done();
}

uint64_t BenchClient::window_used() const {
  return plan_.qos > 0 ? inflight_ : pending_publishes_ + writing_publishes_;
}

// Produces PUBLISH packets while the window, the count and the rate allow.
void BenchClient::pump() {
  if (!publishing_ || state_ != State::connected) return;
  while (plan_.count == 0 || published_ < plan_.count) {
    if (window_used() >= plan_.window) break;
    if (plan_.rate > 0) {
      const auto due_ns =
          publish_start_ns_ + static_cast<int64_t>(static_cast<double>(published_) * 1e9 / plan_.rate);
      if (steady_ns() < due_ns) {
        arm_rate_timer(std::chrono::steady_clock::time_point(std::chrono::nanoseconds(due_ns)));
        break;
      }
    }
    publish_one();
  }
  flush();
  check_publish_done();
}

void BenchClient::publish_one() {
  auto& p = std::get<mqtt::Publish>(publish_);
  if (plan_.numbered_topics) p.topic = plan_.topic + "/" + std::to_string(plan_.first_index + published_);
  if (p.payload.size() >= stamp_size) write_stamp(p.payload.data(), steady_ns(), published_);
  if (plan_.qos > 0) {
    p.packet_id = alloc_id();
    ++inflight_;
    stats_.relax_add(stats_.inflight);
  }
  mqtt::encode(publish_, config_.version, pending_);
  ++pending_publishes_;
  ++published_;
  if (plan_.counted) ++stats_.sent;
}

void BenchClient::arm_rate_timer(std::chrono::steady_clock::time_point due) {
  if (rate_timer_armed_) return;
  rate_timer_armed_ = true;
  rate_timer_.expires_at(due);
  rate_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    self->rate_timer_armed_ = false;
    if (ec || self->state_ != State::connected) return;
    self->pump();
  });
}

uint16_t BenchClient::alloc_id() {
  if (id_state_.empty()) id_state_.assign(65536, 0);
  do {
    if (++next_id_ == subscribe_packet_id) next_id_ = 1;
  } while (id_state_[next_id_] != 0);
  id_state_[next_id_] = 1;
  return next_id_;
}

void BenchClient::release_id(uint16_t id, bool accepted, int64_t now_ns) {
  if (id_state_.empty() || id_state_[id] == 0) return;  // not ours: ignore
  id_state_[id] = 0;
  --inflight_;
  stats_.relax_sub(stats_.inflight);
  if (!plan_.counted) return;
  if (accepted) {
    stats_.relax_add(stats_.accepted);
    stats_.last_accept_ns = now_ns;
  } else {
    ++stats_.rejected;
  }
}

void BenchClient::check_publish_done() {
  if (!publish_done_) return;
  const bool finished = !publishing_ || (plan_.count > 0 && published_ >= plan_.count);
  if (!finished || window_used() > 0) return;
  publishing_ = false;
  Done done = std::move(publish_done_);
  publish_done_ = nullptr;
  done("");
}

// ---------------------------------------------------------------- read

void BenchClient::do_read() {
  const std::span<uint8_t> space = reader_.prepare(read_chunk_);
  auto on_read = [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
    self->on_read(ec, n);
  };
  if (tls_)
    tls_->async_read_some(asio::buffer(space.data(), space.size()), std::move(on_read));
  else
    socket_.async_read_some(asio::buffer(space.data(), space.size()), std::move(on_read));
}

void BenchClient::on_read(const boost::system::error_code& ec, std::size_t n) {
  if (state_ == State::closed) return;
  if (ec) {
    if (state_ == State::closing) end("");  // the broker closed after our DISCONNECT
    else if (ec == asio::error::eof) end("connection closed by the broker");
    else end(describe(ec));
    return;
  }
  reader_.commit(n);
  if (n == read_chunk_) read_chunk_ = std::min(2 * read_chunk_, max_read_chunk);
  mqtt::FrameReader::Frame frame;
  for (;;) {
    const auto status = reader_.next(frame);
    if (status == mqtt::FrameReader::Status::need_more) break;
    if (status != mqtt::FrameReader::Status::frame) {
      end(status == mqtt::FrameReader::Status::packet_too_large ? "packet from the broker too large"
                                                                : "malformed remaining length from the broker");
      return;
    }
    mqtt::DecodeResult result = mqtt::decode(frame, config_.version);
    if (!result.ok()) {
      end("undecodable packet from the broker: " + result.detail);
      return;
    }
    handle(result.packet, steady_ns());
    if (state_ == State::closed) return;
  }
  // Acks of this read freed window slots: refill once per read, then one write.
  if (publishing_) pump();
  else check_publish_done();
  flush();
  do_read();
}

void BenchClient::handle(mqtt::Packet& packet, int64_t now_ns) {
  if (auto* p = std::get_if<mqtt::Publish>(&packet)) {
    handle_publish(*p, now_ns);
  } else if (auto* r = std::get_if<mqtt::PubResponse>(&packet)) {
    handle_response(*r, now_ns);
  } else if (auto* c = std::get_if<mqtt::Connack>(&packet)) {
    handle_connack(*c);
  } else if (auto* s = std::get_if<mqtt::Suback>(&packet)) {
    handle_suback(*s);
  } else if (auto* d = std::get_if<mqtt::Disconnect>(&packet)) {
    end(state_ == State::closing ? "" : "DISCONNECT from the broker with reason code " + hex_byte(d->reason_code));
  } else if (std::holds_alternative<mqtt::Pingresp>(packet) || std::holds_alternative<mqtt::Unsuback>(packet)) {
    // nothing to do
  } else {
    end("unexpected packet of type " + std::to_string(static_cast<int>(mqtt::packet_type(packet))));
  }
}

void BenchClient::handle_publish(const mqtt::Publish& publish, int64_t now_ns) {
  if (publish.dup) {
    ++stats_.duplicates;
  } else {
    if (publish.payload.size() >= stamp_size) {
      const int64_t origin =
          origin_ == LatencyOrigin::payload_timestamp ? read_stamp_time(publish.payload.data()) : subscribed_at_ns_;
      stats_.latency.record(now_ns > origin ? static_cast<uint64_t>(now_ns - origin) : 0);
    } else {
      ++stats_.short_payloads;
    }
    stats_.relax_add(stats_.delivered);
    stats_.last_delivery_ns = now_ns;
  }
  if (publish.qos == 1) send(response(mqtt::PacketType::puback, publish.packet_id));
  if (publish.qos == 2) send(response(mqtt::PacketType::pubrec, publish.packet_id));
}

void BenchClient::handle_response(const mqtt::PubResponse& r, int64_t now_ns) {
  switch (r.type) {
    case mqtt::PacketType::puback:
      release_id(r.packet_id, r.reason_code < 0x80, now_ns);
      break;
    case mqtt::PacketType::pubrec:
      if (r.reason_code >= 0x80) {
        release_id(r.packet_id, false, now_ns);
      } else if (!id_state_.empty() && id_state_[r.packet_id] == 1) {
        id_state_[r.packet_id] = 2;
        send(response(mqtt::PacketType::pubrel, r.packet_id));
      }
      break;
    case mqtt::PacketType::pubrel:  // we are the receiver of a QoS 2 message
      send(response(mqtt::PacketType::pubcomp, r.packet_id));
      break;
    case mqtt::PacketType::pubcomp:
      release_id(r.packet_id, true, now_ns);
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------- write

void BenchClient::send(const mqtt::Packet& packet) {
  if (disconnect_queued_ || state_ == State::closed) return;  // nothing may follow DISCONNECT
  mqtt::encode(packet, config_.version, pending_);
}

void BenchClient::flush() {
  if (write_in_flight_ || pending_.empty() || state_ == State::closed || state_ == State::idle) return;
  writing_.swap(pending_);  // pending_ takes the drained buffer back and keeps its capacity
  writing_publishes_ = pending_publishes_;
  pending_publishes_ = 0;
  write_in_flight_ = true;
  auto on_write = [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
    self->on_write(ec);
  };
  if (tls_)
    asio::async_write(*tls_, asio::buffer(writing_), std::move(on_write));
  else
    asio::async_write(socket_, asio::buffer(writing_), std::move(on_write));
}

void BenchClient::on_write(const boost::system::error_code& ec) {
  write_in_flight_ = false;
  if (state_ == State::closed) return;
  if (ec) {
    end(state_ == State::closing ? "" : describe(ec));
    return;
  }
  writing_.clear();
  if (writing_publishes_ > 0 && plan_.qos == 0 && plan_.counted) {
    stats_.relax_add(stats_.accepted, writing_publishes_);
    stats_.last_accept_ns = steady_ns();
  }
  writing_publishes_ = 0;
  if (state_ == State::closing && disconnect_queued_ && pending_.empty()) {
    // DISCONNECT is out: half-close and let the read loop see the broker's close.
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    return;
  }
  if (publishing_) pump();
  else check_publish_done();
  flush();
}

// ---------------------------------------------------------------- close

void BenchClient::disconnect(Done done) {
  publishing_ = false;
  if (state_ == State::closed || state_ == State::idle) {
    done("");
    return;
  }
  close_done_ = std::move(done);
  if (state_ != State::connected) {  // connecting, or a second disconnect()
    end("");
    return;
  }
  state_ = State::closing;
  rate_timer_.cancel();
  keep_alive_timer_.cancel();
  send(mqtt::Disconnect{});
  disconnect_queued_ = true;
  flush();
  deadline_.expires_after(config_.close_timeout);
  deadline_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->state_ != State::closing) return;
    self->end("");  // the broker did not close in time; close from our side
  });
}

void BenchClient::end(const std::string& reason) {
  if (state_ == State::closed) return;
  const bool lost = !reason.empty() && state_ == State::connected;  // connect failures are the caller's
  state_ = State::closed;
  publishing_ = false;
  boost::system::error_code ignored;
  socket_.close(ignored);
  deadline_.cancel();
  rate_timer_.cancel();
  keep_alive_timer_.cancel();
  if (inflight_ > 0) {
    stats_.relax_sub(stats_.inflight, inflight_);
    inflight_ = 0;
  }
  const std::string message = reason.empty() ? std::string() : config_.client_id + ": " + reason;
  if (lost) stats_.add_error(message);
  // A pending operation that did not complete is a failure even on an orderly close.
  const std::string unfinished = message.empty() ? config_.client_id + ": connection closed" : message;
  for (Done* pending : {&connect_done_, &subscribe_done_, &publish_done_}) {
    if (!*pending) continue;
    Done done = std::move(*pending);
    *pending = nullptr;
    done(unfinished);
  }
  if (close_done_) {
    Done done = std::move(close_done_);
    close_done_ = nullptr;
    done("");
  }
}

}  // namespace tidegate::bench
