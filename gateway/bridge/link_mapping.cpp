#include "gateway/bridge/link_mapping.hpp"

#include "gateway/bridge/bridge_link.hpp"
#include "gateway/bridge/bridge_rules.hpp"

namespace tidegate {

bool LinkMapping::inbound(mqtt::Publish& publish) {
  auto local = map_topic(config_.in, publish.topic);
  if (!local) {
    Metrics::add(metrics_.bridge_unmapped);
    return false;
  }
  link_.count_in();
  publish.topic = std::move(*local);
  return true;
}

bool LinkMapping::outbound(std::string& topic, bool& retain, std::uint8_t qos, mqtt::Properties& properties) {
  auto remote = map_topic(config_.out, topic);
  if (!remote) {
    Metrics::add(metrics_.bridge_unmapped);
    return false;
  }
  topic = std::move(*remote);
  properties.subscription_identifiers.clear();  // client to server: none (MQTT-3.3.4-6)
  if (!retain_available) retain = false;        // MQTT-3.2.2-14: the remote keeps none
  if (qos == 0) link_.count_out();              // QoS 1/2: counted when acknowledged
  return true;
}

void LinkMapping::acknowledged() { link_.count_out(); }

}  // namespace tidegate
