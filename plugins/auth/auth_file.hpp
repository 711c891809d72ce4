// What the password file and the ACL file share: their error type and how they
// are read. Pure; no state.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace tidegate::auth {

// A file that cannot be read or has a malformed line. what() is "origin:line: reason"
// for a bad line and "path: reason" when the file itself cannot be read.
class AuthFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The whole file, or AuthFileError naming the path and errno's text.
std::string read_auth_file(const std::string& path);

[[noreturn]] void throw_line_error(std::string_view origin, std::size_t line, std::string_view reason);

// mosquitto trims with isspace() (misc__trimblanks); the same set here.
bool is_blank(char c);
std::string_view trim_blanks(std::string_view s);

// Calls fn(line_number, line) for each '\n'-separated line (fgets semantics: a
// final line without '\n' counts, an empty tail after the last '\n' does not).
template <class Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  std::size_t number = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const auto line = text.substr(0, nl);
    fn(++number, line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

}  // namespace tidegate::auth
