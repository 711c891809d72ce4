#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "gateway/net/transport.hpp"

namespace tidegate {
namespace {

namespace asio = boost::asio;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

class TcpTransport final : public Transport {
 public:
  explicit TcpTransport(asio::ip::tcp::socket s) : socket_(std::move(s)) {}
  asio::awaitable<error_code> handshake() override { co_return error_code{}; }
  asio::awaitable<std::tuple<error_code, std::size_t>> read_some(asio::mutable_buffer b) override {
    co_return co_await socket_.async_read_some(b, use_nothrow);
  }
  bool waits_for_readability() const override { return true; }
  asio::awaitable<std::tuple<error_code, std::size_t>> write(asio::const_buffer b) override {
    co_return co_await asio::async_write(socket_, b, use_nothrow);
  }
  void close() override {
    error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }
  asio::ip::tcp::socket& socket() override { return socket_; }

 private:
  asio::ip::tcp::socket socket_;
};

}  // namespace

std::unique_ptr<Transport> make_tcp_transport(asio::ip::tcp::socket socket) {
  return std::make_unique<TcpTransport>(std::move(socket));
}

}  // namespace tidegate
