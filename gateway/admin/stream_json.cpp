#include "gateway/admin/stream_json.hpp"

#include "gateway/ops/base64.hpp"

#include "gateway/admin/session_json.hpp"
#include "gateway/codec/utf8.hpp"

namespace tidegate::admin {

using nlohmann::json;

json message_json(const store::Message& m) {
  json j = {{"seq", m.seq},
            {"topic", m.topic},
            {"time", iso_time(m.created_ms)},
            {"time_ms", m.created_ms},
            {"qos", m.qos},
            {"retain", m.retain},
            {"clientid", m.origin_client_id}};
  if (mqtt::valid_mqtt_utf8(m.payload)) {
    j["payload"] = m.payload;
  } else {
    j["payload_base64"] = base64(m.payload);
  }
  if (m.content_type) j["content_type"] = *m.content_type;
  if (!m.user_properties.empty()) {
    json props = json::array();
    for (const auto& p : m.user_properties) props.push_back({p.key, p.value});
    j["user_properties"] = props;
  }
  return j;
}

}  // namespace tidegate::admin
