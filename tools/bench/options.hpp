// The command line of tidegate-bench. Pure parsing.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "gateway/codec/reason_code.hpp"

namespace tidegate::bench {

enum class Scenario { fan_out, fan_in, p2p, shared, retained, conn_ramp };

const char* to_string(Scenario s);

struct Options {
  Scenario scenario = Scenario::fan_out;
  std::string host = "127.0.0.1";
  uint16_t port = 1883;
  // Subscribers connect to this port of the same host (0: --port): cluster
  // mode, publishers on one gateway and subscribers on another.
  uint16_t subscriber_port = 0;
  uint8_t qos = 0;
  std::size_t payload = 64;     // bytes; >= 16 (timestamp + sequence)
  double duration_s = 5.0;
  unsigned publishers = 0;      // 0: the scenario's default
  unsigned subscribers = 0;     // 0: the scenario's default
  double rate = 0;              // total msgs/s over all publishers; 0: as fast as the window allows
  unsigned inflight = 16;       // QoS 1/2: unacknowledged per publisher; QoS 0: unwritten per publisher
  mqtt::ProtocolVersion protocol = mqtt::ProtocolVersion::v311;
  int broker_pid = 0;           // 0: no broker sampling
  unsigned threads = 1;         // io threads
  bool json = false;
  bool tls = false;             // MQTT over TLS to --port (an mqtts listener)
  std::string ca_file;          // --tls: verify the broker's certificate with this CA (empty: no check)
  bool nagle = false;           // leave Nagle's algorithm on in the generator's sockets
  unsigned topics = 1000;       // retained: retained topics
  unsigned connections = 1000;  // conn-ramp: idle connections
  unsigned connect_concurrency = 256;  // connects in flight at once, over all threads
  std::string topic_prefix;     // empty: "tgb/<pid>-<random>"
};

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws UsageError with a message naming the option.
Options parse_options(int argc, char** argv);
const char* usage();

}  // namespace tidegate::bench
