#include "gateway/ops/log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>

#include "gateway/ops/log_escape.hpp"

namespace tidegate::log {
namespace {

std::atomic<Level> g_level{Level::info};

// The destination, changed under g_lock: every line is formatted outside it
// and written under it, so a swap never happens in the middle of a line.
std::mutex g_lock;
std::atomic<Format> g_format{Format::text};  // also read without the lock, to format the line
std::string g_path;  // empty: stderr
int g_fd = STDERR_FILENO;

const char* name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "?";
}

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm;
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[40];
  std::snprintf(out, sizeof out, "%s.%03dZ", stamp, int(ms));
  return out;
}

void write_all(int fd, const std::string& line) {
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a full disk or a closed stderr: the line is lost, the gateway goes on
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace

void set_level(Level level) { g_level = level; }

Level level_from_name(std::string_view name) {
  if (name == "debug") return Level::debug;
  if (name == "warn") return Level::warn;
  if (name == "error") return Level::error;
  return Level::info;
}

Format format_from_name(std::string_view name) { return name == "json" ? Format::json : Format::text; }

bool enabled(Level level) { return level >= g_level.load(std::memory_order_relaxed); }

namespace {

// A field's value in a text line: bare when it is one plain word.
void append_text_value(std::string& out, const Field::Value& value) {
  if (auto* text = std::get_if<std::string_view>(&value)) {
    bool plain = !text->empty() && text->find_first_of(" \"=\\") == std::string_view::npos;
    if (plain) {
      out += *text;
      return;
    }
    out += '"';
    for (char c : *text) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  } else if (auto* number = std::get_if<std::int64_t>(&value)) {
    out += std::to_string(*number);
  } else if (auto* flag = std::get_if<bool>(&value)) {
    out += *flag ? "true" : "false";
  } else if (auto* real = std::get_if<double>(&value)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", *real);
    out += buf;
  }
}

nlohmann::ordered_json json_value(const Field::Value& value) {
  if (auto* text = std::get_if<std::string_view>(&value)) return std::string(*text);
  if (auto* number = std::get_if<std::int64_t>(&value)) return *number;
  if (auto* flag = std::get_if<bool>(&value)) return *flag;
  if (auto* real = std::get_if<double>(&value)) return *real;
  return nullptr;
}

// Formats (per the current format) and writes one line.
template <typename MakeLine>
void emit(MakeLine&& make_line) {
  for (;;) {
    Format format = g_format.load(std::memory_order_relaxed);
    std::string line = make_line(format);
    line += '\n';
    std::lock_guard guard(g_lock);
    // A reload switched the format while this line was made: make it again,
    // so that a JSON log never holds a text line.
    if (g_format.load(std::memory_order_relaxed) != format) continue;
    write_all(g_fd, line);
    return;
  }
}

}  // namespace

void write(Level level, std::string_view message) {
  if (!enabled(level)) return;
  std::string stamp = timestamp();
  emit([&](Format format) {
    if (format == Format::json) {
      // Messages quote client ids and topics; bytes that are not UTF-8 become U+FFFD.
      nlohmann::ordered_json j = {{"time", stamp}, {"level", name(level)}, {"message", message}};
      return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    // One call, one line: what a client sent cannot start a line of its own.
    return stamp + " " + name(level) + " " + escape_for_text_line(message);
  });
}

void event(Level level, std::string_view event_name, std::string_view message, std::initializer_list<Field> fields) {
  if (!enabled(level)) return;
  std::string stamp = timestamp();
  emit([&](Format format) {
    if (format == Format::json) {
      nlohmann::ordered_json j = {
          {"time", stamp}, {"level", name(level)}, {"event", event_name}, {"message", message}};
      for (const auto& field : fields) j[std::string(field.key)] = json_value(field.value);
      return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    std::string text(message);
    for (const auto& field : fields) {
      if (std::holds_alternative<std::monostate>(field.value)) continue;
      text += ' ';
      text += field.key;
      text += '=';
      append_text_value(text, field.value);
    }
    return stamp + " " + name(level) + " " + escape_for_text_line(text);
  });
}

std::string set_output(Format format, const std::string& path) {
  int fd = STDERR_FILENO;
  if (!path.empty()) {
    fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) return "cannot open " + path + ": " + std::strerror(errno);
  }
  int old;
  {
    std::lock_guard guard(g_lock);
    old = g_fd;
    g_fd = fd;
    g_format = format;
    g_path = path;
  }
  if (old != STDERR_FILENO) ::close(old);
  return {};
}

std::string reopen() {
  Format format;
  std::string path;
  {
    std::lock_guard guard(g_lock);
    format = g_format;
    path = g_path;
  }
  return set_output(format, path);
}

}  // namespace tidegate::log
