#pragma once
// What a worker needs of each connection it serves: to be told that a queue
// it reads has new entries, and to be shut down with the gateway. The worker
// knows nothing else of connections (docs/design.md, "Folders"), so the
// pipeline does not depend on the protocol code. Worker thread only.
#include <cstdint>
#include <string>

namespace tidegate {

class QueueSubscriber {
 public:
  // The notify channel says `queue` has entries up to last_seq.
  virtual void on_queue_event(const std::string& queue, std::uint64_t last_seq) = 0;
  // Gateway shutdown: DISCONNECT 0x8B (v5), wills published, session kept.
  virtual void shut_down_by_server() = 0;

 protected:
  ~QueueSubscriber() = default;  // owned as the connection it is, never through this interface
};

}  // namespace tidegate
