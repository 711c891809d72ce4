// mosquitto's password_file: one "user:hash" line per user, hashes as written by
// mosquitto_passwd (see password_hash.hpp). Loaded once, then read-only: every const
// member is safe to call from any worker thread at once.
//
// Line rules (mosquitto 2.0 src/security_default.c, pwfile__parse):
//  - a line starting with '#' is a comment; a blank line is skipped;
//  - the user name is the first ':'-separated field, the hash the second, both with
//    surrounding whitespace removed; empty fields are skipped like strtok does and
//    fields after the hash are ignored.
// Deliberately stricter than the broker, which logs and drops a bad entry and goes on:
// here a bad line makes load/parse throw AuthFileError("origin:line: reason"), as
// mosquitto_passwd does ("Corrupt password file at line N"). Also refused: a non-blank,
// non-comment line without ':', a user listed twice (mosquitto's lookup then depends
// on its hash table's order), and plain-text or $8$ (argon2id) passwords.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "plugins/auth/auth_file.hpp"
#include "plugins/auth/password_hash.hpp"

namespace tidegate::auth {

struct PasswordLine {
  std::string_view user;
  std::string_view hash;  // the text after ':', not yet decoded
};

// One line of a password file: nullopt for a comment or blank line, otherwise the
// user and hash text; std::invalid_argument(reason) for a malformed line. Shared by
// PasswordFile and tidegate-passwd, so both read lines the same way.
std::optional<PasswordLine> parse_password_line(std::string_view line);

class PasswordFile {
 public:
  static PasswordFile load(const std::string& path);
  static PasswordFile parse(std::string_view text, std::string_view origin);

  // True when `username` is listed and `password` hashes to its entry. An unknown user
  // costs a hash computation too, so timing does not reveal which names exist.
  // Wiring (mosquitto_unpwd_check_default): a CONNECT without a user name is not a
  // password-file matter (allow_anonymous decides); with a user name but no password
  // it is refused without calling verify.
  bool verify(std::string_view username, std::string_view password) const;
  bool has_user(std::string_view username) const;
  std::size_t size() const { return users_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, PasswordHash, Hash, std::equal_to<>> users_;
};

}  // namespace tidegate::auth
