#pragma once
// The check a store passes before the gateway serves it (docs/durability.md,
// "A damaged store"): cheap checks of data.mdb's meta pages against the file,
// then a read of every entry of every table in a forked child (every stored
// message must decode), so that damage
// LMDB would assert on (SIGABRT) or a page past the end of the file (SIGBUS)
// ends the child and becomes an error message here.
//
// Main thread, before any other thread starts (it forks).
#include <cstdint>
#include <optional>
#include <string>

namespace tidegate::store {

// What data.mdb's newest meta page says (LMDB's on-disk format).
struct MetaInfo {
  std::uint32_t page_size = 0;
  std::uint64_t last_page = 0;  // the highest page number in use
  std::uint64_t txn_id = 0;
  std::uint64_t map_size = 0;
};

// Both meta pages of `data_file` (pages 0 and 1); nullopt for one that is not valid.
struct MetaPages {
  std::optional<MetaInfo> page[2];
};
MetaPages read_meta_pages(const std::string& data_file);

// The newest valid meta page of `data_file`; nullopt with `problem` set when
// neither is valid. (LMDB itself refuses a file with either one invalid.)
std::optional<MetaInfo> read_meta(const std::string& data_file, std::string& problem);

struct StoreCheck {
  std::string problem;          // empty: the store can be served
  std::uint64_t entries = 0;    // entries read, all tables
  std::uint64_t file_bytes = 0; // size of data.mdb
  double seconds = 0;           // time the check took
};

// `dir` holds data.mdb (or nothing yet: a new store passes).
StoreCheck check_store(const std::string& dir);

}  // namespace tidegate::store
