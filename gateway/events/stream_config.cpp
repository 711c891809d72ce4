#include "gateway/events/stream_config.hpp"

#include <set>

#include "gateway/codec/utf8.hpp"
#include "gateway/config/config_json.hpp"

namespace tidegate::events {

using namespace config_json;

std::vector<StreamConfig> parse_streams(const json& j) {
  if (!j.is_array()) fail("streams", "must be an array");
  std::vector<StreamConfig> streams;
  std::set<std::string> names;
  Problems problems;
  for (std::size_t i = 0; i < j.size(); ++i)
    problems.attempt([&] {
      const std::string at = "streams[" + std::to_string(i) + "]";
      const auto& s = j[i];
      if (!s.is_object()) fail(at, "must be an object");
      refuse_unknown(s, at + ".", {"name", "filter"});
      StreamConfig c;
      if (!s.contains("name")) fail(at + ".name", "is required");
      c.name = get_name(s["name"], at + ".name");
      if (!s.contains("filter")) fail(at + ".filter", "is required");
      c.filter = get_string(s["filter"], at + ".filter");
      if (!mqtt::valid_topic_filter(c.filter) || c.filter.starts_with("$share/"))
        fail(at + ".filter", "is not a valid topic filter (shared subscriptions cannot be captured)");
      if (!names.insert(c.name).second) fail(at + ".name", "'" + c.name + "' is used twice");
      streams.push_back(std::move(c));
    });
  problems.throw_if_any();
  return streams;
}

}  // namespace tidegate::events
