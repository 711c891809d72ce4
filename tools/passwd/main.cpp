// tidegate-passwd: writes mosquitto password files, compatible with mosquitto_passwd's
//   tidegate-passwd [-H sha512-pbkdf2|sha512] [-I iterations] [-c] FILE USER
//   tidegate-passwd [-H sha512-pbkdf2|sha512] [-I iterations] [-c] -b FILE USER PASSWORD
//   tidegate-passwd -D FILE USER
// Entries are "$7$101$..." (PBKDF2-HMAC-SHA512, mosquitto 2.0's default) unless -H/-I
// say otherwise. Without -b the password is prompted for twice with echo off when
// standard input is a terminal, otherwise one line is read from standard input.
//
// The file is replaced atomically: a temporary file in the same directory, fsync,
// rename, fsync of the directory. A new file gets mode 0600. An existing file keeps
// its owner, group and user/group permission bits (so a broker reading it through its
// group still can) but loses any world bits. Other lines, comments included, are kept
// as they are; an existing file that the broker would refuse is not touched.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plugins/auth/auth_file.hpp"
#include "plugins/auth/password_file.hpp"
#include "plugins/auth/password_hash.hpp"

namespace {

using namespace tidegate::auth;

constexpr std::size_t max_field = 65535;

struct Options {
  bool batch = false;
  bool create = false;
  bool remove = false;
  HashType type = HashType::sha512_pbkdf2;
  int iterations = mosquitto_default_iterations;
  std::string file;
  std::string user;
  std::optional<std::string> password;
};

void usage() {
  std::cout << "tidegate-passwd manages mosquitto password files (compatible with mosquitto_passwd).\n\n"
               "Usage: tidegate-passwd [-H sha512 | -H sha512-pbkdf2] [-c | -D] passwordfile username\n"
               "       tidegate-passwd [-H sha512 | -H sha512-pbkdf2] [-c] -b passwordfile username password\n"
               " -b : batch mode: the password is the last argument.\n"
               " -c : create a new password file. This overwrites an existing file.\n"
               " -D : delete the username rather than adding/updating its password.\n"
               " -H : hash algorithm; sha512-pbkdf2 (default, \"$7$\") or sha512 (mosquitto 1.x, \"$6$\").\n"
               " -I : PBKDF2 iterations (default "
            << mosquitto_default_iterations
            << ", as mosquitto 2.0).\n"
               " --help : this help; --version : the version.\n\n"
               "Without -b the password is asked twice on the terminal (or read from standard input).\n"
               "The gateway reads the file named by password_file in its config (docs/security.md).\n";
}

int fail(const std::string& message) {
  std::cerr << "Error: " << message << "\n";
  return 1;
}

// ---------------------------------------------------------------- reading the password

termios saved_termios;
volatile sig_atomic_t echo_disabled = 0;

void restore_terminal() {
  if (echo_disabled) {
    tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
    echo_disabled = 0;
  }
}

extern "C" void on_signal(int) {
  if (echo_disabled) tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
  _exit(1);
}

// One line from stdin, without its "\n" / "\r\n"; nullopt at end of input.
std::optional<std::string> read_line() {
  std::string line;
  if (!std::getline(std::cin, line)) return std::nullopt;  // nothing before end of input
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// Echo goes off before the prompt appears, so nothing typed in answer to the prompt
// is flushed or shown.
std::optional<std::string> prompt_hidden(const char* prompt) {
  termios quiet = saved_termios;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  quiet.c_lflag |= ECHONL;
  echo_disabled = 1;
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  std::cerr << prompt << std::flush;
  auto line = read_line();
  restore_terminal();
  return line;
}

// The password for an add/update, or an error message.
std::optional<std::string> read_password(std::string& error) {
  if (!isatty(STDIN_FILENO)) {
    auto line = read_line();
    if (!line) error = "No password on standard input.";
    else if (line->empty()) error = "Empty password.";
    return error.empty() ? line : std::nullopt;
  }
  if (tcgetattr(STDIN_FILENO, &saved_termios) != 0) {
    error = std::string("Cannot read terminal settings: ") + std::strerror(errno);
    return std::nullopt;
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGHUP, on_signal);
  const auto first = prompt_hidden("Password: ");
  if (!first || first->empty()) {
    error = "Empty password.";
    return std::nullopt;
  }
  const auto second = prompt_hidden("Reenter password: ");
  if (!second || *second != *first) {
    error = "Passwords do not match.";
    return std::nullopt;
  }
  return first;
}

// ---------------------------------------------------------------- the file

std::string dir_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Writes `content` to `target` through a temporary file and rename(). `existing` is
// the stat of the file being replaced, if there is one.
bool write_atomically(const std::string& target, const std::string& content, const struct stat* existing,
                      std::string& error) {
  std::string tmp = target + ".tmp.XXXXXX";
  const int fd = mkstemp(tmp.data());  // created 0600
  if (fd < 0) {
    error = "Unable to create a temporary file next to " + target + ": " + std::strerror(errno);
    return false;
  }
  const auto give_up = [&](const std::string& what) {
    error = what + ": " + std::strerror(errno);
    close(fd);
    unlink(tmp.c_str());
    return false;
  };
  mode_t mode = 0600;
  if (existing) {
    mode = existing->st_mode & 0770;
    // Keep the owner/group the broker reads it as; only root may give the file away.
    if (fchown(fd, existing->st_uid, existing->st_gid) != 0 && errno != EPERM) return give_up("fchown");
  }
  if (fchmod(fd, mode) != 0) return give_up("fchmod");
  std::size_t done = 0;
  while (done < content.size()) {
    const auto n = write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return give_up("Unable to write " + tmp);
    }
    done += static_cast<std::size_t>(n);
  }
  if (fsync(fd) != 0) return give_up("fsync " + tmp);
  if (close(fd) != 0) {
    error = "close " + tmp + ": " + std::strerror(errno);
    unlink(tmp.c_str());
    return false;
  }
  if (rename(tmp.c_str(), target.c_str()) != 0) {
    error = "Unable to replace " + target + ": " + std::strerror(errno);
    unlink(tmp.c_str());
    return false;
  }
  const int dfd = open(dir_of(target).c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    fsync(dfd);  // the rename is durable once the directory is
    close(dfd);
  }
  return true;
}

// The new file text: `text` with USER's line replaced by `entry` (or removed when
// entry is empty), and `entry` appended when USER had no line. Sets `found`.
std::string edit(std::string_view text, std::string_view user, const std::string& entry, bool& found) {
  std::string out;
  out.reserve(text.size() + entry.size() + 1);
  found = false;
  for_each_line(text, [&](std::size_t, std::string_view line) {
    const auto parsed = parse_password_line(line);  // the file was validated before
    if (parsed && parsed->user == user) {
      found = true;
      if (!entry.empty()) out += entry + "\n";
      return;
    }
    out += line;
    out += '\n';
  });
  if (!found && !entry.empty()) out += entry + "\n";
  return out;
}

bool valid_user(const std::string& user, std::string& error) {
  if (user.size() > max_field) {
    error = "Username must be less than 65536 characters long.";
    return false;
  }
  for (const unsigned char c : user) {
    if (std::iscntrl(c)) {
      error = "Username must not contain control characters.";
      return false;
    }
  }
  if (user.find(':') != std::string::npos) {
    error = "Username must not contain the ':' character.";
    return false;
  }
  if (user.empty()) {
    error = "Username must not be empty.";
    return false;
  }
  return true;
}

// mosquitto_passwd's argument rules: flags first, in any order, then positionals.
std::optional<Options> parse_args(int argc, char** argv) {
  Options o;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "-b") {
      o.batch = true;
    } else if (a == "-c") {
      o.create = true;
    } else if (a == "-D") {
      o.remove = true;
    } else if (a == "-H" || a == "-I") {
      if (i + 1 == argc) {
        fail(std::string(a) + " argument given but not enough other arguments.");
        return std::nullopt;
      }
      const std::string_view v = argv[++i];
      if (a == "-H") {
        if (v == "sha512") o.type = HashType::sha512;
        else if (v == "sha512-pbkdf2") o.type = HashType::sha512_pbkdf2;
        else {
          fail("Unknown hash type '" + std::string(v) + "'");
          return std::nullopt;
        }
      } else {
        char* end = nullptr;
        errno = 0;
        const long n = std::strtol(argv[i], &end, 10);
        if (errno != 0 || *end != '\0' || n < 1 || n > INT_MAX) {
          fail("Number of iterations must be > 0.");
          return std::nullopt;
        }
        o.iterations = static_cast<int>(n);
      }
    } else {
      break;
    }
  }
  if (o.create && o.remove) {
    fail("-c and -D cannot be used together.");
    return std::nullopt;
  }
  if (o.remove && o.batch) {
    fail("-b and -D cannot be used together.");
    return std::nullopt;
  }
  const int positional = argc - i;
  if (positional != (o.batch ? 3 : 2)) {
    usage();
    return std::nullopt;
  }
  o.file = argv[i];
  o.user = argv[i + 1];
  if (o.batch) o.password = argv[i + 2];
  std::string error;
  if (!valid_user(o.user, error)) {
    fail(error);
    return std::nullopt;
  }
  if (o.password && o.password->size() > max_field) {
    fail("Password must be less than 65536 characters long.");
    return std::nullopt;
  }
  return o;
}

int run(const Options& o) {
  // Follow a symlink to the real file, as mosquitto_passwd does with realpath().
  std::string target = o.file;
  if (char* real = realpath(o.file.c_str(), nullptr)) {
    target = real;
    std::free(real);
  } else if (errno != ENOENT) {
    return fail("Unable to open password file " + o.file + ". " + std::strerror(errno) + ".");
  }
  struct stat st {};
  const bool exists = stat(target.c_str(), &st) == 0;

  std::string text;
  if (!o.create) {
    if (!exists) return fail("Unable to open password file " + o.file + ". " + std::strerror(ENOENT) + ".");
    try {
      text = read_auth_file(target);
      (void)PasswordFile::parse(text, o.file);
    } catch (const AuthFileError& e) {
      return fail(std::string(e.what()) + " (file left unchanged)");
    }
  }

  std::string entry;
  if (!o.remove) {
    std::string password;
    if (o.password) {
      password = *o.password;
    } else {
      std::string error;
      auto typed = read_password(error);
      if (!typed) return fail(error);
      password = std::move(*typed);
      if (password.size() > max_field) return fail("Password must be less than 65536 characters long.");
    }
    try {
      entry = o.user + ":" + format_password_hash(hash_password(password, o.type, o.iterations));
    } catch (const std::exception& e) {
      return fail(std::string("Unable to hash password: ") + e.what());
    }
  }

  bool found = false;
  const std::string content = edit(text, o.user, entry, found);
  if (o.remove && !found) {
    std::cerr << "Warning: User " << o.user << " not found in password file.\n";
    return 1;
  }
  std::string error;
  if (!write_atomically(target, content, exists ? &st : nullptr, error)) return fail(error);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // --help and --version alone (the man page is made from them).
  if (argc == 2 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h")) {
    usage();
    return 0;
  }
  if (argc == 2 && std::string_view(argv[1]) == "--version") {
    std::cout << "tidegate-passwd " << TIDEGATE_VERSION << "\n";
    return 0;
  }
  const auto options = parse_args(argc, argv);
  if (!options) return 1;
  return run(*options);
}
