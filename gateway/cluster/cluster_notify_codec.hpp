#pragma once
// Cluster mode: the notify messages gateways send each other
// (docs/cluster.md, "How a message travels"). Pure functions, no I/O.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace tidegate {

// Notify messages on the wire: u8 origin length, the origin node id, u64
// notify counter of that origin (1, 2, ...: a gap means a lost notify), then
// per message: u64 sequence, u8 flags (bit 0: retained), u16 topic length,
// topic bytes. Integers big endian.
void encode_cluster_notify_header(std::string& out, std::string_view origin, std::uint64_t counter);
void encode_cluster_event(std::string& out, std::uint64_t seq, bool retain, std::string_view topic);
struct ClusterNotifyHeader {
  std::string_view origin;
  std::uint64_t counter = 0;
};
// fn(seq, retain, topic) per event; false if `data` is malformed (events
// before the malformed part have been passed to fn).
bool decode_cluster_notify(std::string_view data, ClusterNotifyHeader& header,
                           const std::function<void(std::uint64_t, bool, std::string_view)>& fn);

}  // namespace tidegate
