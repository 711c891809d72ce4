#pragma once
// One process per data directory (docs/durability.md, "One gateway per data
// directory"). The lock is an flock(2) on `data_dir/lock`, which holds the PID of
// its holder for the error message. The kernel releases it when the holder
// exits in any way (SIGKILL included), so a crashed gateway never blocks its
// own restart. Taken in main before the store is opened and before anything
// listens; held for the life of the process.
#include <string>

namespace tidegate::store {

class StoreLock {
 public:
  // Creates the directory if needed. Throws StoreOpenError naming the directory
  // and the PID of the process that holds it.
  explicit StoreLock(const std::string& dir);
  ~StoreLock();
  StoreLock(const StoreLock&) = delete;
  StoreLock& operator=(const StoreLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace tidegate::store
