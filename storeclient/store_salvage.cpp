#include "storeclient/store_salvage.hpp"

#include <lmdb.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string_view>

#include "storeclient/child_process.hpp"
#include "storeclient/lmdb_store.hpp"
#include "storeclient/message_codec.hpp"
#include "storeclient/store_check.hpp"
#include "storeclient/store_lock.hpp"
#include "storeclient/store_tables.hpp"

namespace tidegate::store {
namespace {

// A record larger than this is a damaged length, not a record.
constexpr std::size_t kMaxRecordBytes = std::size_t(512) << 20;
// Records per transaction of the new store (bounds its dirty pages).
constexpr std::size_t kRecordsPerCommit = 10000;

// The child's frames on the pipe: 'C' u64 (the table's entry count),
// 'R' u32 key length, u32 value length, key, value; 'E' (the end was reached);
// 'X' u32 length, text (an LMDB error).
void put_u32(std::string& out, std::uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }

enum class Direction { forward, backward };

// Child: reads table `name` of the store in `dir`, from the first key forward,
// or from the last key backward down to (not including) `stop_after`.
int read_table(const std::string& dir, const std::string& name, Direction direction,
               const std::optional<std::string>& stop_after, int out) {
  auto fail = [&](const std::string& what, int rc) {
    std::string frame = "X";
    std::string text = what + ": " + mdb_strerror(rc);
    put_u32(frame, static_cast<std::uint32_t>(text.size()));
    frame += text;
    write_all(out, frame);
    return 1;
  };
  MDB_env* env = nullptr;
  if (int rc = mdb_env_create(&env)) return fail("mdb_env_create", rc);
  mdb_env_set_maxdbs(env, 64);
  if (int rc = mdb_env_open(env, dir.c_str(), MDB_RDONLY | MDB_NOLOCK, 0640)) return fail("open", rc);
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn)) return fail("read transaction", rc);
  MDB_dbi dbi;
  if (int rc = mdb_dbi_open(txn, name.c_str(), 0, &dbi)) return fail("table header", rc);
  MDB_stat st;
  if (int rc = mdb_stat(txn, dbi, &st)) return fail("table header", rc);
  std::string frame = "C";
  std::uint64_t count = st.ms_entries;
  frame.append(reinterpret_cast<const char*>(&count), 8);
  if (!write_all(out, frame)) return 1;
  MDB_cursor* c = nullptr;
  if (int rc = mdb_cursor_open(txn, dbi, &c)) return fail("cursor", rc);
  MDB_val stop;
  if (stop_after) stop = MDB_val{stop_after->size(), const_cast<char*>(stop_after->data())};
  MDB_cursor_op first = direction == Direction::forward ? MDB_FIRST : MDB_LAST;
  MDB_cursor_op next = direction == Direction::forward ? MDB_NEXT : MDB_PREV;
  MDB_val k, v;
  int rc;
  for (rc = mdb_cursor_get(c, &k, &v, first); rc == 0; rc = mdb_cursor_get(c, &k, &v, next)) {
    if (stop_after && mdb_cmp(txn, dbi, &k, &stop) <= 0) break;
    if (k.mv_size > kMaxRecordBytes || v.mv_size > kMaxRecordBytes)
      return fail("a record of " + std::to_string(k.mv_size + v.mv_size) + " bytes", MDB_CORRUPTED);
    frame.assign("R");
    put_u32(frame, static_cast<std::uint32_t>(k.mv_size));
    put_u32(frame, static_cast<std::uint32_t>(v.mv_size));
    frame.append(static_cast<const char*>(k.mv_data), k.mv_size);
    frame.append(static_cast<const char*>(v.mv_data), v.mv_size);
    if (!write_all(out, frame)) return 1;
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return fail("reading", rc);
  return write_all(out, "E") ? 0 : 1;
}

// Parent side: parses the frames of one child as they arrive.
class FrameReader {
 public:
  std::optional<std::uint64_t> count;
  bool reached_end = false;
  std::string error;
  std::optional<std::string> last_key;  // the last record received
  std::vector<std::pair<std::string, std::string>> records;  // not yet written

  void feed(std::string_view chunk) {
    buffer_.append(chunk);
    std::size_t pos = 0;
    for (;;) {
      std::string_view rest = std::string_view(buffer_).substr(pos);
      if (rest.empty()) break;
      char type = rest[0];
      if (type == 'E') {
        reached_end = true;
        pos += 1;
      } else if (type == 'C') {
        if (rest.size() < 9) break;
        std::uint64_t n;
        std::memcpy(&n, rest.data() + 1, 8);
        count = n;
        pos += 9;
      } else if (type == 'X') {
        if (rest.size() < 5) break;
        std::uint32_t len = u32(rest, 1);
        if (rest.size() < 5 + std::size_t(len)) break;
        error = std::string(rest.substr(5, len));
        pos += 5 + len;
      } else if (type == 'R') {
        if (rest.size() < 9) break;
        std::size_t klen = u32(rest, 1), vlen = u32(rest, 5);
        if (rest.size() < 9 + klen + vlen) break;
        records.emplace_back(std::string(rest.substr(9, klen)), std::string(rest.substr(9 + klen, vlen)));
        last_key = records.back().first;
        pos += 9 + klen + vlen;
      } else {
        error = "unreadable output of the reading process";
        pos = buffer_.size();
      }
    }
    buffer_.erase(0, pos);
  }

 private:
  static std::uint32_t u32(std::string_view s, std::size_t at) {
    std::uint32_t v;
    std::memcpy(&v, s.data() + at, 4);
    return v;
  }
  std::string buffer_;
};

// The new store: created with its schema by LmdbStore, then written raw.
class TargetStore {
 public:
  TargetStore(const std::string& dir, std::size_t map_bytes) {
    { LmdbStore schema(StoreOptions{dir, Durability::fsync}); }  // tables and schema version
    if (int rc = mdb_env_create(&env_)) throw StoreOpenError(std::string("mdb_env_create: ") + mdb_strerror(rc));
    mdb_env_set_maxdbs(env_, 64);
    mdb_env_set_mapsize(env_, map_bytes);
    if (int rc = mdb_env_open(env_, dir.c_str(), 0, 0640)) {
      mdb_env_close(env_);
      throw StoreOpenError("store: cannot open " + dir + ": " + mdb_strerror(rc));
    }
  }
  ~TargetStore() { mdb_env_close(env_); }
  TargetStore(const TargetStore&) = delete;
  TargetStore& operator=(const TargetStore&) = delete;

  // One transaction; returns the LMDB error text, empty on success.
  std::string put(const std::string& table, const std::vector<std::pair<std::string, std::string>>& records) {
    MDB_txn* txn = nullptr;
    if (int rc = mdb_txn_begin(env_, nullptr, 0, &txn)) return mdb_strerror(rc);
    MDB_dbi dbi;
    int rc = mdb_dbi_open(txn, table.c_str(), 0, &dbi);
    for (std::size_t i = 0; rc == 0 && i < records.size(); ++i) {
      MDB_val k{records[i].first.size(), const_cast<char*>(records[i].first.data())};
      MDB_val v{records[i].second.size(), const_cast<char*>(records[i].second.data())};
      rc = mdb_put(txn, dbi, &k, &v, 0);
    }
    if (rc) {
      mdb_txn_abort(txn);
      return mdb_strerror(rc);
    }
    rc = mdb_txn_commit(txn);
    return rc ? mdb_strerror(rc) : "";
  }

 private:
  MDB_env* env_ = nullptr;
};

bool holds_messages(const std::string& table) { return table == "messages" || table == "retained"; }

// Reads one table with a child in `direction` and writes what it gets to `to`.
// Returns the reader's end state.
FrameReader copy_table(const std::string& from, TargetStore& to, SalvagedTable& table, Direction direction,
                       const std::optional<std::string>& stop_after, const std::string& to_dir,
                       std::string& write_error) {
  FrameReader reader;
  auto flush = [&] {
    if (reader.records.empty() || !write_error.empty()) {
      reader.records.clear();
      return;
    }
    std::vector<std::pair<std::string, std::string>> keep;
    keep.reserve(reader.records.size());
    for (auto& record : reader.records) {
      if (holds_messages(table.name) && !decode_message(record.second)) {
        ++table.undecodable;
        continue;
      }
      keep.push_back(std::move(record));
    }
    reader.records.clear();
    if (auto failed = to.put(table.name, keep); !failed.empty()) write_error = "writing " + to_dir + ": " + failed;
    else table.copied += keep.size();
  };
  ChildOutcome outcome = run_in_child(
      [&](int out) { return read_table(from, table.name, direction, stop_after, out); },
      [&](std::string_view chunk) {
        reader.feed(chunk);
        if (reader.records.size() >= kRecordsPerCommit) flush();
      });
  flush();
  if (!reader.reached_end && reader.error.empty())
    reader.error = "reading ended with " + outcome.describe();
  return reader;
}

// A copy of data.mdb with meta page `bad` overwritten by the other one, in a
// directory of its own; removed when done.
struct RepairedCopy {
  std::string dir;
  RepairedCopy(const std::string& data_file, std::string where, int bad, std::uint32_t page_size)
      : dir(std::move(where)) {
    std::filesystem::create_directories(dir);
    std::filesystem::copy_file(data_file, dir + "/data.mdb", std::filesystem::copy_options::overwrite_existing);
    std::fstream f(dir + "/data.mdb", std::ios::in | std::ios::out | std::ios::binary);
    std::vector<char> good(page_size);
    f.seekg(std::streamoff(bad == 0 ? page_size : 0));
    f.read(good.data(), page_size);
    std::size_t page_number = static_cast<std::size_t>(bad);  // the page header's own number (a pgno_t: size_t)
    std::memcpy(good.data(), &page_number, sizeof page_number);
    f.seekp(std::streamoff(bad == 0 ? 0 : page_size));
    f.write(good.data(), page_size);
    if (!f) throw StoreOpenError("salvage: cannot write a repaired copy in " + dir);
  }
  ~RepairedCopy() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  RepairedCopy(const RepairedCopy&) = delete;
  RepairedCopy& operator=(const RepairedCopy&) = delete;
};

std::uint64_t file_size_of(const std::string& file) {
  struct stat st;
  return ::stat(file.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

}  // namespace

bool SalvageReport::complete() const {
  if (!error.empty() || older_snapshot) return false;
  for (const auto& t : tables)
    if (!t.complete()) return false;
  return true;
}

std::string SalvageReport::text() const {
  if (!error.empty()) return "salvage failed: " + error + "\n";
  std::string out;
  for (const auto& note : notes) out += note + "\n";
  for (const auto& t : tables) {
    out += t.name + ": copied " + std::to_string(t.copied);
    if (t.counted) out += " of " + std::to_string(t.expected);
    else out += " (the table's count could not be read)";
    if (t.lost()) out += ", " + std::to_string(t.lost()) + " unreadable";
    if (t.undecodable) out += ", " + std::to_string(t.undecodable) + " damaged (not copied)";
    if (!t.problem.empty()) out += "; " + t.problem;
    out += "\n";
  }
  out += complete() ? "every record was copied\n" : "some records could not be read (see above)\n";
  return out;
}

SalvageReport salvage_store(const std::string& from, const std::string& to) {
  SalvageReport report;
  std::string from_file = from + "/data.mdb";
  struct stat st;
  if (::stat(from_file.c_str(), &st) != 0) {
    report.error = "no store at " + from_file + ": " + std::strerror(errno);
    return report;
  }
  if (::stat((to + "/data.mdb").c_str(), &st) == 0) {
    report.error = to + " already holds a store; salvage writes into an empty or new directory";
    return report;
  }
  try {
    // Nobody may write either store meanwhile (a gateway on FROM would change it under the copy).
    StoreLock from_lock(from), to_lock(to);
    std::string problem;
    auto meta = read_meta(from_file, problem);
    if (!meta) {
      report.error = from_file + ": " + problem;
      return report;
    }
    // LMDB refuses a file with one damaged meta page; read a copy whose
    // damaged meta page is replaced by the other (an older snapshot is fine).
    std::string source = from;
    std::optional<RepairedCopy> repaired;
    MetaPages metas = read_meta_pages(from_file);
    if (!metas.page[0] || !metas.page[1]) {
      int bad = metas.page[0] ? 1 : 0;
      repaired.emplace(from_file, to + "/salvage-source", bad, meta->page_size);
      source = repaired->dir;
      report.notes.push_back("meta page " + std::to_string(bad) + " was damaged: read through meta page " +
                             std::to_string(1 - bad) +
                             ", which may be one commit older (that commit, if it was newer, is lost)");
      report.older_snapshot = true;
    }
    // The copy is never larger than the original: its map can be sized once
    // (address space only; the file grows with what is written).
    // (On a 32-bit system the address space bounds it: at most 1 GiB there.)
    const std::uint64_t wanted = file_size_of(from_file) * 2 + (std::uint64_t(1) << 30);
    std::size_t map = static_cast<std::size_t>(
        std::min<std::uint64_t>(wanted, sizeof(std::size_t) == 4 ? (std::uint64_t(1) << 30) : wanted));
    TargetStore target(to, map);
    for (const char* name : kTableNames) {
      SalvagedTable table;
      table.name = name;
      std::string write_error;
      FrameReader forward = copy_table(source, target, table, Direction::forward, std::nullopt, to, write_error);
      table.counted = forward.count.has_value();
      table.expected = forward.count.value_or(0);
      if (!forward.reached_end && write_error.empty()) {
        table.problem = "forward read: " + forward.error;
        // Another child from the other end, down to the last key the first one got.
        FrameReader backward = copy_table(source, target, table, Direction::backward, forward.last_key, to, write_error);
        if (!table.counted && backward.count) {
          table.counted = true;
          table.expected = *backward.count;
        }
        if (!backward.reached_end) table.problem += "; backward read: " + backward.error;
      }
      if (!write_error.empty()) {
        report.error = write_error;
        return report;
      }
      report.tables.push_back(std::move(table));
    }
  } catch (const std::exception& e) {
    report.error = e.what();
  }
  return report;
}

}  // namespace tidegate::store
