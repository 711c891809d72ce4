#pragma once
// GET /api/v1/sessions's search and order (docs/console.md): which sessions a
// query matches and how they sort, as pure functions of the sessions' views.
// Main thread (the admin API), but no state.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/pipeline/ingest.hpp"
#include "gateway/session/session_registry.hpp"

namespace tidegate::admin {

struct SessionQuery {
  std::string prefix;  // ?prefix=: the client id starts with it
  std::string search;  // ?q=: part of the client id, the user name or the address
  std::string state;   // "", "online", "offline"
  std::string sort = "client_id";  // client_id, backlog, inflight, rate, connected
  bool descending = false;         // ?order=; counts default to largest first

  bool matches(const SessionView& v) const;
  // Inflight and traffic are read on the sessions' workers: sorting by them
  // needs every match's details, not only the page's.
  bool needs_details() const { return sort == "inflight" || sort == "rate"; }
};

// Reads ?prefix, q, state, sort and order; nullopt with `problem` set when one is not valid.
std::optional<SessionQuery> parse_session_query(std::string_view query, std::string& problem);

// A persistent session's stored messages after its committed positions, all queues together.
std::size_t total_backlog(const Ingest::ReaderBacklogs& backlogs, const std::string& client_id);
// Messages a second, in and out, averaged since the connection came; 0 offline.
double session_rate(const SessionView& v, std::int64_t now_ms);

// Orders `sessions` (given by client id) as `query` asks; stable.
void sort_sessions(std::vector<SessionView>& sessions, const SessionQuery& query,
                   const Ingest::ReaderBacklogs& backlogs, std::int64_t now_ms);

}  // namespace tidegate::admin
