#pragma once
// Cluster mode, on the gateway that holds a session: what "take" replies
// (docs/cluster.md, "Sessions across gateways", step 3): the session record
// with everything waiting for it appended to its handed messages, and its
// inflight messages with their packet ids and stream sequences.
//
// Threads: the handover's serving thread, after the ingest thread has run
// what was queued before (it reads the cache's visible part).
#include <cstdint>
#include <string>

#include "cache/queue_cache.hpp"
#include "gateway/session/session.hpp"

namespace tidegate {

// `visible`: the ingest thread's last visible sequence. `too_large`: the
// waiting messages exceed `max_bytes` (Message::footprint()); nothing is
// returned then. The session is left as it was here, in case the other
// gateway never confirms.
std::string snapshot_session(Session& session, cache::QueueCache& cache, std::uint64_t visible,
                             std::size_t max_bytes, bool& too_large);

}  // namespace tidegate
