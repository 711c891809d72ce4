#pragma once
// What the kernel says about this process, for the standard process_* series
// on /metrics (the names the Prometheus client libraries use). Read from
// /proc/self on each scrape; any thread.
#include <cstdint>

namespace tidegate::ops {

struct ProcessStats {
  double cpu_seconds = 0;             // user + system
  std::uint64_t resident_bytes = 0;
  std::uint64_t virtual_bytes = 0;
  std::uint64_t open_fds = 0;
  std::uint64_t max_fds = 0;          // RLIMIT_NOFILE's soft limit
  double start_time_seconds = 0;      // since the Unix epoch
};

// Fields that cannot be read stay 0 (a /proc without them).
ProcessStats read_process_stats();

}  // namespace tidegate::ops
