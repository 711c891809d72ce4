#include "tools/ctl/quick_client.hpp"

#include <poll.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <random>
#include <stdexcept>

#include "gateway/codec/decoder.hpp"
#include "gateway/codec/encoder.hpp"
#include "gateway/codec/frame_reader.hpp"

namespace tidegate::ctl {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr auto kVersion = mqtt::ProtocolVersion::v311;

// One MQTT 3.1.1 connection with a clean session; every read is bounded by poll(2).
class QuickConnection {
 public:
  explicit QuickConnection(const MqttLogin& login) : socket_(io_), reader_(0) {
    boost::system::error_code ec;
    tcp::resolver resolver(io_);
    auto endpoints = resolver.resolve(login.endpoint.host, login.endpoint.port, ec);
    if (!ec) net::connect(socket_, endpoints, ec);
    if (ec) throw TransportError("cannot reach the MQTT listener at " + login.endpoint.display() + ": " + ec.message());
    mqtt::Connect connect;
    connect.version = kVersion;
    connect.protocol_name = "MQTT";
    connect.clean_start = true;
    connect.keep_alive = 0;  // no PINGREQ to send while we wait
    std::random_device random;
    connect.client_id = "tidegatectl-" + std::to_string(::getpid()) + "-" + std::to_string(random() % 100000);
    connect.username = login.username;
    connect.password = login.password;
    send(connect);
    auto packet = receive(Clock::now() + login.timeout);
    auto* ack = packet ? std::get_if<mqtt::Connack>(&*packet) : nullptr;
    if (!ack) throw TransportError("no CONNACK from the MQTT listener at " + login.endpoint.display());
    if (ack->reason_code == 5)
      throw std::runtime_error("the gateway refused the connection: not authorized (give --username and "
                               "--password-file, or see allow_anonymous in docs/configuration.md)");
    if (ack->reason_code == 4) throw std::runtime_error("the gateway refused the connection: bad user name or password");
    if (ack->reason_code != 0)
      throw std::runtime_error("the gateway refused the connection: return code " + std::to_string(ack->reason_code));
  }

  ~QuickConnection() {
    boost::system::error_code ignored;
    std::string out;
    mqtt::encode(mqtt::Packet{mqtt::Disconnect{}}, kVersion, out);
    net::write(socket_, net::buffer(out), ignored);
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
  }

  void send(const mqtt::Packet& packet) {
    std::string out;
    mqtt::encode(packet, kVersion, out);
    boost::system::error_code ec;
    net::write(socket_, net::buffer(out), ec);
    if (ec) throw TransportError("the MQTT connection broke: " + ec.message());
  }

  // The next packet, or nullopt once `deadline` passed (time_point::max(): none).
  std::optional<mqtt::Packet> receive(Clock::time_point deadline) {
    for (;;) {
      mqtt::FrameReader::Frame frame;
      auto status = reader_.next(frame);
      if (status == mqtt::FrameReader::Status::frame) {
        auto result = mqtt::decode(frame, kVersion);
        if (!result.ok()) throw TransportError("the gateway sent a malformed packet: " + result.detail);
        return std::move(result.packet);
      }
      if (status != mqtt::FrameReader::Status::need_more) throw TransportError("the gateway sent a malformed packet");
      int timeout_ms = -1;
      if (deadline != Clock::time_point::max()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) return std::nullopt;
        timeout_ms = static_cast<int>(std::min<long long>(left, 1 << 30));
      }
      pollfd p{socket_.native_handle(), POLLIN, 0};
      int ready = ::poll(&p, 1, timeout_ms);
      if (ready < 0 && errno == EINTR) continue;  // the deadline is checked again
      if (ready == 0) return std::nullopt;
      auto buffer = reader_.prepare(16384);
      boost::system::error_code ec;
      auto n = socket_.read_some(net::buffer(buffer.data(), buffer.size()), ec);
      if (ec) throw TransportError("the gateway closed the MQTT connection: " + ec.message());
      reader_.commit(n);
    }
  }

 private:
  net::io_context io_;
  tcp::socket socket_;
  mqtt::FrameReader reader_;
};

}  // namespace

void quick_publish(const MqttLogin& login, const std::string& topic, const std::string& payload, std::uint8_t qos,
                   bool retain) {
  QuickConnection c(login);
  mqtt::Publish p;
  p.topic = topic;
  p.payload = payload;
  p.qos = qos;
  p.retain = retain;
  p.packet_id = qos ? 1 : 0;
  c.send(p);
  if (qos == 0) return;
  const auto deadline = Clock::now() + login.timeout;
  for (;;) {
    auto packet = c.receive(deadline);
    if (!packet) throw TransportError("the gateway did not acknowledge the publish in time");
    auto* ack = std::get_if<mqtt::PubResponse>(&*packet);
    if (!ack) continue;
    if (ack->type == mqtt::PacketType::puback) return;
    if (ack->type == mqtt::PacketType::pubrec) {
      c.send(mqtt::PubResponse{mqtt::PacketType::pubrel, ack->packet_id, 0, {}});
    } else if (ack->type == mqtt::PacketType::pubcomp) {
      return;
    }
  }
}

std::size_t quick_subscribe(const MqttLogin& login, const std::string& filter, std::uint8_t qos, std::size_t count,
                            std::chrono::milliseconds wait, bool with_topic, std::ostream& out) {
  QuickConnection c(login);
  mqtt::Subscribe s;
  s.packet_id = 1;
  s.subscriptions.push_back(mqtt::SubscriptionRequest{filter, qos, false, false, 0});
  c.send(s);
  std::size_t printed = 0;
  // Acknowledges and prints a message; false for any other packet.
  auto take = [&](const mqtt::Packet& packet) {
    if (auto* rel = std::get_if<mqtt::PubResponse>(&packet); rel && rel->type == mqtt::PacketType::pubrel)
      c.send(mqtt::PubResponse{mqtt::PacketType::pubcomp, rel->packet_id, 0, {}});
    auto* p = std::get_if<mqtt::Publish>(&packet);
    if (!p) return false;
    if (p->qos == 1) c.send(mqtt::PubResponse{mqtt::PacketType::puback, p->packet_id, 0, {}});
    if (p->qos == 2) c.send(mqtt::PubResponse{mqtt::PacketType::pubrec, p->packet_id, 0, {}});
    if (count == 0 || printed < count) {
      if (with_topic) out << p->topic << ' ';
      out << p->payload << '\n';
      out.flush();
      ++printed;
    }
    return true;
  };
  // Messages may come before the SUBACK (MQTT 3.1.1 §3.8.4): they are taken on the way.
  const auto suback_deadline = Clock::now() + login.timeout;
  for (;;) {
    auto packet = c.receive(suback_deadline);
    if (!packet) throw TransportError("no SUBACK from the gateway in time");
    if (auto* ack = std::get_if<mqtt::Suback>(&*packet)) {
      if (ack->reason_codes.empty() || ack->reason_codes[0] >= 0x80)
        throw std::runtime_error("the gateway refused the subscription to '" + filter + "' (ACL or limits)");
      break;
    }
    take(*packet);
  }
  while (count == 0 || printed < count) {
    auto deadline = wait.count() > 0 ? Clock::now() + wait : Clock::time_point::max();
    auto next = c.receive(deadline);
    if (!next) break;
    take(*next);
  }
  return printed;
}

}  // namespace tidegate::ctl
