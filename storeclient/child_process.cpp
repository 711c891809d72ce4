#include "storeclient/child_process.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <system_error>

namespace tidegate::store {

std::string ChildOutcome::describe() const {
  if (exited) return "exit code " + std::to_string(exit_code);
  std::string name = signal == SIGBUS    ? "SIGBUS"
                     : signal == SIGSEGV ? "SIGSEGV"
                     : signal == SIGABRT ? "SIGABRT"
                                         : "signal " + std::to_string(signal);
  return name + " (" + strsignal(signal) + ")";
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

ChildOutcome run_in_child(const std::function<int(int write_fd)>& body,
                          const std::function<void(std::string_view)>& on_output) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    throw std::system_error(err, std::generic_category(), "fork");
  }
  if (pid == 0) {
    ::close(fds[0]);
    // A crash here is the expected outcome on some damage: no core dump.
    std::signal(SIGPIPE, SIG_IGN);
    // (prctl, not setrlimit: the systemd unit's syscall filter refuses @resources.)
    ::prctl(PR_SET_DUMPABLE, 0);
    // Ends with the gateway: a killed gateway's child must not keep walking
    // the store holding its lock (inherited), which would refuse the restart.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);  // the parent is gone already
    int code = 1;
    try {
      code = body(fds[1]);
    } catch (...) {
    }
    ::_exit(code);  // no atexit handlers, no destructors of the parent's objects
  }
  ::close(fds[1]);
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    on_output(std::string_view(buf, static_cast<std::size_t>(n)));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ChildOutcome outcome;
  if (WIFEXITED(status)) {
    outcome.exited = true;
    outcome.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    outcome.signal = WTERMSIG(status);
  }
  return outcome;
}

}  // namespace tidegate::store
