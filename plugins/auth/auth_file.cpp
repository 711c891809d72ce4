#include "plugins/auth/auth_file.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace tidegate::auth {

std::string read_auth_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw AuthFileError(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw AuthFileError(path + ": read error: " + std::strerror(errno));
  return std::move(buffer).str();
}

void throw_line_error(std::string_view origin, std::size_t line, std::string_view reason) {
  std::string message(origin);
  message += ':';
  message += std::to_string(line);
  message += ": ";
  message += reason;
  throw AuthFileError(message);
}

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace tidegate::auth
