#pragma once
// What the admin API and /metrics show of one bridge (BridgeLink::status()).
#include <cstdint>
#include <string>

namespace tidegate {

struct BridgeStatus {
  std::string name;
  std::string address;
  bool connected = false;
  std::int64_t since_ms = 0;  // connected since, or disconnected since
  std::string last_error;         // since the link was last up (empty while it is up)
  std::int64_t last_error_ms = 0;  // when, wall clock
  std::uint64_t connects = 0;       // CONNACKs accepted
  std::uint64_t connect_failures = 0;
  std::uint64_t messages_out = 0;   // acknowledged by the remote broker (QoS 0: sent)
  std::uint64_t messages_in = 0;    // received from the remote broker
  std::size_t backlog = 0;          // stored messages not yet acknowledged upstream (see BridgeLink::backlog)
};

}  // namespace tidegate
