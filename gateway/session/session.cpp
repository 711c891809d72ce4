#include "gateway/session/session.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "storeclient/message_codec.hpp"

namespace tidegate {

std::uint16_t Session::allocate_packet_id() {
  for (;;) {
    std::uint16_t id = next_packet_id_++;
    if (next_packet_id_ == 0) next_packet_id_ = 1;
    if (id == 0) continue;
    if (!find_inflight(id)) return id;
  }
}

InflightMessage* Session::find_inflight(std::uint16_t packet_id) {
  for (auto& m : inflight)
    if (m.packet_id == packet_id) return &m;
  return nullptr;
}

std::vector<std::string> Session::erase_inflight(std::uint16_t packet_id) {
  auto it = std::find_if(inflight.begin(), inflight.end(), [&](const auto& m) { return m.packet_id == packet_id; });
  if (it == inflight.end()) return {};
  auto queues = std::move(it->queues);
  inflight.erase(it);
  return queues;
}

std::uint64_t Session::committed(const std::string& queue) const {
  auto cursor = cursors.find(queue);
  if (cursor == cursors.end()) return 0;
  std::uint64_t c = cursor->second.position;
  for (const auto& m : inflight) {
    if (m.pubrec_received || !m.message) continue;  // QoS 2 after PUBREC: the client owns it
    if (std::find(m.queues.begin(), m.queues.end(), queue) != m.queues.end()) c = std::min(c, m.message->seq - 1);
  }
  return c;
}

const Subscription* Session::subscription_for_queue(const std::string& queue) const {
  for (const auto& [filter, sub] : subscriptions)
    if (sub.queue == queue) return &sub;
  return nullptr;
}

namespace {
using nlohmann::json;

// Binary fields (payload, correlation data) as hex: JSON text has no bytes.
std::string to_hex(std::string_view bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::string from_hex(const std::string& hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    throw std::invalid_argument("bad hex");
  };
  if (hex.size() % 2) throw std::invalid_argument("bad hex length");
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) out.push_back(static_cast<char>(nibble(hex[i]) * 16 + nibble(hex[i + 1])));
  return out;
}

json will_to_json(const mqtt::Will& w) {
  json j = {{"topic", w.topic}, {"payload", to_hex(w.payload)},
            {"qos", w.qos}, {"retain", w.retain}};
  const auto& p = w.properties;
  if (p.will_delay_interval) j["will_delay"] = *p.will_delay_interval;
  if (p.message_expiry_interval) j["expiry"] = *p.message_expiry_interval;
  if (p.payload_format_indicator) j["pfi"] = *p.payload_format_indicator;
  if (p.content_type) j["content_type"] = *p.content_type;
  if (p.response_topic) j["response_topic"] = *p.response_topic;
  if (p.correlation_data)
    j["correlation"] = to_hex(*p.correlation_data);
  for (const auto& u : p.user_properties) j["user"].push_back({u.key, u.value});
  return j;
}

mqtt::Will will_from_json(const json& j) {
  mqtt::Will w;
  w.topic = j.at("topic").get<std::string>();
  w.payload = from_hex(j.at("payload").get<std::string>());
  w.qos = j.at("qos").get<std::uint8_t>();
  w.retain = j.at("retain").get<bool>();
  auto& p = w.properties;
  if (j.contains("will_delay")) p.will_delay_interval = j["will_delay"].get<std::uint32_t>();
  if (j.contains("expiry")) p.message_expiry_interval = j["expiry"].get<std::uint32_t>();
  if (j.contains("pfi")) p.payload_format_indicator = j["pfi"].get<std::uint8_t>();
  if (j.contains("content_type")) p.content_type = j["content_type"].get<std::string>();
  if (j.contains("response_topic")) p.response_topic = j["response_topic"].get<std::string>();
  if (j.contains("correlation")) p.correlation_data = from_hex(j["correlation"].get<std::string>());
  if (j.contains("user"))
    for (const auto& u : j["user"]) p.user_properties.push_back({u.at(0).get<std::string>(), u.at(1).get<std::string>()});
  return w;
}
}  // namespace

void Session::rebase_handed() {
  handed_taken = 0;
  if (handed.empty()) {
    handed_json.clear();
    return;
  }
  // Binary in the JSON text as hex, each message whole (it lives in no queue here).
  json list = json::array();
  for (const auto& h : handed) {
    std::string bytes;
    store::encode_message(*h.message, bytes);
    list.push_back({{"m", to_hex(bytes)}, {"q", h.qos}, {"r", h.retain}, {"ids", h.subscription_ids},
                    {"ss", h.message->stream_seq}});
  }
  handed_json = list.dump();
}

std::string encode_session_record(const Session& s) {
  json j;
  j["v"] = 1;
  j["protocol"] = static_cast<int>(s.version);
  j["expiry"] = s.expiry_interval;
  j["disconnected_at"] = s.disconnected_at_ms;
  if (s.owner) j["owner"] = s.owner->username ? json{{"user", *s.owner->username}} : json::object();
  j["subscriptions"] = json::array();
  for (const auto& [filter, sub] : s.subscriptions) {
    json js = {{"filter", filter}, {"queue", sub.queue}, {"qos", sub.options.qos}, {"nl", sub.options.no_local},
               {"rap", sub.options.retain_as_published}, {"rh", sub.options.retain_handling}};
    if (sub.options.subscription_id) js["id"] = *sub.options.subscription_id;
    j["subscriptions"].push_back(std::move(js));
  }
  j["qos2_incoming"] = std::vector<std::uint16_t>(s.qos2_incoming.begin(), s.qos2_incoming.end());
  // A will that has not been published yet is published after a restart.
  if (s.pending_will) {
    j["will"] = will_to_json(s.pending_will->will);
    j["will_at"] = s.pending_will->publish_at_ms;
  } else if (s.will) {
    j["will"] = will_to_json(*s.will);
  }
  std::string out = j.dump();
  // The handed list as written at the handover, unchanged (Session::handed_json).
  if (!s.handed_json.empty()) out.insert(out.size() - 1, ",\"handed\":" + s.handed_json);
  return out;
}

std::optional<Session> decode_session_record(const std::string& client_id, const std::string& record) {
  try {
    json j = json::parse(record);
    if (j.at("v").get<int>() != 1) return std::nullopt;
    Session s(client_id, static_cast<mqtt::ProtocolVersion>(j.at("protocol").get<int>()));
    s.expiry_interval = j.at("expiry").get<std::uint32_t>();
    s.disconnected_at_ms = j.value("disconnected_at", std::int64_t{0});
    if (auto owner = j.find("owner"); owner != j.end()) {
      s.owner.emplace();
      if (owner->contains("user")) s.owner->username = owner->at("user").get<std::string>();
    }
    for (const auto& js : j.at("subscriptions")) {
      Subscription sub;
      sub.filter = js.at("filter").get<std::string>();
      sub.queue = js.at("queue").get<std::string>();
      sub.options.qos = js.at("qos").get<std::uint8_t>();
      sub.options.no_local = js.at("nl").get<bool>();
      sub.options.retain_as_published = js.at("rap").get<bool>();
      sub.options.retain_handling = js.at("rh").get<std::uint8_t>();
      if (js.contains("id")) sub.options.subscription_id = js["id"].get<std::uint32_t>();
      s.subscriptions.emplace(sub.filter, std::move(sub));
    }
    for (auto id : j.at("qos2_incoming")) s.qos2_incoming.insert(id.get<std::uint16_t>());
    if (j.contains("handed")) {
      s.handed_json = j["handed"].dump();
      for (const auto& jh : j["handed"]) {
        auto message = store::decode_message(from_hex(jh.at("m").get<std::string>()));
        if (!message) return std::nullopt;
        message->stream_seq = jh.value("ss", std::uint64_t{0});
        HandedMessage h;
        h.message = std::make_shared<const store::Message>(std::move(*message));
        h.qos = jh.at("q").get<std::uint8_t>();
        h.retain = jh.at("r").get<bool>();
        h.subscription_ids = jh.at("ids").get<std::vector<std::uint32_t>>();
        if (h.message->stream_seq) s.handed_stream_seqs.insert(h.message->stream_seq);
        s.handed.push_back(std::move(h));
      }
    }
    if (j.contains("will")) {
      PendingWill pw;
      pw.will = will_from_json(j["will"]);
      pw.publish_at_ms = j.value("will_at", std::int64_t{0});
      s.pending_will = std::make_unique<PendingWill>(std::move(pw));
    }
    return s;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace tidegate
