#include "gateway/pipeline/message_builder.hpp"

namespace tidegate {
namespace {

void copy_forwarded(const mqtt::Properties& p, store::Message& m, std::int64_t now_ms) {
  if (p.message_expiry_interval) m.expires_at_ms = now_ms + std::int64_t(*p.message_expiry_interval) * 1000;
  m.payload_format_indicator = p.payload_format_indicator;
  m.content_type = p.content_type;
  m.response_topic = p.response_topic;
  m.correlation_data = p.correlation_data;
  for (const auto& u : p.user_properties) m.user_properties.push_back({u.key, u.value});
}

}  // namespace

std::shared_ptr<store::Message> message_from_publish(const mqtt::Publish& publish, const std::string& origin,
                                                     std::int64_t now_ms) {
  auto m = std::make_shared<store::Message>();
  m->topic = publish.topic;
  m->payload = publish.payload;
  m->qos = publish.qos;
  m->retain = publish.retain;
  m->origin_client_id = origin;
  m->created_ms = now_ms;
  copy_forwarded(publish.properties, *m, now_ms);
  return m;
}

std::shared_ptr<store::Message> message_from_publish(mqtt::Publish&& publish, const std::string& origin,
                                                     std::int64_t now_ms) {
  auto m = std::make_shared<store::Message>();
  m->topic = std::move(publish.topic);
  m->payload = std::move(publish.payload);
  m->qos = publish.qos;
  m->retain = publish.retain;
  m->origin_client_id = origin;
  m->created_ms = now_ms;
  auto& p = publish.properties;
  if (p.message_expiry_interval) m->expires_at_ms = now_ms + std::int64_t(*p.message_expiry_interval) * 1000;
  m->payload_format_indicator = p.payload_format_indicator;
  m->content_type = std::move(p.content_type);
  m->response_topic = std::move(p.response_topic);
  m->correlation_data = std::move(p.correlation_data);
  for (auto& u : p.user_properties) m->user_properties.push_back({std::move(u.key), std::move(u.value)});
  return m;
}

std::shared_ptr<store::Message> message_from_will(const mqtt::Will& will, const std::string& origin,
                                                  std::int64_t now_ms) {
  auto m = std::make_shared<store::Message>();
  m->topic = will.topic;
  m->payload = will.payload;
  m->qos = will.qos;
  m->retain = will.retain;
  m->origin_client_id = origin;
  m->created_ms = now_ms;
  copy_forwarded(will.properties, *m, now_ms);
  return m;
}

mqtt::Publish publish_from_message(const store::Message& m, std::uint8_t qos, bool retain, std::int64_t now_ms) {
  mqtt::Publish p;
  p.topic = m.topic;
  p.payload = m.payload;
  p.qos = qos;
  p.retain = retain;
  publish_properties_from_message(m, now_ms, p.properties);
  return p;
}

bool has_forwarded_properties(const store::Message& m) {
  return m.expires_at_ms || m.payload_format_indicator || m.content_type || m.response_topic || m.correlation_data ||
         !m.user_properties.empty();
}

void publish_properties_from_message(const store::Message& m, std::int64_t now_ms, mqtt::Properties& props) {
  if (m.expires_at_ms) {
    // MQTT-3.3.2-6: the interval forwarded is what remains, rounded up.
    std::int64_t left = *m.expires_at_ms - now_ms;
    props.message_expiry_interval = static_cast<std::uint32_t>(left <= 0 ? 0 : (left + 999) / 1000);
  }
  props.payload_format_indicator = m.payload_format_indicator;
  props.content_type = m.content_type;
  props.response_topic = m.response_topic;
  props.correlation_data = m.correlation_data;
  for (const auto& u : m.user_properties) props.user_properties.push_back({u.key, u.value});
}

}  // namespace tidegate
