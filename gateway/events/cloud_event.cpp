#include "gateway/events/cloud_event.hpp"

#include "gateway/ops/base64.hpp"

#include <algorithm>
#include <ctime>
#include <optional>

#include "gateway/events/json_payload.hpp"

namespace tidegate::events {
namespace {

// datacontenttype: the MQTT 5 Content Type when the publisher gave one, else
// application/json for a payload that parses as JSON; `json` holds the
// payload when it can go inline as `data`.
std::string content_type_of(const store::Message& m, std::optional<nlohmann::json>& json) {
  json = parse_json_payload(m.payload);
  if (m.content_type) {
    // A declared non-JSON type keeps its bytes as they are.
    const auto& ct = *m.content_type;
    if (json && ct.find("json") == std::string::npos) json.reset();
    return ct;
  }
  return json ? "application/json" : "application/octet-stream";
}


// Header values: printable ASCII as it is, the rest (and '%', '"') percent-encoded
// as the CloudEvents HTTP binding asks.
std::string header_value(const std::string& v) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : v) {
    if (c >= 0x20 && c <= 0x7E && c != '%' && c != '"') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

// Invalid UTF-8 (a bridge's peer may send it) becomes U+FFFD instead of throwing.
std::string text(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

nlohmann::json user_properties(const store::Message& m) {
  auto list = nlohmann::json::array();
  for (const auto& p : m.user_properties) list.push_back({p.key, p.value});
  return list;
}

}  // namespace

std::string event_id(const EventSource& from, const store::Message& m) { return from.node + "-" + std::to_string(m.seq); }

std::string rfc3339(std::int64_t ms) {
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms % 1000));
  return buf;
}

nlohmann::json structured_event(const EventSource& from, const store::Message& m) {
  std::optional<nlohmann::json> json;
  auto content_type = content_type_of(m, json);
  nlohmann::json e = {{"specversion", "1.0"},
                      {"id", event_id(from, m)},
                      {"source", from.source},
                      {"type", from.type},
                      {"subject", m.topic},
                      {"time", rfc3339(m.created_ms)},
                      {"datacontenttype", content_type},
                      {"mqttclientid", m.origin_client_id},
                      {"mqttqos", m.qos},
                      {"mqttretain", m.retain}};
  if (!m.user_properties.empty()) e["mqttuserproperties"] = text(user_properties(m));
  if (json) e["data"] = std::move(*json);
  else e["data_base64"] = base64(m.payload);
  return e;
}

HttpEvent binary_event(const EventSource& from, const store::Message& m) {
  std::optional<nlohmann::json> json;
  HttpEvent out;
  out.content_type = content_type_of(m, json);
  // A publisher's content type goes into a header only if it is one header-safe line.
  if (std::any_of(out.content_type.begin(), out.content_type.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7E; }))
    out.content_type = "application/octet-stream";
  out.headers = {{"ce-specversion", "1.0"},
                 {"ce-id", header_value(event_id(from, m))},
                 {"ce-source", header_value(from.source)},
                 {"ce-type", header_value(from.type)},
                 {"ce-subject", header_value(m.topic)},
                 {"ce-time", rfc3339(m.created_ms)},
                 {"ce-mqttclientid", header_value(m.origin_client_id)},
                 {"ce-mqttqos", std::to_string(m.qos)},
                 {"ce-mqttretain", m.retain ? "true" : "false"}};
  if (!m.user_properties.empty()) out.headers.emplace_back("ce-mqttuserproperties", header_value(text(user_properties(m))));
  out.body = m.payload;
  return out;
}

HttpEvent structured_http_event(const EventSource& from, const store::Message& m) {
  return {"application/cloudevents+json", {}, text(structured_event(from, m))};
}

HttpEvent batched_http_event(const EventSource& from, const std::vector<store::MessagePtr>& messages) {
  auto batch = nlohmann::json::array();
  for (const auto& m : messages) batch.push_back(structured_event(from, *m));
  return {"application/cloudevents-batch+json", {}, text(batch)};
}

}  // namespace tidegate::events
