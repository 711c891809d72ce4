#include "gateway/cluster/cluster_session_snapshot.hpp"

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include "gateway/cluster/cluster_handover_common.hpp"
#include "gateway/session/inflight_record.hpp"

namespace tidegate {

using json = nlohmann::json;

namespace {

// What the session's queues hold after its positions, merged by sequence as
// delivery merges them (one message through several subscriptions goes
// once). False: more than `max_bytes`.
bool collect_waiting(Session& session, cache::QueueCache& cache, std::uint64_t visible, std::size_t max_bytes,
                     std::map<std::uint64_t, HandedMessage>& waiting) {
  std::size_t bytes = 0;
  for (auto& [queue, cursor] : session.cursors) {
    const Subscription* sub = session.subscription_for_queue(queue);
    if (!sub) continue;
    std::uint64_t after = cursor.position;
    for (bool more = true; more;) {
      std::uint64_t gone = 0;
      auto batch = cache.pull(queue, after, 256, nullptr, &gone);
      after = std::max(after, gone);
      more = !batch.empty();
      for (const auto& m : batch) {
        if (m->seq > visible) {
          more = false;
          break;
        }
        after = m->seq;
        if (sub->options.no_local && m->origin_client_id == session.client_id()) continue;
        if (!waiting.count(m->seq) && bytes + m->footprint() > max_bytes) return false;
        auto& h = waiting[m->seq];
        if (!h.message) bytes += m->footprint();
        h.message = m;
        h.qos = std::max(h.qos, std::min(m->qos, sub->options.qos));
        h.retain = h.retain || (sub->options.retain_as_published && m->retain);
        if (sub->options.subscription_id) h.subscription_ids.push_back(*sub->options.subscription_id);
      }
    }
  }
  return true;
}

// The record with `waiting` appended to its handed messages, for the record
// only: the session stays as it was here.
std::string record_with(Session& session, std::map<std::uint64_t, HandedMessage>& waiting) {
  const std::size_t had = session.handed.size();
  std::string had_json = std::move(session.handed_json);
  const std::uint64_t had_taken = session.handed_taken;
  for (auto& [seq, h] : waiting) session.handed.push_back(std::move(h));
  session.rebase_handed();
  std::string record = encode_session_record(session);
  while (session.handed.size() > had) session.handed.pop_back();
  session.handed_json = std::move(had_json);
  session.handed_taken = had_taken;
  return record;
}

json inflight_json(const Session& session) {
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
  return inflight;
}

}  // namespace

std::string snapshot_session(Session& session, cache::QueueCache& cache, std::uint64_t visible,
                             std::size_t max_bytes, bool& too_large) {
  std::map<std::uint64_t, HandedMessage> waiting;
  if (!collect_waiting(session, cache, visible, max_bytes, waiting)) {
    too_large = true;
    return {};
  }
  std::string record = record_with(session, waiting);
  return handover::cbor({{"record", std::move(record)}, {"inflight", inflight_json(session)}});
}

}  // namespace tidegate
