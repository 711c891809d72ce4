#include "plugins/auth/password_file.hpp"

#include <stdexcept>
#include <vector>

namespace tidegate::auth {

namespace {

constexpr std::size_t max_name_length = 65535;  // mosquitto: longer entries are dropped

// strtok(s, ":") semantics: non-empty fields only.
std::vector<std::string_view> colon_fields(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    const auto end = std::min(s.find(':', pos), s.size());
    if (end > pos) out.push_back(s.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

// Hashed against when the user is unknown, so that answer takes as long as a wrong
// password. The salt/hash values do not matter.
const PasswordHash& dummy_hash() {
  static const PasswordHash h = [] {
    PasswordHash d;
    d.type = HashType::sha512_pbkdf2;
    d.iterations = mosquitto_default_iterations;
    return d;
  }();
  return h;
}

}  // namespace

std::optional<PasswordLine> parse_password_line(std::string_view line) {
  if (!line.empty() && line.front() == '#') return std::nullopt;
  const auto trimmed = trim_blanks(line);
  if (trimmed.empty()) return std::nullopt;
  if (trimmed.find(':') == std::string_view::npos) {
    if (trimmed.front() == '#') return std::nullopt;  // indented comment; mosquitto skips it too
    throw std::invalid_argument("expected 'user:hash', found no ':'");
  }
  const auto fields = colon_fields(line);
  if (fields.size() < 2) throw std::invalid_argument("expected 'user:hash', found only one field");
  PasswordLine out{trim_blanks(fields[0]), trim_blanks(fields[1])};
  if (out.user.empty()) throw std::invalid_argument("empty user name");
  if (out.hash.empty()) throw std::invalid_argument("empty password hash");
  if (out.user.size() > max_name_length) throw std::invalid_argument("user name longer than 65535 bytes");
  if (out.hash.size() > max_name_length) throw std::invalid_argument("password hash longer than 65535 bytes");
  return out;
}

PasswordFile PasswordFile::load(const std::string& path) { return parse(read_auth_file(path), path); }

PasswordFile PasswordFile::parse(std::string_view text, std::string_view origin) {
  PasswordFile file;
  std::unordered_map<std::string, std::size_t, Hash, std::equal_to<>> first_line;
  for_each_line(text, [&](std::size_t number, std::string_view line) {
    std::optional<PasswordLine> entry;
    PasswordHash hash;
    try {
      entry = parse_password_line(line);
      if (!entry) return;
      hash = parse_password_hash(entry->hash);
    } catch (const std::invalid_argument& e) {
      throw_line_error(origin, number, e.what());
    }
    const auto [it, inserted] = first_line.emplace(std::string(entry->user), number);
    if (!inserted) {
      throw_line_error(origin, number,
                       "user '" + it->first + "' is listed again (first on line " + std::to_string(it->second) + ")");
    }
    file.users_.emplace(std::string(entry->user), hash);
  });
  return file;
}

bool PasswordFile::verify(std::string_view username, std::string_view password) const {
  try {
    const auto it = users_.find(username);
    if (it == users_.end()) {
      (void)password_matches(dummy_hash(), password);
      return false;
    }
    return password_matches(it->second, password);
  } catch (const std::exception&) {
    return false;  // OpenSSL failure: refusing is the only safe answer
  }
}

bool PasswordFile::has_user(std::string_view username) const { return users_.find(username) != users_.end(); }

}  // namespace tidegate::auth
