#pragma once
// Runs a function in a forked child process and reads what it writes to a pipe.
// Used to read a store that may be damaged: LMDB asserts (SIGABRT) or touches a
// page past the end of a truncated file (SIGBUS) on some damage, and that must
// end the child, not the gateway or the salvage tool.
//
// fork() is only safe while the calling process has one thread: call this from
// main before any thread starts (docs/durability.md, "A damaged store").
#include <functional>
#include <string>
#include <string_view>

namespace tidegate::store {

struct ChildOutcome {
  bool exited = false;   // false: killed by a signal
  int exit_code = 0;     // when exited
  int signal = 0;        // when killed
  std::string describe() const;  // "exit code 1", "SIGBUS (Bus error)"
};

// Forks; the child runs `body(write_fd)` and exits with its return value
// (never returning to the caller's code). The parent hands every chunk the
// child writes to `on_output` until the pipe closes, then reaps the child.
ChildOutcome run_in_child(const std::function<int(int write_fd)>& body,
                          const std::function<void(std::string_view)>& on_output);

// Child side: writes all of `data` to `fd` (false when the reader is gone).
bool write_all(int fd, std::string_view data);

}  // namespace tidegate::store
