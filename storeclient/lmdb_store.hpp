#pragma once
// The embedded store on LMDB (docs/design.md, "On disk"; docs/durability.md).
//
// Threads: commit() is called only by the ingest thread (the single writer,
// which batches everything waiting into one call: group commit). The read_*
// and load_* functions may be called from any thread; each uses its own short
// read-only transaction and copies values out before it ends.
//
// Tables: meta (schema version), messages (seq -> message), queue_index
// (queue, seq -> ""), retained (topic -> message), sessions (client id ->
// opaque record owned by the gateway), offsets (client id, queue -> seq),
// inflight (client id, packet id -> opaque record owned by the gateway),
// message_queues (seq, queue -> ""): which index entries a message has, so
// retention can remove them with it.
#include <lmdb.h>

#include <cstdint>
#include <map>
#include <optional>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "storeclient/message.hpp"
#include "storeclient/queue_reader.hpp"

namespace tidegate::store {

inline constexpr std::uint32_t kSchemaVersion = 1;

// Thrown by the constructor: the store cannot be opened (wrong schema,
// corrupt file, permissions). what() names the path and the reason.
class StoreOpenError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Durability { os, fsync };

struct StoreOptions {
  std::string dir;
  Durability durability = Durability::os;
  std::size_t initial_map_bytes = std::size_t(256) << 20;
  std::size_t max_map_bytes = 0;  // 0: grow without a cap (until the disk is full)
};

struct StoreUsage {
  std::size_t message_bytes = 0;  // pages used by messages and their index
  std::size_t map_bytes = 0;
  std::uint64_t messages = 0;
  std::uint64_t oldest_seq = 0;         // 0: no message stored
  std::int64_t oldest_created_ms = 0;
};

// Everything one group commit writes, in one transaction.
struct WriteBatch {
  struct Append {
    MessagePtr message;
    std::vector<std::string> queues;  // index entries to write
  };
  struct Offset {
    std::string client_id;
    std::string queue;
    std::uint64_t seq;
  };
  std::vector<Append> appends;
  std::vector<std::pair<std::string, MessagePtr>> retained;               // nullptr = clear
  std::vector<std::pair<std::string, std::optional<std::string>>> sessions;  // nullopt = erase
  std::vector<Offset> offsets;
  std::vector<std::pair<std::string, std::string>> erase_offsets;  // (client id, queue)
  std::vector<std::string> dropped_queues;                          // erase all index entries
  struct Inflight {
    std::string client_id;
    std::uint16_t packet_id;
    std::optional<std::string> record;  // nullopt = erase
  };
  std::vector<Inflight> inflight;
  // Retention: remove up to this many of the oldest messages, and (when
  // delete_created_before_ms is set) only those created before it.
  std::size_t delete_oldest = 0;
  std::int64_t delete_created_before_ms = 0;

  bool empty() const {
    return appends.empty() && retained.empty() && sessions.empty() && offsets.empty() &&
           erase_offsets.empty() && dropped_queues.empty() && inflight.empty() &&
           delete_oldest == 0;
  }
};

class LmdbStore final : public QueueReader {
 public:
  explicit LmdbStore(StoreOptions options);
  ~LmdbStore();
  LmdbStore(const LmdbStore&) = delete;
  LmdbStore& operator=(const LmdbStore&) = delete;

  // Writer thread only. Returns an error (and writes nothing) when the
  // transaction cannot commit; grows the map when it is full.
  std::error_code commit(const WriteBatch& batch);

  // Any thread.
  std::vector<MessagePtr> read_queue(const std::string& queue, std::uint64_t after_seq,
                                     std::size_t max_count) const override;
  // Entries of `queue` with a sequence above `after_seq`, counting stops at `cap`.
  std::size_t count_queue(const std::string& queue, std::uint64_t after_seq, std::size_t cap) const;
  // The sequences of `queue`'s entries above `after_seq`, at most `cap` (index keys only).
  std::vector<std::uint64_t> queue_sequences(const std::string& queue, std::uint64_t after_seq, std::size_t cap) const;
  // The sequence of the newest entry stored in `queue`'s index (0: none).
  std::uint64_t last_in_queue(const std::string& queue) const;
  std::vector<MessagePtr> load_retained() const;
  std::vector<std::pair<std::string, std::string>> load_sessions() const;
  std::map<std::string, std::uint64_t> load_offsets(const std::string& client_id) const;
  // (reader id, queue) of every offset whose reader id starts with `id_prefix` (a whole-table scan).
  std::vector<std::pair<std::string, std::string>> offset_keys_of_readers(std::string_view id_prefix) const;
  std::vector<std::pair<std::uint16_t, std::string>> load_inflight(const std::string& client_id) const;
  MessagePtr read_message(std::uint64_t seq) const;
  // The highest sequence mentioned anywhere (messages and committed offsets):
  // new sequences start above it so no offset can ever point past a reused one.
  std::uint64_t max_sequence() const;
  // The first stored sequence that arrived at or after `wall_ms` (one past
  // the newest when none did; 0 when the store holds no message).
  std::uint64_t first_sequence_since(std::int64_t wall_ms) const;
  StoreUsage usage() const;
  // Writer thread: the highest sequence removed by retention so far (0: none).
  std::uint64_t retention_floor() const { return retention_floor_; }
  // Writer thread: messages removed by the last successful commit.
  std::size_t last_removed() const { return last_removed_; }
  // The index entries (queue, sequence) the last retention removal took with its messages.
  const std::vector<std::pair<std::string, std::uint64_t>>& last_removed_entries() const { return last_removed_entries_; }

  std::size_t map_bytes() const { return map_bytes_; }
  const std::string& dir() const { return options_.dir; }

 private:
  void open_tables();
  std::error_code write_batch(MDB_txn* txn, const WriteBatch& batch);
  // write_batch's steps (writer thread).
  std::error_code write_appends(MDB_txn* txn, const WriteBatch& batch);
  std::error_code write_sessions(MDB_txn* txn, const WriteBatch& batch);  // and inflight records
  bool grow_map();
  std::error_code delete_oldest(MDB_txn* txn, std::size_t count, std::int64_t created_before_ms);
  std::size_t last_removed_ = 0, pending_removed_ = 0;
  std::vector<std::pair<std::string, std::uint64_t>> last_removed_entries_, pending_removed_entries_;
  std::uint64_t retention_floor_ = 0;
  std::uint64_t pending_floor_ = 0;

  StoreOptions options_;
  MDB_env* env_ = nullptr;
  MDB_dbi meta_ = 0, messages_ = 0, queue_index_ = 0, retained_ = 0, sessions_ = 0, offsets_ = 0, inflight_ = 0,
          message_queues_ = 0;
  std::size_t map_bytes_ = 0;
  // Readers hold it shared for the length of a read transaction; growing the
  // map (mdb_env_set_mapsize) needs every transaction of the process closed.
  mutable std::shared_mutex resize_lock_;
};

// LMDB return codes as std::error_code.
const std::error_category& lmdb_category();
inline std::error_code make_lmdb_error(int rc) { return {rc, lmdb_category()}; }

}  // namespace tidegate::store
