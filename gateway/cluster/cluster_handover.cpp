#include "gateway/cluster/cluster_handover.hpp"

#include <algorithm>
#include <future>
#include <set>

#include <nlohmann/json.hpp>

#include "gateway/session/inflight_record.hpp"
#include "gateway/ops/log.hpp"
#include "gateway/session/session_end.hpp"
#include "gateway/pipeline/topic_match.hpp"

namespace tidegate {

using json = nlohmann::json;

// A thread running queued tasks in order, with a tick for time-outs.
class SessionHandover::TaskThread {
 public:
  explicit TaskThread(std::function<void()> tick = {}) : tick_(std::move(tick)) {
    thread_ = std::thread([this] { run(); });
  }
  ~TaskThread() { stop(); }
  void post(std::function<void()> task) {
    {
      std::lock_guard guard(lock_);
      if (stopping_) return;
      tasks_.push_back(std::move(task));
    }
    ready_.notify_one();
  }
  void stop() {
    {
      std::lock_guard guard(lock_);
      stopping_ = true;
    }
    ready_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    std::unique_lock guard(lock_);
    for (;;) {
      ready_.wait_for(guard, std::chrono::seconds(1), [this] { return stopping_ || !tasks_.empty(); });
      if (stopping_) return;
      auto tasks = std::move(tasks_);
      tasks_.clear();
      guard.unlock();
      for (auto& task : tasks) task();
      if (tick_) tick_();
      guard.lock();
    }
  }
  std::function<void()> tick_;
  std::mutex lock_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::thread thread_;
};

// On H: owns the client id in the registry while its session is handed over,
// so that the client's old connection gives the session to it (as a local
// takeover gives it to the new connection) and nobody else takes it meanwhile.
class SessionHandover::Holder final : public SessionOwner {
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

SessionHandover::SessionHandover(std::string node, std::shared_ptr<store::JetStreamClient> client,
                                 lookup::Lookup& lookup, Ingest& ingest, cache::QueueCache& cache,
                                 SessionRegistry& registry, std::int64_t timeout_ms, std::size_t max_handover_bytes,
                                 Hooks hooks)
    : node_(std::move(node)),
      lookup_(lookup),
      ingest_(ingest),
      cache_(cache),
      registry_(registry),
      timeout_ms_(timeout_ms),
      // Longer than the new gateway can spend after "take": the parts, its
      // store write and "done", at timeout_ms each.
      hold_(std::max<std::chrono::milliseconds>(kMinHold, std::chrono::milliseconds(10 * timeout_ms))),
      max_handover_bytes_(max_handover_bytes),
      hooks_(std::move(hooks)),
      client_(std::move(client)) {}

SessionHandover::~SessionHandover() { stop(); }

void SessionHandover::start() {
  for (std::size_t i = 0; i < kAskingThreads; ++i) asking_.push_back(std::make_unique<TaskThread>());
  serving_ = std::make_unique<TaskThread>([this] { expire_served(); });
  std::error_code ec;
  request_subscription_ = client_->subscribe(request_subject(node_), [this](std::string_view, std::string_view data,
                                                                            std::string_view reply) {
    serving_->post([this, data = std::string(data), reply = std::string(reply)] {
      std::string answer;
      try {
        answer = serve(data);
      } catch (const std::exception& e) {  // a malformed request (wrong types): answered "none"
        log::warn(std::string("cluster: session handover request ignored: ") + e.what());
      }
      if (!reply.empty()) client_->publish(reply, answer);
    });
  }, ec);
  if (ec) throw store::StoreOpenError("cluster: cannot subscribe to session handover requests: " + ec.message());
}

void SessionHandover::stop() {
  // First: no request handler runs after this (libnats waits for a running one).
  if (request_subscription_) client_->unsubscribe(std::exchange(request_subscription_, 0));
  for (auto& thread : asking_) thread->stop();
  if (serving_) serving_->stop();
  // Sessions handed over and not confirmed stay here.
  for (auto& [client_id, s] : served_) registry_.release(client_id, s.holder.get(), std::move(s.session));
  served_.clear();
}

SessionHandover::Counters SessionHandover::counters() const {
  std::lock_guard guard(counters_lock_);
  return counters_;
}

namespace {

// Waits for a completion on another thread (the asking and serving threads may block).
template <typename T>
T wait_result(std::future<T>& f, std::int64_t timeout_ms, T fallback) {
  if (f.wait_for(std::chrono::milliseconds(timeout_ms)) != std::future_status::ready) return fallback;
  return f.get();
}

// Runs `fn` on scope exit unless dismissed.
class Cleanup {
 public:
  explicit Cleanup(std::function<void()> fn) : fn_(std::move(fn)) {}
  ~Cleanup() {
    if (fn_) fn_();
  }
  Cleanup(const Cleanup&) = delete;
  Cleanup& operator=(const Cleanup&) = delete;
  void dismiss() { fn_ = nullptr; }

 private:
  std::function<void()> fn_;
};

std::string cbor(const json& j) {
  auto bytes = json::to_cbor(j);
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace

void SessionHandover::fetch(const std::string& client_id, std::int64_t connected_ms, Fetched done) {
  auto& thread = *asking_[std::hash<std::string>{}(client_id) % asking_.size()];
  thread.post([this, client_id, connected_ms, done = std::move(done)] {
    FetchResult result;
    try {
      result = fetch_now(client_id, connected_ms);
    } catch (const std::exception& e) {  // a malformed reply
      log::warn("cluster: session '" + client_id + "' not taken over: " + e.what());
      result.retry_later = true;
    }
    done(std::move(result));
  });
}

SessionHandover::FetchResult SessionHandover::fetch_now(const std::string& client_id, std::int64_t connected_ms) {
  // Asked, not claimed: the claim comes with the CONNACK (announce_connect),
  // once the session is here, so a move that fails leaves the lookup naming
  // the gateway that still holds it.
  // While the lookup settles (a gateway just started, members change), wait
  // for it: a new session here would end the one held elsewhere, and with it
  // what was queued for the client.
  auto previous = lookup_.holder_of(client_id, settle_wait());
  if (!previous) {
    log::warn("cluster: session '" + client_id + "' not looked up: the lookup did not settle in " +
              std::to_string(settle_wait().count()) + " ms; the client is asked to come back");
    std::lock_guard guard(counters_lock_);
    ++counters_.failed;
    return {nullptr, true};
  }
  if (!*previous) return {};  // held nowhere else
  const std::string holder = **previous;
  const std::string subject = request_subject(holder);
  auto count_failure = [&](const std::string& why) {
    log::warn("cluster: session '" + client_id + "' not taken over from gateway '" + holder + "': " + why);
    std::lock_guard guard(counters_lock_);
    ++counters_.failed;
  };
  auto ask = [&](json request, std::error_code& ec, std::int64_t timeout_ms) -> std::optional<json> {
    request["client"] = client_id;
    request["from"] = node_;
    auto reply = client_->request(subject, request.dump(), timeout_ms, ec);
    if (ec || !reply) return std::nullopt;
    auto answer = json::from_cbor(*reply, true, false);
    if (answer.is_discarded() || !answer.is_object()) return std::nullopt;
    return answer;
  };

  // 1. Its filters. Asked twice when the first gets no answer: a gateway
  // killed a moment ago is still subscribed until its NATS server has seen
  // its socket close, and the second ask then finds nobody listening.
  std::error_code ec;
  std::optional<json> filters;
  for (std::int64_t wait_ms : {std::min<std::int64_t>(timeout_ms_, 1000), timeout_ms_}) {
    filters = ask({{"op", "filters"}, {"since", connected_ms}}, ec, wait_ms);
    if (filters || store::is_no_responders(ec)) break;
  }
  if (!filters && store::is_no_responders(ec)) {
    // Nobody listens for the holder: it is gone, and its session with it for
    // now. A new session here (the takeover at CONNACK tells it, should it be back).
    count_failure("it is not running");
    return {};
  }
  if (!filters) {
    count_failure(ec ? ec.message() : "no answer");
    return {nullptr, true};
  }
  if (filters->value("busy", false)) {
    count_failure("it is handing the session over already");
    return {nullptr, true};
  }
  if (filters->value("none", false)) return {};

  // 2. Subscribed here before the session leaves H: nothing published from now
  // on can miss both gateways.
  std::map<std::string, Ingest::SubscribeResult> subscribed;  // filter -> queue, start
  auto subscribe = [&](const std::string& filter) -> bool {
    auto promise = std::make_shared<std::promise<std::optional<Ingest::SubscribeResult>>>();
    auto future = promise->get_future();
    ingest_.subscribe(client_id, filter, false,
                      [promise](Ingest::SubscribeResult r) { promise->set_value(std::move(r)); });
    auto result = wait_result(future, timeout_ms_, std::optional<Ingest::SubscribeResult>());
    if (!result) {
      ingest_.unsubscribe(client_id, filter);  // runs after the subscribe, whenever that completes
      return false;
    }
    subscribed[filter] = std::move(*result);
    return true;
  };
  // Whatever way this returns without the session (an exception included):
  // its subscriptions here go, a copy stored here goes, and H parks the
  // session again at once (it ignores an abort for a move it does not hold).
  bool stored_here = false;
  Ingest::SessionProgress unstore;  // what storing it here wrote besides the record
  Cleanup cleanup([&] {
    for (const auto& [filter, r] : subscribed) ingest_.unsubscribe(client_id, filter);
    if (stored_here) {
      ingest_.save_session(client_id, std::nullopt);
      // Erased explicitly too: a store write still pending may land in the
      // same commit as the delete, which removes rows before writing new ones.
      ingest_.save_progress(client_id, std::move(unstore));
    }
    client_->publish(subject, json{{"op", "abort"}, {"client", client_id}, {"from", node_}}.dump());
  });
  auto abort = [&](const std::string& why) -> FetchResult {
    count_failure(why);
    return {nullptr, true};
  };
  for (const auto& f : filters->value("filters", json::array()))
    if (!subscribe(f.get<std::string>())) return abort("subscribing here did not complete");

  // 3. The session, in parts.
  // H may wait up to timeout_ms for the old connection to let go, as long for
  // its fetch thread and as long for its ingest thread.
  // Messages this gateway appended from now on reach the session's queues
  // here (it is subscribed); the other gateway passes on the older ones it
  // receives late.
  const std::uint64_t own_up_to = hooks_.stream_position ? hooks_.stream_position() : UINT64_MAX;
  auto first = ask({{"op", "take"}, {"own_up_to", own_up_to}}, ec, 4 * timeout_ms_);
  const auto taken_at = std::chrono::steady_clock::now();
  if (!first) return abort(ec ? ec.message() : "no answer to take");
  if (first->value("busy", false)) return abort("it is handing the session over already");
  if (first->value("too_large", false))
    return abort("its waiting messages exceed what that gateway hands over at once (its "
                 "cluster.max_handover_bytes); the session stays there");
  if (first->value("none", false) || !first->contains("size")) return {};  // it ended meanwhile (or was not persistent)
  const std::string token = first->value("token", std::string());
  std::string blob;
  const std::size_t size = first->at("size").get<std::size_t>();
  auto append_part = [&](const json& part) {
    const auto& bytes = part.at("data").get_binary();
    blob.append(bytes.begin(), bytes.end());
  };
  append_part(*first);
  while (blob.size() < size) {
    auto part = ask({{"op", "part"}, {"offset", blob.size()}}, ec, timeout_ms_);
    if (!part || !part->contains("data") || part->at("data").get_binary().empty())
      return abort("a part of the session did not arrive");
    append_part(*part);
  }
  auto content = json::from_cbor(blob, true, false);
  std::optional<Session> decoded;
  if (!content.is_discarded() && content.contains("record"))
    decoded = decode_session_record(client_id, content["record"].get<std::string>());
  if (!decoded) return abort("its session record could not be read");
  auto session = std::make_unique<Session>(std::move(*decoded));
  for (const auto& jf : content.value("inflight", json::array())) {
    const auto& rec = jf.at("rec").get_binary();
    auto d = decode_inflight_record(jf.at("pid").get<std::uint16_t>(), std::string(rec.begin(), rec.end()));
    if (!d || !d->inflight.message) continue;  // sent whole by snapshot(); never otherwise
    auto message = std::make_shared<store::Message>(*d->inflight.message);
    message->stream_seq = jf.value("ss", std::uint64_t{0});
    if (message->stream_seq) session->handed_stream_seqs.insert(message->stream_seq);
    d->inflight.message = std::move(message);
    session->inflight.push_back(std::move(d->inflight));
  }

  // Its subscriptions read this gateway's queues from where step 2 started
  // them; a filter added or removed on H meanwhile is followed here.
  for (auto& [filter, sub] : session->subscriptions)
    if (!subscribed.count(filter) && !subscribe(filter)) return abort("subscribing here did not complete");
  for (auto it = subscribed.begin(); it != subscribed.end();) {
    if (session->subscriptions.count(it->first)) {
      ++it;
      continue;
    }
    ingest_.unsubscribe(client_id, it->first);
    it = subscribed.erase(it);
  }
  Ingest::SessionProgress progress;
  for (auto& [filter, sub] : session->subscriptions) {
    const auto& r = subscribed[filter];
    sub.queue = r.queue;
    auto& cursor = session->cursors[r.queue];
    cursor.position = cursor.saved = r.start_after;
    progress.offsets.emplace_back(r.queue, r.start_after);
    if (!parse_shared(filter).group.empty()) ingest_.set_member_online(client_id, filter, false);
  }
  for (const auto& m : session->inflight) progress.inflight.emplace_back(m.packet_id, encode_inflight_record(m));
  // Its handed list starts here with none gone out (over a count a session
  // that ended here once may have left behind).
  progress.offsets.emplace_back(kHandedProgressQueue, 0);
  for (const auto& [queue, position] : progress.offsets) unstore.erased_queues.push_back(queue);
  for (const auto& [packet_id, record] : progress.inflight) unstore.inflight.emplace_back(packet_id, std::nullopt);

  // 4. Durable here before H lets go of it.
  if (session->persistent()) {
    auto promise = std::make_shared<std::promise<std::error_code>>();
    auto future = promise->get_future();
    ingest_.save_progress(client_id, std::move(progress));
    ingest_.save_session(client_id, encode_session_record(*session),
                         [promise](std::error_code e) { promise->set_value(e); });
    stored_here = true;
    auto saved = wait_result(future, timeout_ms_, std::make_error_code(std::errc::timed_out));
    if (saved) return abort("not stored here: " + saved.message());
  }
  if (std::chrono::steady_clock::now() - taken_at > hold_ / 2)
    return abort("too slow: the other gateway may have kept it");  // two copies would diverge
  std::optional<json> confirmed;
  for (int attempt = 0; attempt < 2 && !confirmed; ++attempt)
    confirmed = ask({{"op", "done"}, {"token", token}}, ec, timeout_ms_);
  if (confirmed && !confirmed->value("ok", false))
    // H kept it (it parked it again, or gave it to a connection there).
    return abort("the other gateway did not let it go");
  if (!confirmed)
    // Kept here all the same: H may have ended its copy without our hearing
    // it, and a copy too many (on H, until it expires) is better than none.
    log::warn("cluster: session '" + client_id + "' taken over from gateway '" + holder +
              "' without its confirmation; it may keep a stale copy");
  cleanup.dismiss();
  {
    std::lock_guard guard(counters_lock_);
    ++counters_.fetched;
  }
  log::info("session '" + client_id + "' taken over from gateway '" + holder + "': " +
            std::to_string(session->subscriptions.size()) + " subscription(s), " +
            std::to_string(session->inflight.size()) + " in flight, " + std::to_string(session->handed.size()) +
            " waiting");
  return {std::move(session), false};
}

std::string SessionHandover::serve(const std::string& request) {
  auto j = json::parse(request, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return cbor({{"none", true}});
  const std::string client_id = j.value("client", std::string());
  const std::string op = j.value("op", std::string());
  const std::string from = j.value("from", std::string());
  if (op == "filters") return serve_filters(client_id, j.value("since", std::int64_t{0}), from);
  if (op == "take") return serve_take(client_id, from, j.value("own_up_to", UINT64_MAX));
  if (op == "part") return serve_part(client_id, from, j.value("offset", std::size_t{0}));
  if (op == "done") return serve_done(client_id, from, j.value("token", std::string()));
  if (op == "abort") serve_abort(client_id, from);
  return cbor({{"none", true}});
}

std::string SessionHandover::serve_filters(const std::string& client_id, std::int64_t since, const std::string& from) {
  if (served_.count(client_id)) return cbor({{"busy", true}});
  std::optional<SessionView> view;
  auto owner = registry_.find(client_id, view);
  if (owner) {
    auto promise = std::make_shared<std::promise<std::optional<SessionView>>>();
    auto future = promise->get_future();
    owner->inspect([promise](SessionView v) { promise->set_value(std::move(v)); });
    view = wait_result(future, timeout_ms_, std::optional<SessionView>());
    if (!view) return cbor({{"busy", true}});  // its worker did not answer in time
  }
  if (!view || !view->persistent) {
    // Nothing to move; an older connection here still gives way.
    if (owner && hooks_.takeover) hooks_.takeover(client_id, since, from);
    return cbor({{"none", true}});
  }
  json filters = json::array();
  for (const auto& sub : view->subscriptions) filters.push_back(sub.filter);
  return cbor({{"filters", std::move(filters)}});
}

std::string SessionHandover::serve_take(const std::string& client_id, const std::string& from,
                                        std::uint64_t own_up_to) {
  if (auto it = served_.find(client_id); it != served_.end())
    return it->second.to == from ? serve_part(client_id, from, 0) : cbor({{"busy", true}});
  auto holder = std::make_shared<Holder>(client_id, from);
  bool waiting = false;
  auto session = registry_.claim(client_id, holder, waiting);
  if (waiting && !holder->wait(std::chrono::milliseconds(timeout_ms_), session)) {
    // The old connection has not given it up yet: whatever it gives later
    // is parked here again by expire_served().
    served_[client_id] = {from, holder, nullptr, {}, std::chrono::steady_clock::now(), {}};
    return cbor({{"busy", true}});
  }
  if (!session || !session->persistent()) {
    if (session) end_session(ingest_, *session);
    registry_.release(client_id, holder.get(), nullptr);
    return cbor({{"none", true}});
  }
  // What was published before is in the session's queues (the cache's
  // visible part) once the fetch thread has passed on the messages of
  // other gateways announced so far, and the ingest thread has run
  // everything queued. (A message announced to this gateway before the
  // other one subscribed has had a round trip to arrive here.)
  // A notify for its filters still on its way here (sent before the other
  // gateway subscribed), or read back later by a catch-up, reaches this
  // gateway after the snapshot: the fetch thread passes such messages on to
  // the other gateway from now on (it drops what it has had).
  if (hooks_.moving_out) {
    std::vector<std::string> filters;
    for (const auto& [filter, sub] : session->subscriptions) filters.push_back(filter);
    hooks_.moving_out(client_id, from, std::move(filters), own_up_to, hold_);
  }
  if (hooks_.drain_fetch) hooks_.drain_fetch(std::chrono::milliseconds(timeout_ms_));
  auto promise = std::make_shared<std::promise<bool>>();
  auto future = promise->get_future();
  ingest_.sync([promise] { promise->set_value(true); });
  if (!wait_result(future, timeout_ms_, false)) {
    registry_.release(client_id, holder.get(), std::move(session));  // parked again, as it was
    if (hooks_.stays) hooks_.stays(client_id);
    return cbor({{"busy", true}});
  }
  bool too_large = false;
  std::string blob = snapshot(*session, too_large);
  if (too_large) {
    // Carrying part of it would lose the rest: it stays here, and the client
    // is refused on the other gateway until it comes back here.
    log::warn("session '" + client_id + "' not handed to gateway '" + from + "': its waiting messages exceed " +
              std::to_string(max_handover_bytes_) + " bytes (cluster.max_handover_bytes); it stays here");
    registry_.release(client_id, holder.get(), std::move(session));
    if (hooks_.stays) hooks_.stays(client_id);
    return cbor({{"too_large", true}});
  }
  // Names this move: "done" must carry it (a late "done" for a move given up
  // since must not end a session that is here again).
  std::string token = node_ + "/" + std::to_string(++moves_) + "/" +
                      std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  served_[client_id] = {from, holder, std::move(session), std::move(blob), std::chrono::steady_clock::now() + hold_,
                        std::move(token)};
  return serve_part(client_id, from, 0);
}

std::string SessionHandover::serve_part(const std::string& client_id, const std::string& from, std::size_t offset) {
  auto it = served_.find(client_id);
  if (it == served_.end() || it->second.to != from || !it->second.session || offset > it->second.blob.size())
    return cbor({{"none", true}});
  // Parts well below the NATS server's max_payload (1 MB by default).
  const std::size_t chunk = std::max<std::size_t>(4096, std::min<std::size_t>(256 * 1024, client_->max_payload() / 2));
  const auto& blob = it->second.blob;
  const std::size_t n = std::min(chunk, blob.size() - offset);
  json part = {{"size", blob.size()},
               {"data", json::binary(std::vector<std::uint8_t>(blob.begin() + offset, blob.begin() + offset + n))}};
  if (offset == 0) part["token"] = it->second.token;
  return cbor(part);
}

std::string SessionHandover::serve_done(const std::string& client_id, const std::string& from,
                                        const std::string& token) {
  auto it = served_.find(client_id);
  if (it == served_.end() || it->second.token != token || it->second.to != from || !it->second.session)
    // A repeated "done" (its answer was lost) is answered the same; any other
    // is for a move this gateway no longer holds: it kept the session.
    return cbor({{"ok", !token.empty() && completed_.count(token) > 0}});
  if (it->second.holder->wanted_here()) {
    // The client came back here meanwhile: the session stays, for that connection.
    registry_.release(client_id, it->second.holder.get(), std::move(it->second.session));
    served_.erase(it);
    if (hooks_.stays) hooks_.stays(client_id);
    return cbor({{"ok", false}});
  }
  completed_[token] = std::chrono::steady_clock::now() + hold_;
  // Gone from here without a will: the session goes on on the other gateway.
  end_session(ingest_, *it->second.session);
  registry_.release(client_id, it->second.holder.get(), nullptr);
  served_.erase(it);
  if (hooks_.gone) hooks_.gone(client_id);
  {
    std::lock_guard guard(counters_lock_);
    ++counters_.handed;
  }
  return cbor({{"ok", true}});
}

void SessionHandover::serve_abort(const std::string& client_id, const std::string& from) {
  auto it = served_.find(client_id);
  if (it == served_.end() || it->second.to != from || !it->second.session) return;
  // Parked again as it was: the client's next attempt moves it.
  registry_.release(client_id, it->second.holder.get(), std::move(it->second.session));
  served_.erase(it);
  if (hooks_.stays) hooks_.stays(client_id);
}

void SessionHandover::expire_served() {
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
      std::lock_guard guard(counters_lock_);
      ++counters_.returned;
    }
    if (s.session || now >= s.deadline + hold_) {
      if (s.session && hooks_.stays) hooks_.stays(it->first);
      registry_.release(it->first, s.holder.get(), std::move(s.session));
      it = served_.erase(it);
    } else {
      ++it;
    }
  }
}
std::string SessionHandover::snapshot(Session& session, bool& too_large) {
  // What its queues hold after its positions, merged by sequence as delivery
  // merges them (one message through several subscriptions goes once).
  std::map<std::uint64_t, HandedMessage> waiting;
  const std::uint64_t visible = ingest_.visible_seq();
  std::size_t bytes = 0;
  for (auto& [queue, cursor] : session.cursors) {
    const Subscription* sub = session.subscription_for_queue(queue);
    if (!sub) continue;
    std::uint64_t after = cursor.position;
    for (bool more = true; more;) {
      std::uint64_t gone = 0;
      auto batch = cache_.pull(queue, after, 256, nullptr, &gone);
      after = std::max(after, gone);
      more = !batch.empty();
      for (const auto& m : batch) {
        if (m->seq > visible) {
          more = false;
          break;
        }
        after = m->seq;
        if (sub->options.no_local && m->origin_client_id == session.client_id()) continue;
        if (!waiting.count(m->seq) && bytes + m->footprint() > max_handover_bytes_) {
          too_large = true;
          return {};
        }
        auto& h = waiting[m->seq];
        if (!h.message) bytes += m->footprint();
        h.message = m;
        h.qos = std::max(h.qos, std::min(m->qos, sub->options.qos));
        h.retain = h.retain || (sub->options.retain_as_published && m->retain);
        if (sub->options.subscription_id) h.subscription_ids.push_back(*sub->options.subscription_id);
      }
    }
  }
  // Appended for the record only: the session stays as it was here in case
  // the other gateway never confirms.
  const std::size_t had = session.handed.size();
  std::string had_json = std::move(session.handed_json);
  const std::uint64_t had_taken = session.handed_taken;
  for (auto& [seq, h] : waiting) session.handed.push_back(std::move(h));
  session.rebase_handed();
  std::string record = encode_session_record(session);
  while (session.handed.size() > had) session.handed.pop_back();
  session.handed_json = std::move(had_json);
  session.handed_taken = had_taken;

  json inflight = json::array();
  for (const auto& m : session.inflight) {
    if (!m.message) continue;
    InflightMessage whole = m;
    whole.queues.clear();  // no queue of the other gateway: kept whole there
    auto rec = encode_inflight_record(whole);
    inflight.push_back({{"pid", m.packet_id},
                        {"rec", json::binary(std::vector<std::uint8_t>(rec.begin(), rec.end()))},
                        {"ss", m.message->stream_seq}});
  }
  return cbor({{"record", std::move(record)}, {"inflight", std::move(inflight)}});
}

}  // namespace tidegate
