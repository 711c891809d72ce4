#include "gateway/session/session_registry.hpp"

#include <algorithm>

namespace tidegate {

std::unique_ptr<Session> SessionRegistry::claim(const std::string& client_id,
                                                const std::shared_ptr<SessionOwner>& owner, bool& waiting) {
  bool refused = false;
  return claim_as(client_id, nullptr, owner, waiting, refused);
}

std::unique_ptr<Session> SessionRegistry::claim_as(const std::string& client_id, const SessionIdentity* identity,
                                                   const std::shared_ptr<SessionOwner>& owner, bool& waiting,
                                                   bool& refused) {
  std::shared_ptr<SessionOwner> current, overtaken;
  std::unique_ptr<Session> parked;
  refused = false;
  {
    std::lock_guard guard(lock_);
    auto& e = entries_[client_id];
    current = e.owner.lock();
    if (identity) {
      const std::optional<SessionIdentity>& holder =
          current ? e.owner_identity : e.parked ? e.parked->owner : std::optional<SessionIdentity>{};
      if (holder && *holder != *identity) {
        refused = true;  // (the entry stays: it holds that identity's session)
        waiting = false;
        return nullptr;
      }
    }
    if (current) {
      overtaken = e.pending.lock();
      e.pending = owner;
      e.pending_identity = identity ? std::optional<SessionIdentity>(*identity) : std::nullopt;
    } else {
      e.owner = owner;
      e.owner_identity = identity ? std::optional<SessionIdentity>(*identity) : std::nullopt;
      parked = std::move(e.parked);
    }
  }
  waiting = current != nullptr;
  if (overtaken) overtaken->superseded();
  if (current) current->take_over();
  return parked;
}

void SessionRegistry::release(const std::string& client_id, const SessionOwner* owner,
                              std::unique_ptr<Session> session) {
  std::shared_ptr<SessionOwner> next;
  {
    std::lock_guard guard(lock_);
    auto it = entries_.find(client_id);
    if (it == entries_.end()) return;
    auto& e = it->second;
    auto current = e.owner.lock();
    if (current && current.get() != owner) return;  // not ours any more
    next = e.pending.lock();
    e.pending.reset();
    if (next) {
      e.owner = next;
      e.owner_identity = std::move(e.pending_identity);
    } else {
      e.owner.reset();
      if (session)
        e.parked = std::move(session);
      else
        entries_.erase(it);
    }
  }
  if (next) next->session_handed(std::move(session));
}

void SessionRegistry::park(std::unique_ptr<Session> session) {
  std::lock_guard guard(lock_);
  auto id = session->client_id();
  entries_[id].parked = std::move(session);
}

std::unique_ptr<Session> SessionRegistry::unpark(const std::string& client_id) {
  std::lock_guard guard(lock_);
  auto it = entries_.find(client_id);
  if (it == entries_.end() || !it->second.parked || it->second.owner.lock()) return nullptr;
  auto session = std::move(it->second.parked);
  entries_.erase(it);
  return session;
}

void SessionRegistry::sweep(std::int64_t now_ms) {
  std::vector<std::pair<std::string, mqtt::Will>> wills;
  std::vector<std::unique_ptr<Session>> ended;
  {
    std::lock_guard guard(lock_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      auto& s = it->second.parked;
      if (!s || it->second.owner.lock()) {
        ++it;
        continue;
      }
      bool expired = s->expiry_interval != kSessionNeverExpires &&
                     now_ms >= s->disconnected_at_ms + std::int64_t(s->expiry_interval) * 1000;
      if (s->pending_will && (expired || now_ms >= s->pending_will->publish_at_ms)) {
        wills.emplace_back(s->client_id(), std::move(s->pending_will->will));
        s->pending_will.reset();
      }
      if (expired) {
        ended.push_back(std::move(s));
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
    // Still under the lock: the hooks only queue commands for the ingest
    // thread, and a client claiming the same id now must queue its own after
    // ours (its session record would otherwise be erased by our end_session).
    for (auto& [id, will] : wills) hooks_.publish_will(id, std::move(will));
    for (auto& s : ended) hooks_.end_session(std::move(s));
  }
}

void describe_session(const Session& session, bool details, SessionView& view) {
  view.client_id = session.client_id();
  view.username = session.owner ? session.owner->username : std::nullopt;
  view.persistent = session.persistent();
  view.expiry_interval = session.expiry_interval;
  view.inflight = session.inflight.size();
  if (!details) return;
  view.traffic = session.traffic;
  for (const auto& [filter, sub] : session.subscriptions) view.subscriptions.push_back({filter, sub.options});
  for (const auto& [queue, cursor] : session.cursors) view.queues.push_back({queue, cursor.position});
  // Online: the connection's will; offline: the one waiting out its Will Delay.
  const mqtt::Will* w = session.will ? session.will.get() : session.pending_will ? &session.pending_will->will : nullptr;
  if (w) {
    view.will = SessionView::WillView{w->topic, w->qos, w->retain, w->payload.size(),
                                      w->properties.will_delay_interval.value_or(0)};
    if (!session.will) view.will->publish_at_ms = session.pending_will->publish_at_ms;
  }
}

std::vector<SessionView> SessionRegistry::list() const {
  std::vector<SessionView> out;
  std::lock_guard guard(lock_);
  for (const auto& [id, e] : entries_) {
    if (auto owner = e.owner.lock()) {
      out.push_back(owner->summary());
    } else if (e.parked) {
      SessionView v;
      describe_session(*e.parked, false, v);
      out.push_back(std::move(v));
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.client_id < b.client_id; });
  return out;
}

std::shared_ptr<SessionOwner> SessionRegistry::find(const std::string& client_id,
                                                    std::optional<SessionView>& parked_view) const {
  std::lock_guard guard(lock_);
  auto it = entries_.find(client_id);
  if (it == entries_.end()) return nullptr;
  if (auto owner = it->second.owner.lock()) return owner;
  if (it->second.parked) {
    parked_view.emplace();
    describe_session(*it->second.parked, true, *parked_view);
  }
  return nullptr;
}

bool SessionRegistry::end_parked(const std::string& client_id) {
  std::lock_guard guard(lock_);
  auto it = entries_.find(client_id);
  if (it == entries_.end() || !it->second.parked || it->second.owner.lock()) return false;
  auto session = std::move(it->second.parked);
  entries_.erase(it);
  hooks_.end_session(std::move(session));  // queued under the lock, as in sweep()
  return true;
}

std::size_t SessionRegistry::online() const {
  std::lock_guard guard(lock_);
  std::size_t n = 0;
  for (const auto& [id, e] : entries_) n += e.owner.expired() ? 0 : 1;
  return n;
}

std::size_t SessionRegistry::parked() const {
  std::lock_guard guard(lock_);
  std::size_t n = 0;
  for (const auto& [id, e] : entries_) n += e.parked ? 1 : 0;
  return n;
}

}  // namespace tidegate
