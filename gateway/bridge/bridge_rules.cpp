#include "gateway/bridge/bridge_rules.hpp"

#include "gateway/codec/utf8.hpp"
#include "gateway/pipeline/topic_match.hpp"

namespace tidegate {
namespace {
const BridgeRule* first_match(const std::vector<BridgeRule>& rules, std::string_view topic) {
  for (const auto& rule : rules)
    if (topic_matches(rule.filter, topic)) return &rule;
  return nullptr;
}
}  // namespace

std::optional<std::string> map_topic(const std::vector<BridgeRule>& rules, std::string_view topic) {
  const BridgeRule* rule = first_match(rules, topic);
  if (!rule) return std::nullopt;
  std::string_view rest = topic;
  if (!rule->strip_prefix.empty() && rest.starts_with(rule->strip_prefix)) rest.remove_prefix(rule->strip_prefix.size());
  std::string mapped = rule->add_prefix + std::string(rest);
  if (!mqtt::valid_topic_name(mapped)) return std::nullopt;
  return mapped;
}

std::optional<std::uint8_t> rule_qos(const std::vector<BridgeRule>& rules, std::string_view topic) {
  const BridgeRule* rule = first_match(rules, topic);
  if (!rule) return std::nullopt;
  return rule->qos;
}

}  // namespace tidegate
