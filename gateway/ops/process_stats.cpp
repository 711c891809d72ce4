#include "gateway/ops/process_stats.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace tidegate::ops {
namespace {

// Boot time in seconds since the epoch (/proc/stat's btime).
double boot_time() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime") {
      in >> value;
      return value;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

std::uint64_t count_open_fds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return 0;
  std::uint64_t n = 0;
  while (auto* entry = ::readdir(dir))
    if (entry->d_name[0] != '.') ++n;
  ::closedir(dir);
  return n > 0 ? n - 1 : 0;  // not the descriptor opendir itself holds
}

}  // namespace

ProcessStats read_process_stats() {
  ProcessStats s;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  std::ifstream stat_file("/proc/self/stat");
  std::string line;
  if (std::getline(stat_file, line)) {
    // The command name (field 2) may hold spaces: the fields after it start past its ')'.
    auto close = line.rfind(')');
    if (close != std::string::npos) {
      std::istringstream fields(line.substr(close + 2));
      std::string field;
      // Field 3 is the state; utime is 14, stime 15, starttime 22, vsize 23, rss 24.
      std::uint64_t utime = 0, stime = 0, start = 0, vsize = 0, rss = 0;
      for (int number = 3; fields >> field && number <= 24; ++number) {
        if (number == 14) utime = std::stoull(field);
        if (number == 15) stime = std::stoull(field);
        if (number == 22) start = std::stoull(field);
        if (number == 23) vsize = std::stoull(field);
        if (number == 24) rss = std::stoull(field);
      }
      if (ticks > 0) {
        s.cpu_seconds = static_cast<double>(utime + stime) / ticks;
        s.start_time_seconds = boot_time() + static_cast<double>(start) / ticks;
      }
      s.virtual_bytes = vsize;
      s.resident_bytes = rss * page;
    }
  }
  s.open_fds = count_open_fds();
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) s.max_fds = limit.rlim_cur;
  return s;
}

}  // namespace tidegate::ops
