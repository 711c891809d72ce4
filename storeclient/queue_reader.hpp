#pragma once
// What a reader of queues needs of the store: the persisted entries of a
// queue by offset. The queue cache reads through it (cache/ depends on this
// header, never on LMDB's); LmdbStore implements it. Any thread.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "storeclient/message.hpp"

namespace tidegate::store {

class QueueReader {
 public:
  virtual ~QueueReader() = default;
  // Messages of `queue` with sequence > after_seq, in order, at most max_count.
  virtual std::vector<MessagePtr> read_queue(const std::string& queue, std::uint64_t after_seq,
                                             std::size_t max_count) const = 0;
};

}  // namespace tidegate::store
