#include "gateway/cluster/cluster_session_serve.hpp"

#include <algorithm>
#include <condition_variable>
#include <future>
#include <mutex>

#include "gateway/cluster/cluster_session_snapshot.hpp"
#include "gateway/ops/log.hpp"
#include "gateway/session/session_end.hpp"

namespace tidegate {

using handover::cbor;
using handover::wait_result;

// On H: owns the client id in the registry while its session is handed over,
// so that the client's old connection gives the session to it (as a local
// takeover gives it to the new connection) and nobody else takes it meanwhile.
// Called on the client's worker (session_handed, take_over) and on the
// serving thread; one lock.
class SessionServer::Holder final : public SessionOwner {
 public:
  Holder(std::string client_id, std::string to) : client_id_(std::move(client_id)), to_(std::move(to)) {}
  SessionView summary() const override {
    SessionView v;
    v.client_id = client_id_;
    v.online = true;
    v.address = "handover to gateway " + to_;
    return v;
  }
  void inspect(std::function<void(SessionView)> done) override { done(summary()); }
  void kick(bool) override {}
  // A connection here claims the client id meanwhile: it waits for our
  // release, and the move is refused at "done" so that it gets the session.
  void take_over() override {
    std::lock_guard guard(lock_);
    wanted_here_ = true;
  }
  bool wanted_here() {
    std::lock_guard guard(lock_);
    return wanted_here_;
  }
  void superseded() override {}
  void taken_over_elsewhere(std::int64_t, bool, std::function<void(std::int64_t)>) override {}
  void session_handed(std::unique_ptr<Session> session) override {
    std::lock_guard guard(lock_);
    handed_ = true;
    session_ = std::move(session);
    ready_.notify_all();
  }
  // Waits (bounded) for the old connection to give the session up.
  bool wait(std::chrono::milliseconds timeout, std::unique_ptr<Session>& session) {
    std::unique_lock guard(lock_);
    if (!ready_.wait_for(guard, timeout, [this] { return handed_; })) return false;
    session = std::move(session_);
    return true;
  }

 private:
  std::string client_id_, to_;
  std::mutex lock_;
  std::condition_variable ready_;
  bool handed_ = false;
  bool wanted_here_ = false;
  std::unique_ptr<Session> session_;
};

std::string SessionServer::serve(const std::string& request) {
  auto j = json::parse(request, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return cbor({{"none", true}});
  const std::string client_id = j.value("client", std::string());
  const std::string op = j.value("op", std::string());
  const std::string from = j.value("from", std::string());
  if (op == "filters") return filters(client_id, j.value("since", std::int64_t{0}), from);
  if (op == "take") return take(client_id, from, j.value("own_up_to", UINT64_MAX));
  if (op == "part") return part(client_id, from, j.value("offset", std::size_t{0}));
  if (op == "done") return done(client_id, from, j.value("token", std::string()));
  if (op == "abort") abort(client_id, from);
  return cbor({{"none", true}});
}

std::string SessionServer::filters(const std::string& client_id, std::int64_t since, const std::string& from) {
  if (served_.count(client_id)) return cbor({{"busy", true}});
  std::optional<SessionView> view;
  auto owner = env_.registry.find(client_id, view);
  if (owner) {
    auto promise = std::make_shared<std::promise<std::optional<SessionView>>>();
    auto future = promise->get_future();
    owner->inspect([promise](SessionView v) { promise->set_value(std::move(v)); });
    view = wait_result(future, env_.timeout_ms, std::optional<SessionView>());
    if (!view) return cbor({{"busy", true}});  // its worker did not answer in time
  }
  if (!view || !view->persistent) {
    // Nothing to move; an older connection here still gives way.
    if (owner && env_.hooks.takeover) env_.hooks.takeover(client_id, since, from);
    return cbor({{"none", true}});
  }
  json filters = json::array();
  for (const auto& sub : view->subscriptions) filters.push_back(sub.filter);
  return cbor({{"filters", std::move(filters)}});
}

std::string SessionServer::take(const std::string& client_id, const std::string& from, std::uint64_t own_up_to) {
  if (auto it = served_.find(client_id); it != served_.end())
    return it->second.to == from ? part(client_id, from, 0) : cbor({{"busy", true}});
  auto holder = std::make_shared<Holder>(client_id, from);
  std::unique_ptr<Session> session;
  if (auto refused = claim(client_id, from, holder, session)) return *refused;
  if (!settle(client_id, from, own_up_to, holder, session)) return cbor({{"busy", true}});
  bool too_large = false;
  std::string blob = snapshot_session(*session, env_.cache, env_.ingest.visible_seq(), env_.max_handover_bytes,
                                      too_large);
  if (too_large) {
    // Carrying part of it would lose the rest: it stays here, and the client
    // is refused on the other gateway until it comes back here.
    log::warn("session '" + client_id + "' not handed to gateway '" + from + "': its waiting messages exceed " +
              std::to_string(env_.max_handover_bytes) + " bytes (cluster.max_handover_bytes); it stays here");
    park_again(client_id, holder.get(), std::move(session));
    return cbor({{"too_large", true}});
  }
  // Names this move: "done" must carry it (a late "done" for a move given up
  // since must not end a session that is here again).
  std::string token = env_.node + "/" + std::to_string(++moves_) + "/" +
                      std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  served_[client_id] = {from, holder, std::move(session), std::move(blob),
                        std::chrono::steady_clock::now() + env_.hold, std::move(token)};
  return part(client_id, from, 0);
}

std::optional<std::string> SessionServer::claim(const std::string& client_id, const std::string& from,
                                                const std::shared_ptr<Holder>& holder,
                                                std::unique_ptr<Session>& session) {
  bool waiting = false;
  session = env_.registry.claim(client_id, holder, waiting);
  if (waiting && !holder->wait(std::chrono::milliseconds(env_.timeout_ms), session)) {
    // The old connection has not given it up yet: whatever it gives later
    // is parked here again by expire().
    served_[client_id] = {from, holder, nullptr, {}, std::chrono::steady_clock::now(), {}};
    return cbor({{"busy", true}});
  }
  if (!session || !session->persistent()) {
    if (session) end_session(env_.ingest, *session);
    env_.registry.release(client_id, holder.get(), nullptr);
    return cbor({{"none", true}});
  }
  return std::nullopt;
}

bool SessionServer::settle(const std::string& client_id, const std::string& from, std::uint64_t own_up_to,
                           const std::shared_ptr<Holder>& holder, std::unique_ptr<Session>& session) {
  // What was published before is in the session's queues (the cache's
  // visible part) once the fetch thread has passed on the messages of
  // other gateways announced so far, and the ingest thread has run
  // everything queued. (A message announced to this gateway before the
  // other one subscribed has had a round trip to arrive here.)
  // A notify for its filters still on its way here (sent before the other
  // gateway subscribed), or read back later by a catch-up, reaches this
  // gateway after the snapshot: the fetch thread passes such messages on to
  // the other gateway from now on (it drops what it has had).
  if (env_.hooks.moving_out) {
    std::vector<std::string> filters;
    for (const auto& [filter, sub] : session->subscriptions) filters.push_back(filter);
    env_.hooks.moving_out(client_id, from, std::move(filters), own_up_to, env_.hold);
  }
  if (env_.hooks.drain_fetch) env_.hooks.drain_fetch(std::chrono::milliseconds(env_.timeout_ms));
  auto promise = std::make_shared<std::promise<bool>>();
  auto future = promise->get_future();
  env_.ingest.sync([promise] { promise->set_value(true); });
  if (wait_result(future, env_.timeout_ms, false)) return true;
  park_again(client_id, holder.get(), std::move(session));
  return false;
}

std::string SessionServer::part(const std::string& client_id, const std::string& from, std::size_t offset) {
  auto it = served_.find(client_id);
  if (it == served_.end() || it->second.to != from || !it->second.session || offset > it->second.blob.size())
    return cbor({{"none", true}});
  // Parts well below the NATS server's max_payload (1 MB by default).
  const std::size_t chunk =
      std::max<std::size_t>(4096, std::min<std::size_t>(256 * 1024, env_.client.max_payload() / 2));
  const auto& blob = it->second.blob;
  const std::size_t n = std::min(chunk, blob.size() - offset);
  json part = {{"size", blob.size()},
               {"data", json::binary(std::vector<std::uint8_t>(blob.begin() + offset, blob.begin() + offset + n))}};
  if (offset == 0) part["token"] = it->second.token;
  return cbor(part);
}

std::string SessionServer::done(const std::string& client_id, const std::string& from, const std::string& token) {
  auto it = served_.find(client_id);
  if (it == served_.end() || it->second.token != token || it->second.to != from || !it->second.session)
    // A repeated "done" (its answer was lost) is answered the same; any other
    // is for a move this gateway no longer holds: it kept the session.
    return cbor({{"ok", !token.empty() && completed_.count(token) > 0}});
  if (it->second.holder->wanted_here()) {
    // The client came back here meanwhile: the session stays, for that connection.
    env_.registry.release(client_id, it->second.holder.get(), std::move(it->second.session));
    served_.erase(it);
    if (env_.hooks.stays) env_.hooks.stays(client_id);
    return cbor({{"ok", false}});
  }
  completed_[token] = std::chrono::steady_clock::now() + env_.hold;
  // Gone from here without a will: the session goes on on the other gateway.
  end_session(env_.ingest, *it->second.session);
  env_.registry.release(client_id, it->second.holder.get(), nullptr);
  served_.erase(it);
  if (env_.hooks.gone) env_.hooks.gone(client_id);
  env_.counters.add(&HandoverCounters::Counts::handed);
  return cbor({{"ok", true}});
}

void SessionServer::abort(const std::string& client_id, const std::string& from) {
  auto it = served_.find(client_id);
  if (it == served_.end() || it->second.to != from || !it->second.session) return;
  // Parked again as it was: the client's next attempt moves it.
  env_.registry.release(client_id, it->second.holder.get(), std::move(it->second.session));
  served_.erase(it);
  if (env_.hooks.stays) env_.hooks.stays(client_id);
}

void SessionServer::park_again(const std::string& client_id, Holder* holder, std::unique_ptr<Session> session) {
  env_.registry.release(client_id, holder, std::move(session));
  if (env_.hooks.stays) env_.hooks.stays(client_id);
}

void SessionServer::expire() {
  auto now = std::chrono::steady_clock::now();
  std::erase_if(completed_, [&](const auto& c) { return c.second < now; });
  for (auto it = served_.begin(); it != served_.end();) {
    auto& s = it->second;
    if (!s.session) s.holder->wait(std::chrono::milliseconds(0), s.session);  // given up late
    if (now < s.deadline && s.session) {
      ++it;
      continue;
    }
    if (s.session && !s.blob.empty()) {
      log::warn("session '" + it->first + "' stays here: gateway '" + s.to + "' did not confirm taking it");
      env_.counters.add(&HandoverCounters::Counts::returned);
    }
    if (s.session || now >= s.deadline + env_.hold) {
      if (s.session && env_.hooks.stays) env_.hooks.stays(it->first);
      env_.registry.release(it->first, s.holder.get(), std::move(s.session));
      it = served_.erase(it);
    } else {
      ++it;
    }
  }
}

void SessionServer::release_all() {
  for (auto& [client_id, s] : served_) env_.registry.release(client_id, s.holder.get(), std::move(s.session));
  served_.clear();
}

}  // namespace tidegate
