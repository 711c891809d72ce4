#pragma once
// Leveled logging, one line per event, safe from any thread: to stderr, or to
// a file (config's log_file), as text or as one JSON object per line
// (config's log_format). A line is written with one write(2) under a lock, so
// lines from different threads never interleave; the destination may be
// replaced (reload, log rotation) while other threads log.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace tidegate::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };
enum class Format { text, json };

void set_level(Level level);
// "debug", "info", "warn", "error" (config's log_level, already validated).
Level level_from_name(std::string_view name);
// "text", "json" (config's log_format, already validated).
Format format_from_name(std::string_view name);
bool enabled(Level level);
void write(Level level, std::string_view message);

// Where lines go from now on: `path` opened for appending (created if
// missing), or stderr when `path` is empty. The path is opened anew even when
// it is the current one, so a log file renamed by logrotate is replaced by a
// new file at the path (SIGHUP). On failure nothing changes and the reason is
// returned ("cannot open PATH: REASON"); empty on success. Any thread.
std::string set_output(Format format, const std::string& path);
// Opens the current path anew (as set_output with the current settings).
std::string reopen();

// An event with fields an operator filters on (docs/operations.md, "Log
// events"). Text: the message, then each field as key=value (a value with a
// space, quote or '=' in double quotes; an absent value is left out). JSON:
// `event` and `message`, then the fields as keys (absent ones as null).
struct Field {
  using Value = std::variant<std::monostate, std::string_view, std::int64_t, bool, double>;
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, const std::optional<std::string>& v)
      : key(k), value(v ? Value(std::string_view(*v)) : Value()) {}
  Field(std::string_view k, Value v) : key(k), value(v) {}
  Field(std::string_view k, std::int64_t v) : key(k), value(v) {}
  Field(std::string_view k, int v) : key(k), value(std::int64_t(v)) {}
  Field(std::string_view k, unsigned v) : key(k), value(std::int64_t(v)) {}
  Field(std::string_view k, bool v) : key(k), value(v) {}
  Field(std::string_view k, double v) : key(k), value(v) {}
  std::string_view key;
  Value value;
};
void event(Level level, std::string_view name, std::string_view message, std::initializer_list<Field> fields);

inline void debug(std::string_view m) { if (enabled(Level::debug)) write(Level::debug, m); }
inline void info(std::string_view m) { write(Level::info, m); }
inline void warn(std::string_view m) { write(Level::warn, m); }
inline void error(std::string_view m) { write(Level::error, m); }

}  // namespace tidegate::log
