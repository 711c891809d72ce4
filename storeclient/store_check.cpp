#include "storeclient/store_check.hpp"

#include <lmdb.h>
#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <vector>

#include "storeclient/child_process.hpp"
#include "storeclient/message_codec.hpp"

namespace tidegate::store {
namespace {

// LMDB 0.9's on-disk meta page (mdb.c: MDB_page header, then MDB_meta), whose
// page numbers, sizes and transaction ids are size_t: 8 bytes on arm64 and
// x86_64, 4 on armhf (Debian's LMDB is built without MDB_VL32).
constexpr std::uint32_t kMagic = 0xBEEFC0DE;
constexpr std::uint32_t kDataVersion = 1;
constexpr std::size_t kWord = sizeof(std::size_t);
constexpr std::size_t kPageHeader = kWord + 8;  // mp_pgno, mp_pad, mp_flags, mp_lower/mp_upper
// MDB_meta: magic, version, address, mapsize, then two MDB_db (md_pad,
// md_flags, md_depth, three page counts, md_entries, md_root), last page, txn id.
constexpr std::size_t kMetaDb = 8 + 5 * kWord;
constexpr std::size_t kMetaMagic = kPageHeader + 0, kMetaVersion = kPageHeader + 4,
                      kMetaMapSize = kPageHeader + 8 + kWord,
                      kMetaFreePad = kPageHeader + 8 + 2 * kWord,  // mm_dbs[FREE_DBI].md_pad: the page size
    kMetaLastPage = kMetaFreePad + 2 * kMetaDb, kMetaTxnId = kMetaLastPage + kWord, kMetaEnd = kMetaTxnId + kWord;
static_assert(kWord != 8 || (kMetaLastPage == 16 + 120 && kMetaEnd == 16 + 136), "LMDB's 64-bit meta page layout");

template <typename T>
T load(const std::vector<char>& page, std::size_t at) {
  T v;
  std::memcpy(&v, page.data() + at, sizeof v);
  return v;
}

std::optional<MetaInfo> parse_meta(const std::vector<char>& page) {
  if (page.size() < kMetaEnd) return std::nullopt;
  if (load<std::uint32_t>(page, kMetaMagic) != kMagic || load<std::uint32_t>(page, kMetaVersion) != kDataVersion)
    return std::nullopt;
  MetaInfo m;
  m.page_size = load<std::uint32_t>(page, kMetaFreePad);
  m.last_page = load<std::size_t>(page, kMetaLastPage);
  m.txn_id = load<std::size_t>(page, kMetaTxnId);
  m.map_size = load<std::size_t>(page, kMetaMapSize);
  return m;
}

// Touches every page of a value, so an overflow page past the end of the file
// faults here and not while serving.
void touch(const MDB_val& v) {
  const volatile unsigned char* p = static_cast<const unsigned char*>(v.mv_data);
  for (std::size_t i = 0; i < v.mv_size; i += 4096) (void)p[i];
  if (v.mv_size) (void)p[v.mv_size - 1];
}

// Child: opens the environment read-only and reads every entry of the free
// list, the main table and every named table. Writes "entries N" or the LMDB
// error to `out`; exit code 0 or 1.
int walk_store(const std::string& dir, int out) {
  MDB_env* env = nullptr;
  auto fail = [&](const std::string& what, int rc) {
    write_all(out, what + ": " + mdb_strerror(rc));
    return 1;
  };
  if (int rc = mdb_env_create(&env)) return fail("mdb_env_create", rc);
  mdb_env_set_maxdbs(env, 64);
  // MDB_NOLOCK: the caller holds the data directory's lock, nobody writes.
  if (int rc = mdb_env_open(env, dir.c_str(), MDB_RDONLY | MDB_NOLOCK, 0640)) return fail("open", rc);
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn)) return fail("read transaction", rc);
  std::uint64_t entries = 0;
  auto walk = [&](MDB_dbi dbi, const std::string& name, std::vector<std::string>* keys) -> int {
    MDB_cursor* c = nullptr;
    if (int rc = mdb_cursor_open(txn, dbi, &c)) return fail("table " + name, rc);
    MDB_stat st;
    if (int rc = mdb_stat(txn, dbi, &st)) return fail("table " + name, rc);
    MDB_val k, v;
    std::uint64_t n = 0;
    int rc;
    bool holds_messages = name == "messages" || name == "retained";
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
      touch(k);
      touch(v);
      // A message spread over overflow pages has no LMDB structure to check:
      // a damaged one shows only as bytes that do not decode.
      if (holds_messages && !decode_message({static_cast<const char*>(v.mv_data), v.mv_size})) {
        write_all(out, "table " + name + ": entry " + std::to_string(n + 1) + " of " +
                           std::to_string(st.ms_entries) + " is not a valid message (" +
                           std::to_string(v.mv_size) + " bytes)");
        mdb_cursor_close(c);
        return 1;
      }
      ++n;
      if (keys) keys->emplace_back(static_cast<const char*>(k.mv_data), k.mv_size);
    }
    mdb_cursor_close(c);
    if (rc != MDB_NOTFOUND) return fail("table " + name + " after " + std::to_string(n) + " entries", rc);
    if (n != st.ms_entries) {
      write_all(out, "table " + name + " counts " + std::to_string(st.ms_entries) + " entries, " +
                         std::to_string(n) + " can be read");
      return 1;
    }
    entries += n;
    return 0;
  };
  std::vector<std::string> tables;
  if (walk(0, "(free pages)", nullptr) || walk(1, "(main)", &tables)) return 1;
  for (const auto& name : tables) {
    MDB_dbi dbi;
    if (int rc = mdb_dbi_open(txn, name.c_str(), 0, &dbi)) return fail("table " + name, rc);
    if (walk(dbi, name, nullptr)) return 1;
  }
  write_all(out, "entries " + std::to_string(entries));
  return 0;
}

}  // namespace

MetaPages read_meta_pages(const std::string& data_file) {
  MetaPages pages;
  std::ifstream in(data_file, std::ios::binary);
  std::vector<char> first(kMetaEnd);
  if (!in.read(first.data(), static_cast<std::streamsize>(first.size()))) return pages;
  pages.page[0] = parse_meta(first);
  // The second meta page starts one page in; the page size is in the first
  // (or, when that one is damaged, LMDB's default of the OS page size).
  std::uint32_t page_size = pages.page[0] ? pages.page[0]->page_size : 4096;
  if (page_size >= 512 && page_size <= 65536) {
    std::vector<char> second(kMetaEnd);
    in.seekg(page_size);
    if (in.read(second.data(), static_cast<std::streamsize>(second.size()))) pages.page[1] = parse_meta(second);
  }
  return pages;
}

std::optional<MetaInfo> read_meta(const std::string& data_file, std::string& problem) {
  auto [meta0, meta1] = read_meta_pages(data_file).page;
  if (!meta0 && !meta1) {
    problem = "neither meta page (page 0, page 1) is a valid LMDB meta page";
    return std::nullopt;
  }
  if (!meta0) return meta1;
  if (!meta1) return meta0;
  return meta1->txn_id > meta0->txn_id ? meta1 : meta0;
}

StoreCheck check_store(const std::string& dir) {
  auto started = std::chrono::steady_clock::now();
  StoreCheck check;
  std::string file = dir + "/data.mdb";
  auto damaged = [&](const std::string& what) {
    check.problem = "store: " + file + " is damaged: " + what +
                    "; the gateway will not serve it. See docs/durability.md, \"Recovery\" "
                    "(tidegate --salvage-store)";
  };
  struct stat st;
  if (::stat(file.c_str(), &st) != 0) return check;  // no store yet: LMDB creates one
  check.file_bytes = static_cast<std::uint64_t>(st.st_size);
  // Empty: a first start stopped before LMDB wrote its meta pages; LMDB
  // initialises an empty file as a new store.
  if (check.file_bytes == 0) return check;
  std::string problem;
  auto meta = read_meta(file, problem);
  if (!meta) {
    damaged(problem);
    return check;
  }
  if (meta->page_size < 512 || meta->page_size > 65536 || (meta->page_size & (meta->page_size - 1))) {
    damaged("its meta page gives a page size of " + std::to_string(meta->page_size));
    return check;
  }
  std::uint64_t needed = (meta->last_page + 1) * meta->page_size;
  if (needed > check.file_bytes) {
    damaged("it is " + std::to_string(check.file_bytes) + " bytes, its pages in use reach byte " +
            std::to_string(needed) + " (truncated)");
    return check;
  }
  std::string said;
  ChildOutcome outcome = run_in_child([&](int out) { return walk_store(dir, out); },
                                      [&](std::string_view chunk) { said.append(chunk); });
  check.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (!outcome.exited) {
    damaged("reading every table ended with " + outcome.describe() + (said.empty() ? "" : " (" + said + ")"));
  } else if (outcome.exit_code != 0) {
    damaged(said.empty() ? "reading every table failed with " + outcome.describe() : said);
  } else if (said.starts_with("entries ")) {
    check.entries = std::stoull(said.substr(8));
  }
  return check;
}

}  // namespace tidegate::store
