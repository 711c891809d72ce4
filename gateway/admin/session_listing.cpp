#include "gateway/admin/session_listing.hpp"

#include <algorithm>

#include "gateway/admin/admin_http.hpp"

namespace tidegate::admin {

bool SessionQuery::matches(const SessionView& v) const {
  if (!v.client_id.starts_with(prefix)) return false;
  if ((state == "online" && !v.online) || (state == "offline" && v.online)) return false;
  if (search.empty()) return true;
  return v.client_id.find(search) != std::string::npos ||
         (v.username && v.username->find(search) != std::string::npos) ||
         (v.online && v.address && v.address->find(search) != std::string::npos);
}

std::optional<SessionQuery> parse_session_query(std::string_view query, std::string& problem) {
  SessionQuery q;
  q.prefix = query_param(query, "prefix");
  q.search = query_param(query, "q");
  q.state = query_param(query, "state");
  if (!q.state.empty() && q.state != "online" && q.state != "offline") {
    problem = "state must be online or offline";
    return std::nullopt;
  }
  if (auto sort = query_param(query, "sort"); !sort.empty()) q.sort = sort;
  if (q.sort != "client_id" && q.sort != "backlog" && q.sort != "inflight" && q.sort != "rate" &&
      q.sort != "connected") {
    problem = "sort must be client_id, backlog, inflight, rate or connected";
    return std::nullopt;
  }
  std::string order = query_param(query, "order");
  if (!order.empty() && order != "asc" && order != "desc") {
    problem = "order must be asc or desc";
    return std::nullopt;
  }
  // Counts sort largest first unless asked otherwise; names A-Z and connect times oldest first.
  q.descending = order.empty() ? (q.sort == "backlog" || q.sort == "inflight" || q.sort == "rate") : order == "desc";
  return q;
}

std::size_t total_backlog(const Ingest::ReaderBacklogs& backlogs, const std::string& client_id) {
  auto it = backlogs.find(client_id);
  if (it == backlogs.end()) return 0;
  std::size_t total = 0;
  for (const auto& [queue, count] : it->second) total += count;
  return total;
}

double session_rate(const SessionView& v, std::int64_t now_ms) {
  if (!v.online || !v.connected_since_ms) return 0;
  double seconds = std::max<double>(1.0, double(now_ms - *v.connected_since_ms) / 1000.0);
  return double(v.traffic.messages_in + v.traffic.messages_out) / seconds;
}

void sort_sessions(std::vector<SessionView>& sessions, const SessionQuery& query,
                   const Ingest::ReaderBacklogs& backlogs, std::int64_t now_ms) {
  if (query.sort == "client_id") {  // the registry lists them so already
    if (query.descending) std::reverse(sessions.begin(), sessions.end());
    return;
  }
  auto key = [&](const SessionView& v) -> double {
    if (query.sort == "backlog") return double(total_backlog(backlogs, v.client_id));
    if (query.sort == "inflight") return double(v.inflight);
    if (query.sort == "rate") return session_rate(v, now_ms);
    // connected: offline sessions have no connect time and go first (oldest first).
    return v.online && v.connected_since_ms ? double(*v.connected_since_ms) : 0.0;
  };
  std::stable_sort(sessions.begin(), sessions.end(), [&](const SessionView& a, const SessionView& b) {
    return query.descending ? key(a) > key(b) : key(a) < key(b);
  });
}

}  // namespace tidegate::admin
