#include "tools/bench/rss.hpp"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

namespace tidegate::bench {

namespace {

std::string proc_path(int pid, const char* file) {
  return "/proc/" + (pid == 0 ? std::string("self") : std::to_string(pid)) + "/" + file;
}

// "VmRSS:	  12345 kB" -> 12345
bool read_status_kb(const std::string& line, const char* key, uint64_t& out) {
  const std::string k = std::string(key) + ":";
  if (line.compare(0, k.size(), k) != 0) return false;
  std::istringstream in(line.substr(k.size()));
  in >> out;
  return true;
}

}  // namespace

std::optional<ProcessSample> sample_process(int pid, std::string* why) {
  ProcessSample s;
  s.at_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                std::chrono::steady_clock::now().time_since_epoch())
                .count();

  std::ifstream status(proc_path(pid, "status"));
  if (!status) {
    if (why) *why = "cannot read " + proc_path(pid, "status");
    return std::nullopt;
  }
  bool have_rss = false;
  for (std::string line; std::getline(status, line);) {
    if (read_status_kb(line, "VmRSS", s.rss_kb)) have_rss = true;
    read_status_kb(line, "VmHWM", s.hwm_kb);
    read_status_kb(line, "RssAnon", s.anon_kb);
  }
  if (!have_rss) {  // a zombie has no VmRSS line
    if (why) *why = "no VmRSS in " + proc_path(pid, "status");
    return std::nullopt;
  }

  std::ifstream stat(proc_path(pid, "stat"));
  std::string text;
  if (!stat || !std::getline(stat, text)) {
    if (why) *why = "cannot read " + proc_path(pid, "stat");
    return std::nullopt;
  }
  // The command name is in parentheses and may hold spaces: fields are
  // counted from the last ')'. Field 3 (state) comes first; utime and stime
  // are fields 14 and 15 (proc(5)).
  const auto close = text.rfind(')');
  if (close == std::string::npos) {
    if (why) *why = "unexpected format of " + proc_path(pid, "stat");
    return std::nullopt;
  }
  std::istringstream fields(text.substr(close + 1));
  std::string field;
  uint64_t utime = 0, stime = 0;
  for (int n = 3; n <= 15 && fields >> field; ++n) {
    if (n == 14) utime = std::stoull(field);
    if (n == 15) stime = std::stoull(field);
  }
  s.cpu_ticks = utime + stime;
  return s;
}

double cpu_percent(const ProcessSample& before, const ProcessSample& after) {
  const double wall_s = static_cast<double>(after.at_ns - before.at_ns) / 1e9;
  if (wall_s <= 0) return 0.0;
  static const long ticks_per_s = sysconf(_SC_CLK_TCK);
  const double cpu_s = static_cast<double>(after.cpu_ticks - before.cpu_ticks) / static_cast<double>(ticks_per_s);
  return 100.0 * cpu_s / wall_s;
}

}  // namespace tidegate::bench
