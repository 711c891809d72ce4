// store_check_cost DIR MIB: writes a store of about MIB MiB of messages (1 KiB
// payloads, each in two queues' index) into the empty directory DIR, then times
// the start-up store check (docs/durability.md, "A damaged store") with the
// file in the page cache and, after posix_fadvise(DONTNEED) on data.mdb only,
// read from the disk again.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "storeclient/lmdb_store.hpp"
#include "storeclient/store_check.hpp"

using namespace tidegate::store;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: store_check_cost DIR MIB\n");
    return 2;
  }
  std::string dir = argv[1];
  std::size_t mib = std::strtoull(argv[2], nullptr, 10);
  {
    LmdbStore store(StoreOptions{dir, Durability::os, std::size_t(256) << 20, 0});
    std::uint64_t seq = 0;
    std::size_t written = 0;
    while (written < (mib << 20)) {
      WriteBatch batch;
      for (int i = 0; i < 1000; ++i) {
        auto m = std::make_shared<Message>();
        m->seq = ++seq;
        m->topic = "sensors/" + std::to_string(seq % 1000) + "/temperature";
        m->payload.assign(1024, static_cast<char>('a' + seq % 26));
        m->qos = 1;
        written += m->payload.size() + m->topic.size();
        batch.appends.push_back({m, {"sensors/#", "sensors/" + std::to_string(seq % 1000) + "/#"}});
      }
      if (auto ec = store.commit(batch)) {
        std::fprintf(stderr, "commit: %s\n", ec.message().c_str());
        return 1;
      }
    }
  }
  auto report = [](const char* what, const StoreCheck& c) {
    double gib = double(c.file_bytes) / double(1 << 30);
    std::printf("%s: %llu entries, %.2f GiB, %.3f s, %.3f s per GiB%s%s\n", what,
                static_cast<unsigned long long>(c.entries), gib, c.seconds, c.seconds / gib,
                c.problem.empty() ? "" : ", problem: ", c.problem.c_str());
  };
  report("page cache", check_store(dir));
  int fd = ::open((dir + "/data.mdb").c_str(), O_RDONLY);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
  report("from disk ", check_store(dir));
  return 0;
}
