#include "gateway/cluster/cluster_session_fetch.hpp"

#include <algorithm>
#include <future>

#include "gateway/ops/log.hpp"
#include "gateway/pipeline/topic_match.hpp"
#include "gateway/session/inflight_record.hpp"

namespace tidegate {

using handover::wait_result;

namespace {
// How long a CONNECT waits for the lookup to settle before it is refused
// (0x88, come back later): request_timeout_ms, at least kMinSettleWait.
constexpr std::chrono::milliseconds kMinSettleWait{5000};
}  // namespace

SessionFetch::~SessionFetch() {
  if (armed_) undo();
}

SessionFetchResult SessionFetch::run() {
  if (auto end = find_holder()) return std::move(*end);
  json filters;
  if (auto end = ask_filters(filters)) return std::move(*end);
  // From here on, whatever way this returns without the session (an
  // exception included): its subscriptions here go, a copy stored here goes,
  // and H parks the session again at once (it ignores an abort for a move it
  // does not hold).
  armed_ = true;
  // 2. Subscribed here before the session leaves H: nothing published from now
  // on can miss both gateways.
  for (const auto& f : filters.value("filters", json::array()))
    if (!subscribe(f.get<std::string>())) return abort("subscribing here did not complete");
  std::string blob, token;
  std::chrono::steady_clock::time_point taken_at;
  if (auto end = take(blob, token, taken_at)) return std::move(*end);
  auto session = decode(blob);
  if (!session) return abort("its session record could not be read");
  if (!follow_subscriptions(*session)) return abort("subscribing here did not complete");
  // 4. Durable here before H lets go of it.
  if (auto why = store(*session, positions(*session)); !why.empty()) return abort(why);
  if (std::chrono::steady_clock::now() - taken_at > env_.hold / 2)
    return abort("too slow: the other gateway may have kept it");  // two copies would diverge
  if (auto end = confirm(token)) return std::move(*end);
  armed_ = false;
  env_.counters.add(&HandoverCounters::Counts::fetched);
  log::info("session '" + client_id_ + "' taken over from gateway '" + holder_ + "': " +
            std::to_string(session->subscriptions.size()) + " subscription(s), " +
            std::to_string(session->inflight.size()) + " in flight, " + std::to_string(session->handed.size()) +
            " waiting");
  return {std::move(session), false};
}

std::optional<SessionFetchResult> SessionFetch::find_holder() {
  // Asked, not claimed: the claim comes with the CONNACK (announce_connect),
  // once the session is here, so a move that fails leaves the lookup naming
  // the gateway that still holds it.
  // While the lookup settles (a gateway just started, members change), wait
  // for it: a new session here would end the one held elsewhere, and with it
  // what was queued for the client.
  const auto settle_wait = std::max(kMinSettleWait, std::chrono::milliseconds(env_.timeout_ms));
  auto previous = env_.lookup.holder_of(client_id_, settle_wait);
  if (!previous) {
    log::warn("cluster: session '" + client_id_ + "' not looked up: the lookup did not settle in " +
              std::to_string(settle_wait.count()) + " ms; the client is asked to come back");
    env_.counters.add(&HandoverCounters::Counts::failed);
    return SessionFetchResult{nullptr, true};
  }
  if (!*previous) return SessionFetchResult{};  // held nowhere else
  holder_ = **previous;
  subject_ = handover::request_subject(holder_);
  return std::nullopt;
}

std::optional<SessionFetchResult> SessionFetch::ask_filters(json& filters) {
  // 1. Its filters. Asked twice when the first gets no answer: a gateway
  // killed a moment ago is still subscribed until its NATS server has seen
  // its socket close, and the second ask then finds nobody listening.
  std::optional<json> answer;
  for (std::int64_t wait_ms : {std::min<std::int64_t>(env_.timeout_ms, 1000), env_.timeout_ms}) {
    answer = ask({{"op", "filters"}, {"since", connected_ms_}}, wait_ms);
    if (answer || store::is_no_responders(ec_)) break;
  }
  if (!answer && store::is_no_responders(ec_)) {
    // Nobody listens for the holder: it is gone, and its session with it for
    // now. A new session here (the takeover at CONNACK tells it, should it be back).
    count_failure("it is not running");
    return SessionFetchResult{};
  }
  if (!answer) return abort(ec_ ? ec_.message() : "no answer");
  if (answer->value("busy", false)) return abort("it is handing the session over already");
  if (answer->value("none", false)) return SessionFetchResult{};
  filters = std::move(*answer);
  return std::nullopt;
}

std::optional<SessionFetchResult> SessionFetch::take(std::string& blob, std::string& token,
                                                     std::chrono::steady_clock::time_point& taken_at) {
  // 3. The session, in parts.
  // H may wait up to timeout_ms for the old connection to let go, as long for
  // its fetch thread and as long for its ingest thread.
  // Messages this gateway appended from now on reach the session's queues
  // here (it is subscribed); the other gateway passes on the older ones it
  // receives late.
  const std::uint64_t own_up_to = env_.hooks.stream_position ? env_.hooks.stream_position() : UINT64_MAX;
  auto first = ask({{"op", "take"}, {"own_up_to", own_up_to}}, 4 * env_.timeout_ms);
  taken_at = std::chrono::steady_clock::now();
  if (!first) return abort(ec_ ? ec_.message() : "no answer to take");
  if (first->value("busy", false)) return abort("it is handing the session over already");
  if (first->value("too_large", false))
    return abort("its waiting messages exceed what that gateway hands over at once (its "
                 "cluster.max_handover_bytes); the session stays there");
  if (first->value("none", false) || !first->contains("size"))
    return SessionFetchResult{};  // it ended meanwhile (or was not persistent)
  token = first->value("token", std::string());
  const std::size_t size = first->at("size").get<std::size_t>();
  auto append_part = [&](const json& part) {
    const auto& bytes = part.at("data").get_binary();
    blob.append(bytes.begin(), bytes.end());
  };
  append_part(*first);
  while (blob.size() < size) {
    auto part = ask({{"op", "part"}, {"offset", blob.size()}}, env_.timeout_ms);
    if (!part || !part->contains("data") || part->at("data").get_binary().empty())
      return abort("a part of the session did not arrive");
    append_part(*part);
  }
  return std::nullopt;
}

std::unique_ptr<Session> SessionFetch::decode(const std::string& blob) {
  auto content = json::from_cbor(blob, true, false);
  std::optional<Session> decoded;
  if (!content.is_discarded() && content.contains("record"))
    decoded = decode_session_record(client_id_, content["record"].get<std::string>());
  if (!decoded) return nullptr;
  auto session = std::make_unique<Session>(std::move(*decoded));
  for (const auto& jf : content.value("inflight", json::array())) {
    const auto& rec = jf.at("rec").get_binary();
    auto d = decode_inflight_record(jf.at("pid").get<std::uint16_t>(), std::string(rec.begin(), rec.end()));
    if (!d || !d->inflight.message) continue;  // sent whole by the snapshot; never otherwise
    auto message = std::make_shared<store::Message>(*d->inflight.message);
    message->stream_seq = jf.value("ss", std::uint64_t{0});
    if (message->stream_seq) session->handed_stream_seqs.insert(message->stream_seq);
    d->inflight.message = std::move(message);
    session->inflight.push_back(std::move(d->inflight));
  }
  return session;
}

bool SessionFetch::follow_subscriptions(Session& session) {
  // Its subscriptions read this gateway's queues from where step 2 started
  // them; a filter added or removed on H meanwhile is followed here.
  for (auto& [filter, sub] : session.subscriptions)
    if (!subscribed_.count(filter) && !subscribe(filter)) return false;
  for (auto it = subscribed_.begin(); it != subscribed_.end();) {
    if (session.subscriptions.count(it->first)) {
      ++it;
      continue;
    }
    env_.ingest.unsubscribe(client_id_, it->first);
    it = subscribed_.erase(it);
  }
  return true;
}

Ingest::SessionProgress SessionFetch::positions(Session& session) {
  Ingest::SessionProgress progress;
  for (auto& [filter, sub] : session.subscriptions) {
    const auto& r = subscribed_[filter];
    sub.queue = r.queue;
    auto& cursor = session.cursors[r.queue];
    cursor.position = cursor.saved = r.start_after;
    progress.offsets.emplace_back(r.queue, r.start_after);
    if (!parse_shared(filter).group.empty()) env_.ingest.set_member_online(client_id_, filter, false);
  }
  for (const auto& m : session.inflight) progress.inflight.emplace_back(m.packet_id, encode_inflight_record(m));
  // Its handed list starts here with none gone out (over a count a session
  // that ended here once may have left behind).
  progress.offsets.emplace_back(kHandedProgressQueue, 0);
  for (const auto& [queue, position] : progress.offsets) unstore_.erased_queues.push_back(queue);
  for (const auto& [packet_id, record] : progress.inflight) unstore_.inflight.emplace_back(packet_id, std::nullopt);
  return progress;
}

std::string SessionFetch::store(Session& session, Ingest::SessionProgress progress) {
  if (!session.persistent()) return {};
  auto promise = std::make_shared<std::promise<std::error_code>>();
  auto future = promise->get_future();
  env_.ingest.save_progress(client_id_, std::move(progress));
  env_.ingest.save_session(client_id_, encode_session_record(session),
                           [promise](std::error_code e) { promise->set_value(e); });
  stored_here_ = true;
  auto saved = wait_result(future, env_.timeout_ms, std::make_error_code(std::errc::timed_out));
  return saved ? "not stored here: " + saved.message() : std::string();
}

std::optional<SessionFetchResult> SessionFetch::confirm(const std::string& token) {
  std::optional<json> confirmed;
  for (int attempt = 0; attempt < 2 && !confirmed; ++attempt)
    confirmed = ask({{"op", "done"}, {"token", token}}, env_.timeout_ms);
  if (confirmed && !confirmed->value("ok", false))
    // H kept it (it parked it again, or gave it to a connection there).
    return abort("the other gateway did not let it go");
  if (!confirmed)
    // Kept here all the same: H may have ended its copy without our hearing
    // it, and a copy too many (on H, until it expires) is better than none.
    log::warn("cluster: session '" + client_id_ + "' taken over from gateway '" + holder_ +
              "' without its confirmation; it may keep a stale copy");
  return std::nullopt;
}

std::optional<handover::json> SessionFetch::ask(json request, std::int64_t timeout_ms) {
  request["client"] = client_id_;
  request["from"] = env_.node;
  auto reply = env_.client.request(subject_, request.dump(), timeout_ms, ec_);
  if (ec_ || !reply) return std::nullopt;
  auto answer = json::from_cbor(*reply, true, false);
  if (answer.is_discarded() || !answer.is_object()) return std::nullopt;
  return answer;
}

bool SessionFetch::subscribe(const std::string& filter) {
  auto promise = std::make_shared<std::promise<std::optional<Ingest::SubscribeResult>>>();
  auto future = promise->get_future();
  env_.ingest.subscribe(client_id_, filter, false,
                        [promise](Ingest::SubscribeResult r) { promise->set_value(std::move(r)); });
  auto result = wait_result(future, env_.timeout_ms, std::optional<Ingest::SubscribeResult>());
  if (!result) {
    env_.ingest.unsubscribe(client_id_, filter);  // runs after the subscribe, whenever that completes
    return false;
  }
  subscribed_[filter] = std::move(*result);
  return true;
}

void SessionFetch::count_failure(const std::string& why) {
  log::warn("cluster: session '" + client_id_ + "' not taken over from gateway '" + holder_ + "': " + why);
  env_.counters.add(&HandoverCounters::Counts::failed);
}

SessionFetchResult SessionFetch::abort(const std::string& why) {
  count_failure(why);
  return {nullptr, true};
}

void SessionFetch::undo() {
  for (const auto& [filter, r] : subscribed_) env_.ingest.unsubscribe(client_id_, filter);
  if (stored_here_) {
    env_.ingest.save_session(client_id_, std::nullopt);
    // Erased explicitly too: a store write still pending may land in the
    // same commit as the delete, which removes rows before writing new ones.
    env_.ingest.save_progress(client_id_, std::move(unstore_));
  }
  env_.client.publish(subject_, json{{"op", "abort"}, {"client", client_id_}, {"from", env_.node}}.dump());
}

}  // namespace tidegate
