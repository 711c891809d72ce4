#pragma once
// $SYS/broker/... topics (docs/operations.md): the gateway's own figures, published
// as retained QoS 0 messages every sys_interval seconds from the main thread.
// Load figures are per-minute rates smoothed over 1, 5 and 15 minutes, as
// mosquitto's $SYS/broker/load/... are.
#include <array>
#include <chrono>
#include <cstdint>

#include "gateway/broker_context.hpp"

namespace tidegate {

class SysTopics {
 public:
  SysTopics(BrokerContext& broker, unsigned interval_seconds);
  // Main thread, every interval.
  void publish();

 private:
  struct Load {
    std::array<double, 3> rate{};  // per minute, smoothed over 1, 5, 15 minutes
    std::uint64_t last = 0;
  };
  void update(Load& load, std::uint64_t total, double seconds);
  void put(const std::string& topic, const std::string& value);

  BrokerContext& broker_;
  unsigned interval_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_ = started_;
  Load received_, sent_, bytes_received_, bytes_sent_;
};

}  // namespace tidegate
