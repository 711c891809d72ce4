#include "storeclient/lmdb_store.hpp"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <mutex>

#include "storeclient/message_codec.hpp"
#include "storeclient/store_tables.hpp"

namespace tidegate::store {
namespace {

class LmdbCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "lmdb"; }
  std::string message(int rc) const override { return mdb_strerror(rc); }
};

MDB_val as_val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
std::string_view as_view(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }

void put_u16(std::string& out, std::size_t v) {
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

// queue_index key: u16 length, queue name, u64 sequence (big endian, so the
// entries of one queue sort by sequence).
std::string queue_prefix(std::string_view queue) {
  std::string k;
  put_u16(k, queue.size());
  k.append(queue);
  return k;
}
std::string index_key(std::string_view queue, std::uint64_t seq) {
  std::string k = queue_prefix(queue);
  put_u64_be(k, seq);
  return k;
}
// offsets key: u16 length, client id, queue name.
std::string inflight_key(std::string_view client_id, std::uint16_t packet_id) {
  std::string k = queue_prefix(client_id);
  put_u16(k, packet_id);
  return k;
}
std::string offset_key(std::string_view client_id, std::string_view queue) {
  std::string k = queue_prefix(client_id);
  k.append(queue);
  return k;
}

// RAII read transaction; holds the resize lock shared for its lifetime.
class ReadTxn {
 public:
  ReadTxn(MDB_env* env, std::shared_mutex& lock) : guard_(lock) {
    int rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn_);
    if (rc != 0) throw std::system_error(make_lmdb_error(rc), "mdb_txn_begin (read)");
  }
  ~ReadTxn() { mdb_txn_abort(txn_); }
  MDB_txn* get() const { return txn_; }

 private:
  std::shared_lock<std::shared_mutex> guard_;
  MDB_txn* txn_ = nullptr;
};

class Cursor {
 public:
  Cursor(MDB_txn* txn, MDB_dbi dbi) {
    int rc = mdb_cursor_open(txn, dbi, &c_);
    if (rc != 0) throw std::system_error(make_lmdb_error(rc), "mdb_cursor_open");
  }
  ~Cursor() { mdb_cursor_close(c_); }
  MDB_cursor* get() const { return c_; }

 private:
  MDB_cursor* c_ = nullptr;
};

MessagePtr get_message(MDB_txn* txn, MDB_dbi dbi, std::uint64_t seq) {
  std::string key;
  put_u64_be(key, seq);
  MDB_val k = as_val(key), v;
  if (mdb_get(txn, dbi, &k, &v) != 0) return nullptr;
  auto m = decode_message(as_view(v));
  if (!m) return nullptr;
  return std::make_shared<const Message>(std::move(*m));
}

// LMDB reports a page write the file system took only in part as EIO, and that
// is how a disk that fills up during a commit usually shows (the rest gets
// ENOSPC). Below this much free space an EIO counts as a full disk
// (docs/durability.md, "A full disk").
constexpr std::uint64_t kNearlyFullBytes = std::uint64_t(16) << 20;

bool disk_nearly_full(const std::string& dir) {
  struct statvfs st;
  return ::statvfs(dir.c_str(), &st) == 0 && std::uint64_t(st.f_bavail) * st.f_frsize < kNearlyFullBytes;
}

}  // namespace

const std::error_category& lmdb_category() {
  static LmdbCategory category;
  return category;
}

LmdbStore::LmdbStore(StoreOptions options) : options_(std::move(options)) {
  if (::mkdir(options_.dir.c_str(), 0750) != 0 && errno != EEXIST)
    throw StoreOpenError("store: cannot create data directory " + options_.dir + ": " +
                         std::generic_category().message(errno));
  int rc = mdb_env_create(&env_);
  if (rc != 0) throw StoreOpenError(std::string("store: mdb_env_create: ") + mdb_strerror(rc));
  mdb_env_set_maxdbs(env_, 12);
  map_bytes_ = options_.initial_map_bytes;
  mdb_env_set_mapsize(env_, map_bytes_);
  // `os`: commits reach the page cache (survive kill -9, not power loss).
  // `fsync`: every group commit is flushed to disk before it is acknowledged.
  unsigned flags = MDB_NOTLS | (options_.durability == Durability::os ? MDB_NOSYNC : 0);
  rc = mdb_env_open(env_, options_.dir.c_str(), flags, 0640);
  if (rc != 0) {
    mdb_env_close(env_);
    env_ = nullptr;
    std::string hint = (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH || rc == MDB_CORRUPTED)
                           ? " (the store file is not a valid LMDB file of this version; see docs/durability.md "
                             "for recovery: move the data directory aside and restart)"
                           : "";
    throw StoreOpenError("store: cannot open " + options_.dir + ": " + mdb_strerror(rc) + hint);
  }
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  map_bytes_ = std::max(map_bytes_, info.me_mapsize);
  try {
    open_tables();
  } catch (...) {
    // The destructor does not run for a constructor that throws.
    mdb_env_close(env_);
    env_ = nullptr;
    throw;
  }
}

LmdbStore::~LmdbStore() {
  if (env_) {
    mdb_env_sync(env_, 1);
    mdb_env_close(env_);
  }
}

void LmdbStore::open_tables() {
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
  if (rc != 0) throw StoreOpenError(std::string("store: begin: ") + mdb_strerror(rc));
  auto open = [&](const char* name, MDB_dbi& dbi) {
    int r = mdb_dbi_open(txn, name, MDB_CREATE, &dbi);
    if (r != 0) {
      mdb_txn_abort(txn);
      throw StoreOpenError(std::string("store: cannot open table ") + name + ": " + mdb_strerror(r));
    }
  };
  MDB_dbi* dbis[] = {&meta_, &messages_, &queue_index_, &retained_, &sessions_, &offsets_, &inflight_,
                     &message_queues_};  // in the order of kTableNames
  static_assert(std::size(kTableNames) == std::size(dbis));
  for (std::size_t i = 0; i < std::size(dbis); ++i) open(kTableNames[i], *dbis[i]);

  // Schema version: written on first open, checked on every later one.
  std::string_view key = "schema_version";
  MDB_val k = as_val(key), v;
  rc = mdb_get(txn, meta_, &k, &v);
  if (rc == MDB_NOTFOUND) {
    std::string value = std::to_string(kSchemaVersion);
    MDB_val nv = as_val(value);
    rc = mdb_put(txn, meta_, &k, &nv, 0);
  } else if (rc == 0) {
    std::string found(as_view(v));
    if (found != std::to_string(kSchemaVersion)) {
      mdb_txn_abort(txn);
      throw StoreOpenError("store: " + options_.dir + " has schema version " + found + ", this build reads " +
                           std::to_string(kSchemaVersion) + "; see docs/durability.md");
    }
  }
  if (rc != 0) {
    mdb_txn_abort(txn);
    throw StoreOpenError(std::string("store: schema check: ") + mdb_strerror(rc));
  }
  std::string_view floor_key = "retention_floor";
  MDB_val fk = as_val(floor_key), fv;
  if (mdb_get(txn, meta_, &fk, &fv) == 0 && fv.mv_size == 8) retention_floor_ = get_u64_be(as_view(fv));
  rc = mdb_txn_commit(txn);
  if (rc != 0) throw StoreOpenError(std::string("store: commit at open: ") + mdb_strerror(rc));
}

bool LmdbStore::grow_map() {
  std::unique_lock guard(resize_lock_);
  std::size_t next = map_bytes_ * 2;
  if (options_.max_map_bytes) next = std::min(next, options_.max_map_bytes);
  if (next <= map_bytes_) return false;  // at the configured cap: the store is full
  map_bytes_ = next;
  mdb_env_set_mapsize(env_, map_bytes_);
  return true;
}

std::error_code LmdbStore::commit(const WriteBatch& batch) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    if (rc != 0) return make_lmdb_error(rc);
    pending_floor_ = retention_floor_;
    pending_removed_ = 0;
    pending_removed_entries_.clear();
    std::error_code ec = write_batch(txn, batch);
    if (!ec) {
      rc = mdb_txn_commit(txn);
      if (rc == 0) {
        retention_floor_ = pending_floor_;
        last_removed_ = pending_removed_;
        last_removed_entries_.swap(pending_removed_entries_);
        return {};
      }
      ec = make_lmdb_error(rc == EIO && disk_nearly_full(options_.dir) ? ENOSPC : rc);
    } else {
      mdb_txn_abort(txn);
    }
    if (ec.value() != MDB_MAP_FULL || !grow_map()) return ec;
    // then retry the whole batch in a fresh transaction
  }
  return make_lmdb_error(MDB_MAP_FULL);
}

namespace {
// write_batch's puts and deletes (the writer thread's transaction).
int put(MDB_txn* txn, MDB_dbi dbi, std::string_view k, std::string_view v) {
  MDB_val kv = as_val(k), vv = as_val(v);
  return mdb_put(txn, dbi, &kv, &vv, 0);
}

// `messages` and `message_queues` keys start with the sequence, which only
// grows: MDB_APPEND puts at the end without searching the tree. A key out of
// order (MDB_KEYEXIST, nothing written) takes the ordinary put.
int put_ascending(MDB_txn* txn, MDB_dbi dbi, std::string_view k, std::string_view v) {
  MDB_val kv = as_val(k), vv = as_val(v);
  int rc = mdb_put(txn, dbi, &kv, &vv, MDB_APPEND);
  if (rc != MDB_KEYEXIST) return rc;
  return put(txn, dbi, k, v);
}

int del(MDB_txn* txn, MDB_dbi dbi, std::string_view k) {
  MDB_val kv = as_val(k);
  int rc = mdb_del(txn, dbi, &kv, nullptr);
  return rc == MDB_NOTFOUND ? 0 : rc;
}

// Deletes every key starting with `prefix` (and, when key_size is not 0, of
// exactly that size). Returns an LMDB code (0: done).
int delete_prefixed(MDB_txn* txn, MDB_dbi dbi, const std::string& prefix, std::size_t key_size = 0) {
  Cursor c(txn, dbi);
  auto matches = [&](const MDB_val& k) {
    return (key_size == 0 || k.mv_size == key_size) && as_view(k).starts_with(prefix);
  };
  MDB_val k = as_val(prefix), v;
  int rc;
  // After a delete the cursor already stands on the next entry.
  for (rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE); rc == 0 && matches(k);
       rc = mdb_cursor_get(c.get(), &k, &v, MDB_GET_CURRENT))
    if ((rc = mdb_cursor_del(c.get(), 0))) return rc;
  return rc == MDB_NOTFOUND || rc == EINVAL ? 0 : rc;
}
}  // namespace

std::error_code LmdbStore::write_batch(MDB_txn* txn, const WriteBatch& batch) {
  // Dropped queues first: a queue dropped and created again within one group
  // commit keeps what this batch appends to it. (Entries appended to a queue
  // before it was dropped in the same batch stay as orphans, which no reader
  // starts early enough to see; retention removes them with their messages.)
  for (const auto& queue : batch.dropped_queues) {
    std::string prefix = queue_prefix(queue);
    if (int rc = delete_prefixed(txn, queue_index_, prefix, prefix.size() + 8)) return make_lmdb_error(rc);
  }
  if (auto ec = write_appends(txn, batch)) return ec;
  if (batch.delete_oldest) {
    if (auto ec = delete_oldest(txn, batch.delete_oldest, batch.delete_created_before_ms)) return ec;
  }
  std::string value;
  for (const auto& [topic, message] : batch.retained) {
    int rc;
    if (message) {
      value.clear();
      encode_message(*message, value);
      rc = put(txn, retained_, topic, value);
    } else {
      rc = del(txn, retained_, topic);
    }
    if (rc) return make_lmdb_error(rc);
  }
  if (auto ec = write_sessions(txn, batch)) return ec;
  for (const auto& o : batch.offsets) {
    value.clear();
    put_u64_be(value, o.seq);
    if (int rc = put(txn, offsets_, offset_key(o.client_id, o.queue), value)) return make_lmdb_error(rc);
  }
  for (const auto& [client_id, queue] : batch.erase_offsets)
    if (int rc = del(txn, offsets_, offset_key(client_id, queue))) return make_lmdb_error(rc);
  return {};
}

std::error_code LmdbStore::write_appends(MDB_txn* txn, const WriteBatch& batch) {
  std::string key, value, index, by_message;  // reused: no key string allocated per entry
  for (const auto& a : batch.appends) {
    key.clear();
    put_u64_be(key, a.message->seq);
    value.clear();
    encode_message(*a.message, value);
    if (int rc = put_ascending(txn, messages_, key, value)) return make_lmdb_error(rc);
    for (const auto& q : a.queues) {
      index.clear();
      put_u16(index, q.size());  // index_key(q, seq)
      index.append(q);
      put_u64_be(index, a.message->seq);
      if (int rc = put(txn, queue_index_, index, {})) return make_lmdb_error(rc);
      by_message.assign(key);
      by_message.append(q);
      if (int rc = put_ascending(txn, message_queues_, by_message, {})) return make_lmdb_error(rc);
    }
  }
  return {};
}

std::error_code LmdbStore::write_sessions(MDB_txn* txn, const WriteBatch& batch) {
  for (const auto& [client_id, record] : batch.sessions) {
    int rc = record ? put(txn, sessions_, client_id, *record) : del(txn, sessions_, client_id);
    if (rc) return make_lmdb_error(rc);
    if (record) continue;
    // A session that ends takes its offsets and inflight records with it.
    std::string prefix = queue_prefix(client_id);
    for (MDB_dbi dbi : {offsets_, inflight_})
      if ((rc = delete_prefixed(txn, dbi, prefix))) return make_lmdb_error(rc);
  }
  // After the sessions: a session ended and begun again in one batch keeps these.
  for (const auto& i : batch.inflight) {
    std::string k = inflight_key(i.client_id, i.packet_id);
    int rc = i.record ? put(txn, inflight_, k, *i.record) : del(txn, inflight_, k);
    if (rc) return make_lmdb_error(rc);
  }
  return {};
}

std::error_code LmdbStore::delete_oldest(MDB_txn* txn, std::size_t count, std::int64_t created_before_ms) {
  Cursor messages(txn, messages_);
  MDB_val k, v;
  int rc = mdb_cursor_get(messages.get(), &k, &v, MDB_FIRST);
  std::uint64_t floor = retention_floor_;
  for (std::size_t n = 0; rc == 0 && n < count && k.mv_size == 8; ++n) {
    if (created_before_ms) {
      auto m = decode_message(as_view(v));
      if (m && m->created_ms >= created_before_ms) break;  // young enough to keep
    }
    std::string seq_key(as_view(k));
    ++pending_removed_;
    floor = get_u64_be(seq_key);
    // The message's index entries, found through message_queues.
    Cursor links(txn, message_queues_);
    MDB_val lk = as_val(seq_key), lv;
    int lrc;
    for (lrc = mdb_cursor_get(links.get(), &lk, &lv, MDB_SET_RANGE); lrc == 0 && as_view(lk).starts_with(seq_key);
         lrc = mdb_cursor_get(links.get(), &lk, &lv, MDB_GET_CURRENT)) {
      std::string_view queue = as_view(lk).substr(8);
      pending_removed_entries_.emplace_back(std::string(queue), floor);
      MDB_val ik;
      std::string index = index_key(queue, floor);
      ik = as_val(index);
      int drc = mdb_del(txn, queue_index_, &ik, nullptr);
      if (drc != 0 && drc != MDB_NOTFOUND) return make_lmdb_error(drc);
      if ((lrc = mdb_cursor_del(links.get(), 0))) return make_lmdb_error(lrc);
    }
    if (lrc != 0 && lrc != MDB_NOTFOUND && lrc != EINVAL) return make_lmdb_error(lrc);
    if ((rc = mdb_cursor_del(messages.get(), 0))) return make_lmdb_error(rc);
    rc = mdb_cursor_get(messages.get(), &k, &v, MDB_GET_CURRENT);
  }
  if (rc != 0 && rc != MDB_NOTFOUND && rc != EINVAL) return make_lmdb_error(rc);
  if (floor != retention_floor_) {
    // Kept across restarts: readers older than it may have lost messages.
    std::string fk = "retention_floor", fv;
    put_u64_be(fv, floor);
    MDB_val mk = as_val(fk), mv = as_val(fv);
    if ((rc = mdb_put(txn, meta_, &mk, &mv, 0))) return make_lmdb_error(rc);
  }
  pending_floor_ = floor;
  return {};
}

StoreUsage LmdbStore::usage() const {
  StoreUsage u;
  u.map_bytes = map_bytes_;
  ReadTxn txn(env_, resize_lock_);
  for (MDB_dbi dbi : {messages_, queue_index_, message_queues_}) {
    MDB_stat st;
    if (mdb_stat(txn.get(), dbi, &st) == 0) {
      u.message_bytes += std::size_t(st.ms_psize) * (st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages);
      if (dbi == messages_) u.messages = st.ms_entries;
    }
  }
  Cursor c(txn.get(), messages_);
  MDB_val k, v;
  if (mdb_cursor_get(c.get(), &k, &v, MDB_FIRST) == 0 && k.mv_size == 8) {
    u.oldest_seq = get_u64_be(as_view(k));
    if (auto m = decode_message(as_view(v))) u.oldest_created_ms = m->created_ms;
  }
  return u;
}

std::vector<MessagePtr> LmdbStore::read_queue(const std::string& queue, std::uint64_t after_seq,
                                              std::size_t max_count) const {
  std::vector<MessagePtr> out;
  ReadTxn txn(env_, resize_lock_);
  Cursor c(txn.get(), queue_index_);
  std::string prefix = queue_prefix(queue);
  std::string start = index_key(queue, after_seq + 1);
  MDB_val k = as_val(start), v;
  int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE);
  while (rc == 0 && out.size() < max_count) {
    std::string_view key = as_view(k);
    if (key.size() != prefix.size() + 8 || !key.starts_with(prefix)) break;
    std::uint64_t seq = get_u64_be(key.substr(prefix.size()));
    if (auto m = get_message(txn.get(), messages_, seq)) out.push_back(std::move(m));
    rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT);
  }
  return out;
}

std::vector<std::uint64_t> LmdbStore::queue_sequences(const std::string& queue, std::uint64_t after_seq,
                                                      std::size_t cap) const {
  std::vector<std::uint64_t> out;
  ReadTxn txn(env_, resize_lock_);
  Cursor c(txn.get(), queue_index_);
  std::string prefix = queue_prefix(queue);
  std::string start = index_key(queue, after_seq + 1);
  MDB_val k = as_val(start), v;
  for (int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE); rc == 0 && out.size() < cap;
       rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT)) {
    std::string_view key = as_view(k);
    if (key.size() != prefix.size() + 8 || !key.starts_with(prefix)) break;
    out.push_back(get_u64_be(key.substr(prefix.size())));
  }
  return out;
}

std::size_t LmdbStore::count_queue(const std::string& queue, std::uint64_t after_seq, std::size_t cap) const {
  std::size_t n = 0;
  ReadTxn txn(env_, resize_lock_);
  Cursor c(txn.get(), queue_index_);
  std::string prefix = queue_prefix(queue);
  std::string start = index_key(queue, after_seq + 1);
  MDB_val k = as_val(start), v;
  for (int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE); rc == 0 && n < cap;
       rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT)) {
    std::string_view key = as_view(k);
    if (key.size() != prefix.size() + 8 || !key.starts_with(prefix)) break;
    ++n;
  }
  return n;
}

std::uint64_t LmdbStore::last_in_queue(const std::string& queue) const {
  ReadTxn txn(env_, resize_lock_);
  Cursor c(txn.get(), queue_index_);
  std::string prefix = queue_prefix(queue);
  std::string end = index_key(queue, UINT64_MAX);
  MDB_val k = as_val(end), v;
  // The first key at or after the queue's largest possible one; the entry
  // before it (or the very last key) is the queue's newest, if it has any.
  int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE);
  if (rc == 0 && as_view(k) != end) rc = mdb_cursor_get(c.get(), &k, &v, MDB_PREV);
  else if (rc == MDB_NOTFOUND) rc = mdb_cursor_get(c.get(), &k, &v, MDB_LAST);
  if (rc != 0) return 0;
  std::string_view key = as_view(k);
  if (key.size() != prefix.size() + 8 || !key.starts_with(prefix)) return 0;
  return get_u64_be(key.substr(prefix.size()));
}

std::vector<MessagePtr> LmdbStore::load_retained() const {
  std::vector<MessagePtr> out;
  ReadTxn txn(env_, resize_lock_);
  Cursor c(txn.get(), retained_);
  MDB_val k, v;
  for (int rc = mdb_cursor_get(c.get(), &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT))
    if (auto m = decode_message(as_view(v))) out.push_back(std::make_shared<const Message>(std::move(*m)));
  return out;
}

std::vector<std::pair<std::string, std::string>> LmdbStore::load_sessions() const {
  std::vector<std::pair<std::string, std::string>> out;
  ReadTxn txn(env_, resize_lock_);
  Cursor c(txn.get(), sessions_);
  MDB_val k, v;
  for (int rc = mdb_cursor_get(c.get(), &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT))
    out.emplace_back(std::string(as_view(k)), std::string(as_view(v)));
  return out;
}

std::map<std::string, std::uint64_t> LmdbStore::load_offsets(const std::string& client_id) const {
  std::map<std::string, std::uint64_t> out;
  ReadTxn txn(env_, resize_lock_);
  Cursor c(txn.get(), offsets_);
  std::string prefix = queue_prefix(client_id);
  MDB_val k = as_val(prefix), v;
  for (int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT)) {
    std::string_view key = as_view(k);
    if (!key.starts_with(prefix)) break;
    if (v.mv_size == 8) out[std::string(key.substr(prefix.size()))] = get_u64_be(as_view(v));
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> LmdbStore::offset_keys_of_readers(std::string_view id_prefix) const {
  std::vector<std::pair<std::string, std::string>> out;
  ReadTxn txn(env_, resize_lock_);
  Cursor c(txn.get(), offsets_);
  MDB_val k, v;
  for (int rc = mdb_cursor_get(c.get(), &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT)) {
    std::string_view key = as_view(k);
    if (key.size() < 2) continue;
    std::size_t length = (static_cast<unsigned char>(key[0]) << 8) | static_cast<unsigned char>(key[1]);
    if (key.size() < 2 + length) continue;
    std::string_view id = key.substr(2, length);
    if (id.starts_with(id_prefix)) out.emplace_back(std::string(id), std::string(key.substr(2 + length)));
  }
  return out;
}

std::vector<std::pair<std::uint16_t, std::string>> LmdbStore::load_inflight(const std::string& client_id) const {
  std::vector<std::pair<std::uint16_t, std::string>> out;
  ReadTxn txn(env_, resize_lock_);
  Cursor c(txn.get(), inflight_);
  std::string prefix = queue_prefix(client_id);
  MDB_val k = as_val(prefix), v;
  for (int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT)) {
    std::string_view key = as_view(k);
    if (!key.starts_with(prefix) || key.size() != prefix.size() + 2) break;
    auto id = static_cast<std::uint16_t>((static_cast<unsigned char>(key[prefix.size()]) << 8) |
                                         static_cast<unsigned char>(key[prefix.size() + 1]));
    out.emplace_back(id, std::string(as_view(v)));
  }
  return out;
}

MessagePtr LmdbStore::read_message(std::uint64_t seq) const {
  ReadTxn txn(env_, resize_lock_);
  return get_message(txn.get(), messages_, seq);
}

std::uint64_t LmdbStore::max_sequence() const {
  std::uint64_t max_seq = 0;
  ReadTxn txn(env_, resize_lock_);
  {
    Cursor c(txn.get(), messages_);
    MDB_val k, v;
    if (mdb_cursor_get(c.get(), &k, &v, MDB_LAST) == 0 && k.mv_size == 8) max_seq = get_u64_be(as_view(k));
  }
  Cursor c(txn.get(), offsets_);
  MDB_val k, v;
  for (int rc = mdb_cursor_get(c.get(), &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT))
    if (v.mv_size == 8) max_seq = std::max(max_seq, get_u64_be(as_view(v)));
  return max_seq;
}

std::uint64_t LmdbStore::first_sequence_since(std::int64_t wall_ms) const {
  // Binary search over sequence numbers x for the least x whose next stored
  // message arrived at or after wall_ms: arrival times grow with sequences
  // (a clock stepped back makes the answer approximate by that step).
  ReadTxn txn(env_, resize_lock_);
  Cursor c(txn.get(), messages_);
  MDB_val k, v;
  if (mdb_cursor_get(c.get(), &k, &v, MDB_LAST) != 0 || k.mv_size != 8) return 0;
  const std::uint64_t past_newest = get_u64_be(as_view(k)) + 1;
  if (mdb_cursor_get(c.get(), &k, &v, MDB_FIRST) != 0 || k.mv_size != 8) return 0;
  // The first stored sequence >= x (past_newest when none), and whether it arrived late enough.
  auto next_stored = [&](std::uint64_t x, bool& late_enough) {
    std::string key;
    put_u64_be(key, x);
    MDB_val sk = as_val(key), sv;
    late_enough = true;
    if (mdb_cursor_get(c.get(), &sk, &sv, MDB_SET_RANGE) != 0 || sk.mv_size != 8) return past_newest;
    auto m = decode_message(as_view(sv));
    late_enough = !m || m->created_ms >= wall_ms;
    return get_u64_be(as_view(sk));
  };
  std::uint64_t low = get_u64_be(as_view(k)), high = past_newest;
  while (low < high) {
    std::uint64_t mid = low + (high - low) / 2;
    bool late_enough = false;
    next_stored(mid, late_enough);
    if (late_enough) high = mid;
    else low = mid + 1;
  }
  bool ignored = false;
  return next_stored(low, ignored);
}

}  // namespace tidegate::store
