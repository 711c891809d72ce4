#pragma once
// A commit that failed because the store is full: the configured cap
// (`max_store_bytes`, LMDB's MDB_MAP_FULL) or the file system (ENOSPC, EDQUOT,
// passed through by mdb_txn_commit's page writes). The publisher is told
// "quota exceeded"; nothing of the commit was written (docs/durability.md).
#include <cerrno>
#include <system_error>

#include "storeclient/lmdb_store.hpp"

namespace tidegate::store {

inline bool is_store_full(const std::error_code& ec) {
  return ec.category() == lmdb_category() &&
         (ec.value() == MDB_MAP_FULL || ec.value() == ENOSPC || ec.value() == EDQUOT);
}

}  // namespace tidegate::store
