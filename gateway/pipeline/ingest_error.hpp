#pragma once
// Why the ingest thread refused or could not commit a command, as its own
// error codes, so callers decide what to tell a client without knowing the
// store underneath (docs/durability.md, "A full disk"). Any other store
// failure reaches callers as the store's own error code: nothing was written.
#include <system_error>

namespace tidegate {

enum class IngestError {
  quota_exceeded = 1,  // a limit of the gateway: retained count/bytes, a session's backlog
  store_full,          // the store's cap (max_store_bytes) or the disk: nothing was written
};

const std::error_category& ingest_category();
inline std::error_code make_error_code(IngestError e) { return {static_cast<int>(e), ingest_category()}; }

// A store commit's error as the ingest thread reports it: a full store or
// disk becomes IngestError::store_full; anything else stays as it is.
std::error_code ingest_error_of_commit(std::error_code store_error);

}  // namespace tidegate

template <>
struct std::is_error_code_enum<tidegate::IngestError> : std::true_type {};
