#include "tools/bench/options.hpp"

#include <charconv>
#include <fstream>
#include <cmath>
#include <string_view>

namespace tidegate::bench {

const char* to_string(Scenario s) {
  switch (s) {
    case Scenario::fan_out: return "fan-out";
    case Scenario::fan_in: return "fan-in";
    case Scenario::p2p: return "p2p";
    case Scenario::shared: return "shared";
    case Scenario::retained: return "retained";
    case Scenario::conn_ramp: return "conn-ramp";
  }
  return "?";
}

const char* usage() {
  return R"(usage: tidegate-bench SCENARIO [options]

Scenarios (P = --publishers, S = --subscribers):
  fan-out    P publishers (default 1) -> S subscribers (default 10), all on one topic
  fan-in     P publishers (default 10), each on its own topic -> S subscribers (default 1)
             subscribed to PREFIX/in/+
  p2p        P pairs (default 10), each publisher/subscriber pair on its own topic
  shared     P publishers (default 1) -> S members (default 4) of $share/g/TOPIC
  retained   P publishers (default 1) publish --topics retained topics, then S subscribers
             (default 10) subscribe to PREFIX/r/# and receive them all; the retained
             topics are cleared afterwards
  conn-ramp  open --connections idle connections (default 1000), spread over source
             addresses 127.0.0.1..127.0.0.K (1000 per address) on loopback; hold them
             until --duration has passed; report connect rate and broker RSS per connection

Options:
  --host ADDR          broker address (default 127.0.0.1)
  --port N             broker port (default 1883)
  --subscriber-port N  subscribers connect to this port instead (a second gateway
                       of a cluster: publishers on one, subscribers on the other)
  --qos 0|1|2          publish and subscribe QoS (default 0)
  --payload BYTES      payload size, >= 16: send timestamp + sequence (default 64)
  --duration SECONDS   publishing time, or the conn-ramp hold time (default 5)
  --publishers N       see above
  --subscribers N      see above
  --rate MSGS_PER_S    total publish rate over all publishers; 0 = as fast as the
                       window allows (default 0)
  --inflight N         per publisher: QoS 1/2 messages awaiting their ack, or QoS 0
                       messages not yet written to the socket (default 16)
  --protocol 4|5       MQTT 3.1.1 or 5.0 (default 4)
  --broker-pid PID     sample the broker's RSS and CPU from /proc/PID
  --threads N          io threads of the generator (default 1)
  --topics N           retained: number of retained topics (default 1000)
  --connections N      conn-ramp: number of connections (default 1000)
  --connect-concurrency N  connects in flight at once (default 256)
  --topic-prefix P     topic prefix (default tgb/<pid>-<random>)
  --tls                MQTT over TLS (--port is the broker's mqtts listener)
  --ca FILE            with --tls: verify the broker's certificate against FILE
                       (without it the certificate is not checked)
  --nagle              leave Nagle's algorithm on in the generator's sockets
                       (default: TCP_NODELAY, as the broker sets it)
  --json               print one JSON object instead of the text report
Exit status: 0 after a complete run, 1 when the broker cannot be reached or a
connection or subscription is refused, 2 on a usage error.
)";
}

namespace {

template <typename T>
T parse_number(std::string_view name, std::string_view text, T lo, T hi) {
  T value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end)
    throw UsageError(std::string(name) + ": not a number: '" + std::string(text) + "'");
  if (value < lo || value > hi)
    throw UsageError(std::string(name) + ": must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return value;
}

double parse_double(std::string_view name, const std::string& text, double lo, double hi) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty() || !std::isfinite(value))
    throw UsageError(std::string(name) + ": not a number: '" + text + "'");
  if (value < lo || value > hi)
    throw UsageError(std::string(name) + ": must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return value;
}

Scenario parse_scenario(std::string_view s) {
  if (s == "fan-out") return Scenario::fan_out;
  if (s == "fan-in") return Scenario::fan_in;
  if (s == "p2p") return Scenario::p2p;
  if (s == "shared") return Scenario::shared;
  if (s == "retained") return Scenario::retained;
  if (s == "conn-ramp") return Scenario::conn_ramp;
  throw UsageError("unknown scenario '" + std::string(s) +
                   "' (fan-out, fan-in, p2p, shared, retained, conn-ramp)");
}

// One option that takes a value (false: no such option).
bool apply_valued_option(const std::string& arg, const std::string& value, Options& o) {
  if (arg == "--host") {
    if (value.empty()) throw UsageError("--host: must not be empty");
    o.host = value;
  } else if (arg == "--port") {
    o.port = parse_number<uint16_t>(arg, value, 1, 65535);
  } else if (arg == "--subscriber-port") {
    o.subscriber_port = parse_number<uint16_t>(arg, value, 1, 65535);
  } else if (arg == "--ca") {
    if (value.empty() || !std::ifstream(value)) throw UsageError("--ca: cannot read '" + value + "'");
    o.ca_file = value;
  } else if (arg == "--qos") {
    o.qos = parse_number<uint8_t>(arg, value, 0, 2);
  } else if (arg == "--payload") {
    o.payload = parse_number<std::size_t>(arg, value, 16, 256u << 20);
  } else if (arg == "--duration") {
    o.duration_s = parse_double(arg, value, 0.1, 86400);
  } else if (arg == "--publishers") {
    o.publishers = parse_number<unsigned>(arg, value, 1, 100000);
  } else if (arg == "--subscribers") {
    o.subscribers = parse_number<unsigned>(arg, value, 1, 100000);
  } else if (arg == "--rate") {
    o.rate = parse_double(arg, value, 0, 1e9);
  } else if (arg == "--inflight") {
    o.inflight = parse_number<unsigned>(arg, value, 1, 65535);
  } else if (arg == "--protocol") {
    const auto v = parse_number<unsigned>(arg, value, 4, 5);
    o.protocol = v == 5 ? mqtt::ProtocolVersion::v5 : mqtt::ProtocolVersion::v311;
  } else if (arg == "--broker-pid") {
    o.broker_pid = parse_number<int>(arg, value, 1, 1 << 30);
  } else if (arg == "--threads") {
    o.threads = parse_number<unsigned>(arg, value, 1, 64);
  } else if (arg == "--topics") {
    o.topics = parse_number<unsigned>(arg, value, 1, 1000000);
  } else if (arg == "--connections") {
    o.connections = parse_number<unsigned>(arg, value, 1, 1000000);
  } else if (arg == "--connect-concurrency") {
    o.connect_concurrency = parse_number<unsigned>(arg, value, 1, 100000);
  } else if (arg == "--topic-prefix") {
    if (value.empty() || value.find_first_of("+#") != std::string::npos)
      throw UsageError("--topic-prefix: must be a non-empty topic name without wildcards");
    o.topic_prefix = value;
  } else {
    return false;
  }
  return true;
}

// What a scenario uses when --publishers or --subscribers is left out.
void apply_scenario_defaults(Options& o) {
  const bool one_shape = o.scenario == Scenario::fan_out || o.scenario == Scenario::shared ||
                         o.scenario == Scenario::retained;
  if (o.publishers == 0) o.publishers = one_shape ? 1 : 10;
  if (o.subscribers == 0) {
    switch (o.scenario) {
      case Scenario::fan_in: o.subscribers = 1; break;
      case Scenario::p2p: o.subscribers = o.publishers; break;
      case Scenario::shared: o.subscribers = 4; break;
      default: o.subscribers = 10; break;
    }
  }
  if (o.scenario == Scenario::p2p && o.subscribers != o.publishers)
    throw UsageError("p2p: --subscribers must equal --publishers (one subscriber per pair)");
}

}  // namespace

Options parse_options(int argc, char** argv) {
  Options o;
  bool have_scenario = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") throw UsageError("");
    if (arg.rfind("--", 0) != 0) {
      if (have_scenario) throw UsageError("unexpected argument '" + arg + "'");
      o.scenario = parse_scenario(arg);
      have_scenario = true;
      continue;
    }
    if (arg == "--tls" || arg == "--nagle" || arg == "--json") {
      (arg == "--tls" ? o.tls : arg == "--nagle" ? o.nagle : o.json) = true;
      continue;
    }
    std::string value;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    } else {
      if (i + 1 >= argc) throw UsageError(arg + ": needs a value");
      value = argv[++i];
    }
    if (!apply_valued_option(arg, value, o)) throw UsageError("unknown option '" + arg + "'");
  }
  if (!have_scenario) throw UsageError("missing SCENARIO");
  apply_scenario_defaults(o);
  return o;
}

}  // namespace tidegate::bench
