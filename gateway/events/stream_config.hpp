#pragma once
// The config of streams (config key `streams`, docs/events.md "Streams"):
// named, durable captures of a topic filter, QoS 0 included, that server
// applications read by sequence or time over the admin listener.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace tidegate::events {

struct StreamConfig {
  std::string name;
  std::string filter;
  bool operator==(const StreamConfig&) const = default;
};

// The reader ids in the store's offsets table: the stream's own (it holds the
// queue) and each consumer group's committed offset.
inline std::string stream_reader_id(const std::string& stream) { return "$stream/" + stream; }
inline std::string stream_group_id(const std::string& stream, const std::string& group) {
  return "$stream/" + stream + "/" + group;
}

// Throws ConfigError ("streams[i].key: reason").
std::vector<StreamConfig> parse_streams(const nlohmann::json& j);

}  // namespace tidegate::events
