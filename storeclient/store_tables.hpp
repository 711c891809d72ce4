#pragma once
// The tables (LMDB named databases) of the store's schema; see lmdb_store.hpp
// for what each holds.
namespace tidegate::store {

inline constexpr const char* kTableNames[] = {"meta",     "messages", "queue_index", "retained",
                                              "sessions", "offsets",  "inflight",    "message_queues"};

}  // namespace tidegate::store
