#include "gateway/admin/session_json.hpp"

#include <cstdio>
#include <ctime>

namespace tidegate::admin {

using nlohmann::json;

json iso_time(std::optional<std::int64_t> ms) {
  if (!ms) return nullptr;
  std::time_t t = *ms / 1000;
  std::tm tm;
  gmtime_r(&t, &tm);
  char buffer[40];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buffer, int(*ms % 1000));
  return out;
}

std::string display_queue(const std::string& queue) { return queue.substr(0, queue.find('\0')); }

json subscription_json(const SessionView::Sub& s) {
  return {{"filter", s.filter},
          {"qos", s.options.qos},
          {"no_local", s.options.no_local},
          {"retain_as_published", s.options.retain_as_published},
          {"retain_handling", s.options.retain_handling},
          {"subscription_id", optional_json(s.options.subscription_id)}};
}

json session_json(const SessionView& v, bool details, std::uint64_t newest_seq) {
  json j = {{"client_id", v.client_id},           {"online", v.online},
            {"address", optional_json(v.address)}, {"username", optional_json(v.username)},
            {"protocol", optional_json(v.protocol)},
            {"connected_since", iso_time(v.online ? v.connected_since_ms : std::nullopt)},
            {"keep_alive", optional_json(v.keep_alive)}, {"persistent", v.persistent},
            {"expiry_interval", v.expiry_interval}};
  if (!v.online) {
    j["address"] = nullptr;
    j["keep_alive"] = nullptr;
  }
  if (!details) return j;
  j["subscriptions"] = json::array();
  for (const auto& s : v.subscriptions) j["subscriptions"].push_back(subscription_json(s));
  j["inflight"] = v.inflight;
  j["messages_in"] = v.traffic.messages_in;
  j["messages_out"] = v.traffic.messages_out;
  j["bytes_in"] = v.traffic.bytes_in;
  j["bytes_out"] = v.traffic.bytes_out;
  j["will"] = nullptr;
  if (v.will)
    j["will"] = {{"topic", v.will->topic},
                 {"qos", v.will->qos},
                 {"retain", v.will->retain},
                 {"bytes", v.will->bytes},
                 {"delay_interval", v.will->delay_interval},
                 {"publish_at", iso_time(v.will->publish_at_ms)}};
  j["queues"] = json::array();
  // lag: how far, in sequence numbers, the queue's newest message is ahead of
  // this session (an upper bound on the messages it has still to take).
  for (const auto& q : v.queues)
    j["queues"].push_back({{"queue", display_queue(q.queue)},
                           {"position", q.position},
                           {"lag", newest_seq > q.position ? newest_seq - q.position : 0}});
  return j;
}

}  // namespace tidegate::admin
