#pragma once
// Topic mapping of a bridge's rules (docs/bridge.md). Pure; any thread.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/bridge/bridge_config.hpp"
#include "gateway/session/session.hpp"

namespace tidegate {

// The topic `topic` becomes under the first rule whose filter matches it
// (strip_prefix removed when present, then add_prefix added); nullopt when no
// rule matches or the result is not a valid topic name.
std::optional<std::string> map_topic(const std::vector<BridgeRule>& rules, std::string_view topic);

// The QoS the first matching rule allows (the message's own QoS is capped to it).
std::optional<std::uint8_t> rule_qos(const std::vector<BridgeRule>& rules, std::string_view topic);

// The local subscription of an out rule: no local (what the bridge brought in
// never goes back out), retain flags forwarded as published.
inline SubscriptionOptions out_rule_options(const BridgeRule& rule) {
  return SubscriptionOptions{rule.qos, /*no_local=*/true, /*retain_as_published=*/true, 0, std::nullopt};
}

}  // namespace tidegate
