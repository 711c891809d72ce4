#pragma once
// Streams (docs/events.md, "Streams"): each holds the queue of its filter
// for as long as it is configured, and marks it durable, so every message
// the filter matches is stored, QoS 0 included, under the store's retention.
// Server applications read a stream by sequence or time and keep consumer
// groups' committed offsets in the store's offsets table. Main thread (the
// admin listener's), reading the store with read transactions.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gateway/events/stream_config.hpp"
#include "gateway/pipeline/ingest.hpp"
#include "storeclient/lmdb_store.hpp"

namespace tidegate::events {

class Streams {
 public:
  Streams(Ingest& ingest, const store::LmdbStore& store) : ingest_(ingest), store_(store) {}

  // After the ingest thread started, before any listener accepts (waits for the ingest thread).
  void start(const std::vector<StreamConfig>& streams);
  // Reload: new streams start capturing now; removed ones stop, and their
  // groups' offsets go (the messages stay until retention removes them).
  void apply(const std::vector<StreamConfig>& streams);

  const StreamConfig* find(const std::string& name) const;
  const std::map<std::string, StreamConfig>& all() const { return streams_; }

  // Up to `max` messages of the stream with sequence >= from_seq, oldest first.
  std::vector<store::MessagePtr> read(const StreamConfig& stream, std::uint64_t from_seq, std::size_t max) const;
  // The newest sequence in the stream (0: none).
  std::uint64_t last_seq(const StreamConfig& stream) const { return store_.last_in_queue(stream.filter); }
  // A consumer group's committed offset: the last sequence it has finished (0: none).
  std::uint64_t committed(const StreamConfig& stream, const std::string& group) const;
  std::vector<std::pair<std::string, std::uint64_t>> groups(const StreamConfig& stream) const;
  // Writes the group's offset; `done` runs on the ingest thread after the commit.
  void commit(const StreamConfig& stream, const std::string& group, std::uint64_t seq, Ingest::Done done);

 private:
  void capture(const StreamConfig& stream);
  void release(const StreamConfig& stream);

  Ingest& ingest_;
  const store::LmdbStore& store_;
  std::map<std::string, StreamConfig> streams_;
};

}  // namespace tidegate::events
