#include "lookup/peer_rpc.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <memory>
#include <stdexcept>

namespace tidegate::lookup {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

std::string frame(const nlohmann::json& body) {
  std::string text = body.dump();
  std::string out(4, '\0');
  auto n = static_cast<std::uint32_t>(text.size());
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((n >> (24 - 8 * i)) & 0xFF);
  return out + text;
}

std::uint32_t frame_length(const std::array<unsigned char, 4>& header) {
  return (std::uint32_t(header[0]) << 24) | (std::uint32_t(header[1]) << 16) | (std::uint32_t(header[2]) << 8) |
         header[3];
}

// One accepted connection: read a request, answer it, again, until the peer
// closes or sends something that is not a frame.
class ServerSession : public std::enable_shared_from_this<ServerSession> {
 public:
  ServerSession(tcp::socket socket, const RpcServer::Handler& handler)
      : socket_(std::move(socket)), handler_(handler) {}
  void read_header() {
    asio::async_read(socket_, asio::buffer(header_),
                     [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                       if (ec) return;
                       auto n = frame_length(self->header_);
                       if (n > kMaxFrameBytes) return;
                       self->body_.resize(n);
                       self->read_body();
                     });
  }

 private:
  void read_body() {
    asio::async_read(socket_, asio::buffer(body_), [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
      if (ec) return;
      nlohmann::json answer;
      try {
        answer = self->handler_(nlohmann::json::parse(self->body_));
      } catch (const std::exception& e) {
        answer = {{"ok", false}, {"reason", std::string("bad request: ") + e.what()}};
      }
      self->out_ = frame(answer);
      asio::async_write(self->socket_, asio::buffer(self->out_), [self](boost::system::error_code ec, std::size_t) {
        if (!ec) self->read_header();
      });
    });
  }
  tcp::socket socket_;
  const RpcServer::Handler& handler_;
  std::array<unsigned char, 4> header_{};
  std::string body_, out_;
};

}  // namespace

RpcServer::RpcServer(const std::string& bind, std::uint16_t port, Handler handler)
    : acceptor_(io_), handler_(std::move(handler)) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(bind, ec);
  if (ec) throw std::runtime_error("lookup: '" + bind + "' is not an IP address");
  tcp::endpoint endpoint(address, port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("lookup: cannot listen on " + bind + ":" + std::to_string(port) + ": " + ec.message());
  port_ = acceptor_.local_endpoint().port();
}

RpcServer::~RpcServer() { stop(); }

void RpcServer::start() {
  accept();
  thread_ = std::thread([this] { io_.run(); });
}

void RpcServer::stop() {
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

void RpcServer::accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      socket.set_option(tcp::no_delay(true), ec);
      std::make_shared<ServerSession>(std::move(socket), handler_)->read_header();
    }
    accept();
  });
}

std::optional<nlohmann::json> rpc_call(const std::string& host, std::uint16_t port, const nlohmann::json& request,
                                       std::chrono::milliseconds timeout, std::string& error) {
  asio::io_context io;
  tcp::socket socket(io);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) {
    error = "'" + host + "' is not an IP address";
    return std::nullopt;
  }
  const std::string out = frame(request);
  std::array<unsigned char, 4> header{};
  std::string body;
  std::optional<nlohmann::json> answer;
  // connect -> write -> read header -> read body, all within io.run_for().
  socket.async_connect(tcp::endpoint(address, port), [&](boost::system::error_code ec) {
    if (ec) return void(error = "connect: " + ec.message());
    socket.set_option(tcp::no_delay(true), ec);
    asio::async_write(socket, asio::buffer(out), [&](boost::system::error_code ec, std::size_t) {
      if (ec) return void(error = "send: " + ec.message());
      asio::async_read(socket, asio::buffer(header), [&](boost::system::error_code ec, std::size_t) {
        if (ec) return void(error = "answer: " + ec.message());
        auto n = frame_length(header);
        if (n > kMaxFrameBytes) return void(error = "answer too large");
        body.resize(n);
        asio::async_read(socket, asio::buffer(body), [&](boost::system::error_code ec, std::size_t) {
          if (ec) return void(error = "answer: " + ec.message());
          try {
            answer = nlohmann::json::parse(body);
          } catch (const std::exception& e) {
            error = std::string("answer is not JSON: ") + e.what();
          }
        });
      });
    });
  });
  io.run_for(timeout);
  if (!answer && error.empty()) error = "no answer within " + std::to_string(timeout.count()) + " ms";
  return answer;
}

}  // namespace tidegate::lookup
