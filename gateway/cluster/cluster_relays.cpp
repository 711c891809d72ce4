#include "gateway/cluster/cluster_relays.hpp"

#include <algorithm>

#include "gateway/ops/log.hpp"

namespace tidegate {

void MovedSessionRelays::add(const std::string& client_id, const std::string& to, std::vector<std::string> filters,
                             std::uint64_t own_up_to, std::chrono::milliseconds hold) {
  std::erase_if(filters, [](const std::string& f) { return f.starts_with("$share/"); });
  std::lock_guard guard(lock_);
  const auto now = Clock::now();
  drop_locked(client_id);
  expire_locked(now);
  if (filters.empty()) return;
  if (relays_.size() >= kMaxRelays) {
    auto soonest = std::min_element(relays_.begin(), relays_.end(),
                                    [](const auto& x, const auto& y) { return x.second.until < y.second.until; });
    log::warn("cluster: more than " + std::to_string(kMaxRelays) + " sessions moved away within the hold; session '" +
              soonest->first + "' no longer gets its late messages passed on");
    drop_locked(std::string(soonest->first));
  }
  for (const auto& f : filters) filters_.insert(f, client_id);
  relays_[client_id] = {to, std::move(filters), own_up_to, now + hold};
}

void MovedSessionRelays::end(const std::string& client_id) {
  std::lock_guard guard(lock_);
  drop_locked(client_id);
}

std::set<std::string> MovedSessionRelays::targets(const std::string& topic, std::uint64_t seq,
                                                  const std::string& origin) {
  std::set<std::string> to;
  std::lock_guard guard(lock_);
  if (relays_.empty()) return to;
  expire_locked(Clock::now());
  filters_.match(topic, [&](const std::string& client_id) {
    auto it = relays_.find(client_id);
    if (it == relays_.end()) return;
    const Relay& r = it->second;
    if (r.to == origin && seq > r.own_up_to) return;  // in its queues already
    to.insert(r.to);
  });
  return to;
}

void MovedSessionRelays::drop_locked(const std::string& client_id) {
  auto it = relays_.find(client_id);
  if (it == relays_.end()) return;
  for (const auto& f : it->second.filters) filters_.erase(f, client_id);
  relays_.erase(it);
}

void MovedSessionRelays::expire_locked(Clock::time_point now) {
  if (now < next_expiry_) return;
  next_expiry_ = now + std::chrono::seconds(1);
  std::vector<std::string> expired;
  for (const auto& [client_id, r] : relays_)
    if (r.until < now) expired.push_back(client_id);
  for (const auto& client_id : expired) drop_locked(client_id);
}

}  // namespace tidegate
