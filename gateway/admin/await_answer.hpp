#pragma once
// Awaits, on the admin listener's thread, a value another thread produces
// (a worker's view of a session, the ingest thread's commit); nullopt after
// five seconds. Main thread.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <memory>
#include <optional>

namespace tidegate::admin {

// Callers pass a named std::function: GCC 12 mishandles temporaries that live
// across a co_await (a lambda converted in the co_await expression was freed twice).
template <typename T>
boost::asio::awaitable<std::optional<T>> await_answer(boost::asio::io_context& io,
                                                      std::function<void(std::function<void(T)>)> start) {
  struct State {
    explicit State(boost::asio::io_context& io) : timer(io, std::chrono::seconds(5)) {}
    std::optional<T> value;
    boost::asio::steady_timer timer;
  };
  auto state = std::make_shared<State>(io);
  start([state, &io](T value) {
    boost::asio::post(io, [state, value = std::move(value)]() mutable {
      state->value = std::move(value);
      state->timer.cancel();
    });
  });
  co_await state->timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  co_return std::move(state->value);
}

}  // namespace tidegate::admin
