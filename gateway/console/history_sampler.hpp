#pragma once
// Takes the console's history sample once a second (main thread timer) from
// the same numbers /api/v1/stats shows, and wakes the live feeds waiting for
// it (GET /api/v1/live). Cost: one store usage read and a few atomic loads a
// second.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>

#include "gateway/broker_context.hpp"
#include "gateway/console/history.hpp"
#include "storeclient/lmdb_store.hpp"

namespace tidegate::console {

class HistorySampler {
 public:
  HistorySampler(boost::asio::io_context& main_io, BrokerContext& broker, const store::LmdbStore& store,
                 std::size_t capacity);
  void start();
  // Ends the timer and every wait in next_sample().
  void stop();
  const History& history() const { return history_; }
  // Completes when the next sample is in the ring; false once stopped.
  boost::asio::awaitable<bool> next_sample();

 private:
  void schedule();
  void take_sample();

  boost::asio::io_context& io_;
  BrokerContext& broker_;
  const store::LmdbStore& store_;
  History history_;
  boost::asio::steady_timer tick_;
  boost::asio::steady_timer sampled_;  // never expires: cancel() wakes its waiters
  bool stopped_ = false;
  // The counters at the previous sample, for the rates.
  struct Counters {
    std::uint64_t messages_in = 0, messages_out = 0, bytes_in = 0, bytes_out = 0, drops = 0;
    std::chrono::steady_clock::time_point at{};
  } previous_;
};

}  // namespace tidegate::console
