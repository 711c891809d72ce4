#pragma once
// Requests between the gateways' lookups, over TCP with Asio (docs/cluster.md,
// "The lookup").
// A frame is a u32 big-endian length and a JSON object; a connection carries
// one request and its answer at a time.
//
// The RPC has no authentication: bind it to the cluster's private network
// (docs/cluster.md).
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>

namespace tidegate::lookup {

inline constexpr std::uint32_t kMaxFrameBytes = 16u << 20;  // a bigger frame closes the connection

class RpcServer {
 public:
  // Runs on the server's thread; must not block on other gateways.
  using Handler = std::function<nlohmann::json(const nlohmann::json& request)>;
  // Binds at once (port 0: any free port); throws std::runtime_error naming
  // the address when it cannot.
  RpcServer(const std::string& bind, std::uint16_t port, Handler handler);
  ~RpcServer();
  std::uint16_t port() const { return port_; }
  void start();
  void stop();

 private:
  void accept();
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  Handler handler_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

// One request, blocking the calling thread for at most `timeout` (connect,
// send and answer together). nullopt with `error` set on any failure.
std::optional<nlohmann::json> rpc_call(const std::string& host, std::uint16_t port, const nlohmann::json& request,
                                       std::chrono::milliseconds timeout, std::string& error);

}  // namespace tidegate::lookup
