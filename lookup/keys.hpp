#pragma once
// The lookup's keys (docs/cluster.md, "The lookup"). A key names what it is about, and its slot
// (slot_table.hpp) names the gateway that holds it.
//   "c:" + client id            -> the gateway the client is connected to
//   "t:" + filter (no wildcard) -> the gateways with a subscription to it
//   "w:" + first level          -> the gateways' wildcard filters under that
//                                  first level (`a/+/c`, `a/#` under "w:a")
//   "w:"                        -> wildcard filters whose first level is a
//                                  wildcard (`+/x`, `#`)
// A topic's interested gateways are then in at most three keys: its exact
// key, its first level's wildcard key and "w:".
#include <string>
#include <string_view>
#include <vector>

namespace tidegate::lookup {

inline std::string client_key(std::string_view client_id) { return "c:" + std::string(client_id); }

inline bool has_wildcard(std::string_view filter) {
  return filter.find_first_of("+#") != std::string_view::npos;
}

// The key a subscription's filter is stored under.
inline std::string route_key(std::string_view filter) {
  if (!has_wildcard(filter)) return "t:" + std::string(filter);
  auto first = filter.substr(0, filter.find('/'));
  if (first == "+" || first == "#") return "w:";
  return "w:" + std::string(first);
}

// The keys that can hold subscriptions matching `topic`.
inline std::vector<std::string> topic_keys(std::string_view topic) {
  return {"t:" + std::string(topic), "w:" + std::string(topic.substr(0, topic.find('/'))), "w:"};
}

}  // namespace tidegate::lookup
