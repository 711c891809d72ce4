// The result of one run and its two renderings: an aligned text report, or
// one JSON object (--json). Pure; no I/O besides the given stream.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tools/bench/options.hpp"

namespace tidegate::bench {

struct LatencySummary {
  double p50_us = 0, p99_us = 0, p999_us = 0, max_us = 0, mean_us = 0;
  uint64_t samples = 0;
};

struct Report {
  Options options;
  std::string topic_prefix;
  bool measured = false;  // the measured phase ran (false: failed before it)

  // Message scenarios (all but conn-ramp).
  double publish_seconds = 0;       // time publishers were allowed to publish
  uint64_t sent = 0;                // PUBLISH written by publishers
  uint64_t accepted = 0;            // QoS 0: written; QoS 1/2: acknowledged
  uint64_t rejected = 0;            // acknowledged with a failure reason code (v5)
  uint64_t delivered = 0;           // received by subscribers (first copies)
  uint64_t expected = 0;            // accepted x receivers per message
  uint64_t duplicates = 0;          // received again with DUP
  double accepted_per_s = 0;
  double delivered_per_s = 0;
  std::optional<LatencySummary> latency;

  // retained
  std::optional<double> retained_publish_s;  // all retained messages accepted
  std::optional<double> retained_receive_s;  // SUBSCRIBE to the last retained message received

  // conn-ramp
  std::optional<uint64_t> connections_ok, connections_failed;
  std::optional<double> connect_seconds, connect_per_s, rss_per_connection_kb, anon_per_connection_kb;

  // Broker (with --broker-pid) and the generator itself.
  // RSS counts file-backed pages too (an mmap'ed store such as LMDB); anon is heap and stacks.
  std::optional<double> broker_rss_start_mb, broker_rss_mb, broker_rss_anon_mb, broker_rss_peak_mb, broker_cpu_pct;
  double bench_cpu_pct = 0;
  double bench_rss_mb = 0;

  uint64_t errors = 0;
  std::vector<std::string> error_messages;
  int exit_code = 0;
  std::string fatal;  // why the run could not be completed
};

void print_text(const Report& report, std::ostream& out);
void print_json(const Report& report, std::ostream& out);

}  // namespace tidegate::bench
