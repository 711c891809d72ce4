#pragma once
// Publishes a message the gateway makes itself (a republish, a dead letter)
// and resumes the calling coroutine on its own io_context once the store has
// committed it (or refused it). Events thread.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <system_error>

#include "gateway/pipeline/ingest.hpp"

namespace tidegate::events {

inline boost::asio::awaitable<std::error_code> publish_and_wait(boost::asio::io_context& io, Ingest& ingest,
                                                               std::shared_ptr<store::Message> message) {
  struct Wait {
    explicit Wait(boost::asio::io_context& io) : timer(io) {}
    boost::asio::steady_timer timer;
    std::error_code ec;
    bool done = false;
  };
  auto wait = std::make_shared<Wait>(io);
  // The completion runs on the ingest thread: it only posts back here.
  ingest.publish(std::move(message), std::nullopt, [wait, &io](std::error_code ec, std::uint64_t, std::size_t) {
    boost::asio::post(io, [wait, ec] {
      wait->ec = ec;
      wait->done = true;
      wait->timer.cancel();
    });
  });
  while (!wait->done) {
    wait->timer.expires_at(boost::asio::steady_timer::time_point::max());
    co_await wait->timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  }
  co_return wait->ec;
}

}  // namespace tidegate::events
