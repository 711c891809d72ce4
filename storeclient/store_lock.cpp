#include "storeclient/store_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "storeclient/lmdb_store.hpp"

namespace tidegate::store {
namespace {
std::string errno_text() { return std::strerror(errno); }

// The PID the holder wrote, or "unknown" when the file is empty or unreadable.
std::string read_holder(int fd) {
  char buf[32] = {};
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string pid = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid.empty() ? "unknown" : pid;
}
}  // namespace

StoreLock::StoreLock(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST)
    throw StoreOpenError("store: cannot create data directory " + dir + ": " + errno_text());
  std::string path = dir + "/lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd_ < 0) throw StoreOpenError("store: cannot open " + path + ": " + errno_text());
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    std::string holder = err == EWOULDBLOCK ? read_holder(fd_) : "";
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      throw StoreOpenError("store: data_dir " + dir + " is in use by another process (PID " + holder +
                           ", holding " + path + "); one gateway per data_dir, see docs/durability.md");
    throw StoreOpenError("store: cannot lock " + path + ": " + std::strerror(err));
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    int err = errno;
    ::close(fd_);
    fd_ = -1;
    throw StoreOpenError("store: cannot write " + path + ": " + std::strerror(err));
  }
}

StoreLock::~StoreLock() {
  // The file stays: removing it would race with a process that just opened it.
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace tidegate::store
