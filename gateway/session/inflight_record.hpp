#pragma once
// The persisted form of one QoS 1/2 message in flight to a persistent
// session (the `inflight` table value). A queue message is referenced by its
// sequence (stored once in `messages`); a retained message, which lives in no
// queue, is stored whole. Binary, version byte first; decoding is checked.
#include <optional>
#include <string>

#include "gateway/session/session.hpp"

namespace tidegate {

std::string encode_inflight_record(const InflightMessage& inflight);

struct DecodedInflight {
  InflightMessage inflight;      // message set when stored whole
  std::uint64_t seq = 0;         // the message to load when it is not
};
std::optional<DecodedInflight> decode_inflight_record(std::uint16_t packet_id, std::string_view bytes);

}  // namespace tidegate
