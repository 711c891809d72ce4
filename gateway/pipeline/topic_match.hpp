#pragma once
// Topic/filter matching rules of MQTT 4.7, shared by the trie, retained
// delivery and the ACL deny list.
#include <string>
#include <string_view>
#include <vector>

namespace tidegate {

std::vector<std::string_view> split_levels(std::string_view topic);

// True when `filter` (with + and #) matches `topic`. Topics starting with '$'
// are not matched by a filter whose first level is a wildcard (MQTT-4.7.2-1).
bool topic_matches(std::string_view filter, std::string_view topic);

// A parsed `$share/{group}/{filter}`; `group` is empty for a plain filter.
struct SharedFilter {
  std::string_view group;
  std::string_view filter;
};
SharedFilter parse_shared(std::string_view filter);

}  // namespace tidegate
