#include "gateway/admin/stream_json.hpp"

#include <openssl/evp.h>

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
    std::string encoded(4 * ((m.payload.size() + 2) / 3), '\0');
    EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                    reinterpret_cast<const unsigned char*>(m.payload.data()), static_cast<int>(m.payload.size()));
    j["payload_base64"] = encoded;
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
