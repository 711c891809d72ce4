// Memory and CPU use of a process (the broker under test, or the bench
// itself), read from /proc. Linux only; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace tidegate::bench {

struct ProcessSample {
  uint64_t rss_kb = 0;      // VmRSS of /proc/PID/status
  uint64_t hwm_kb = 0;      // VmHWM: peak RSS since the process started
  uint64_t anon_kb = 0;     // RssAnon: heap, stacks (RSS minus file-backed pages such as an mmap'ed store)
  uint64_t cpu_ticks = 0;   // utime + stime of /proc/PID/stat, in clock ticks
  int64_t at_ns = 0;        // steady clock when sampled
};

// pid 0 samples the calling process. nullopt when the process does not exist
// or /proc cannot be read (the reason goes to *why when given).
std::optional<ProcessSample> sample_process(int pid, std::string* why = nullptr);

// CPU use between two samples of one process, in percent of one core.
double cpu_percent(const ProcessSample& before, const ProcessSample& after);

}  // namespace tidegate::bench
