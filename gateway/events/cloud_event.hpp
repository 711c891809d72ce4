#pragma once
// A stored MQTT message as a CloudEvent 1.0 in the HTTP binding's three
// modes (docs/events.md, "The events"): binary (attributes in ce-* headers,
// the payload as the body), structured (one application/cloudevents+json
// object) and batched (an application/cloudevents-batch+json array). Pure
// functions; used on the events thread.
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "storeclient/message.hpp"

namespace tidegate::events {

struct EventSource {
  std::string node;    // this gateway's name: ids are "<node>-<sequence>"
  std::string source;  // the `source` attribute
  std::string type;    // the `type` attribute
};

struct HttpEvent {
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;  // ce-* (binary mode)
  std::string body;
};

// Stable across retries and restarts: the gateway's node and the message's sequence.
std::string event_id(const EventSource& from, const store::Message& message);
// RFC 3339 in UTC with milliseconds.
std::string rfc3339(std::int64_t wall_ms);

nlohmann::json structured_event(const EventSource& from, const store::Message& message);
HttpEvent binary_event(const EventSource& from, const store::Message& message);
HttpEvent structured_http_event(const EventSource& from, const store::Message& message);
HttpEvent batched_http_event(const EventSource& from, const std::vector<store::MessagePtr>& messages);

}  // namespace tidegate::events
