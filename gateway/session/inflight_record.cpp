#include "gateway/session/inflight_record.hpp"

#include "storeclient/message_codec.hpp"

namespace tidegate {
namespace {

constexpr std::uint8_t kVersion = 1;
enum Flags : std::uint8_t { kRetain = 1, kPubrec = 2, kWhole = 4 };

}  // namespace

std::string encode_inflight_record(const InflightMessage& m) {
  std::string out;
  out.push_back(static_cast<char>(kVersion));
  out.push_back(static_cast<char>(m.qos));
  // Messages delivered from no queue (retained on subscribe) are kept whole.
  bool whole = m.queues.empty();
  out.push_back(static_cast<char>((m.retain ? kRetain : 0) | (m.pubrec_received ? kPubrec : 0) | (whole ? kWhole : 0)));
  store::put_u64_be(out, m.message->seq);
  store::put_u32_be(out, static_cast<std::uint32_t>(m.queues.size()));
  for (const auto& q : m.queues) {
    store::put_u32_be(out, static_cast<std::uint32_t>(q.size()));
    out.append(q);
  }
  store::put_u32_be(out, static_cast<std::uint32_t>(m.subscription_ids.size()));
  for (auto id : m.subscription_ids) store::put_u32_be(out, id);
  if (whole) store::encode_message(*m.message, out);
  return out;
}

std::optional<DecodedInflight> decode_inflight_record(std::uint16_t packet_id, std::string_view in) {
  if (in.size() < 11 || static_cast<std::uint8_t>(in[0]) != kVersion) return std::nullopt;
  DecodedInflight d;
  d.inflight.packet_id = packet_id;
  d.inflight.qos = static_cast<std::uint8_t>(in[1]);
  auto flags = static_cast<std::uint8_t>(in[2]);
  d.inflight.retain = flags & kRetain;
  d.inflight.pubrec_received = flags & kPubrec;
  d.seq = store::get_u64_be(in.substr(3));
  in.remove_prefix(11);
  std::uint32_t n;
  if (!store::take_u32_be(in, n)) return std::nullopt;
  for (std::uint32_t i = 0; i < n; ++i) {
    std::uint32_t len;
    if (!store::take_u32_be(in, len) || in.size() < len) return std::nullopt;
    d.inflight.queues.emplace_back(in.substr(0, len));
    in.remove_prefix(len);
  }
  if (!store::take_u32_be(in, n)) return std::nullopt;
  for (std::uint32_t i = 0; i < n; ++i) {
    std::uint32_t id;
    if (!store::take_u32_be(in, id)) return std::nullopt;
    d.inflight.subscription_ids.push_back(id);
  }
  if (flags & kWhole) {
    auto message = store::decode_message(in);
    if (!message) return std::nullopt;
    d.inflight.message = std::make_shared<const store::Message>(std::move(*message));
  } else if (!in.empty()) {
    return std::nullopt;
  }
  return d;
}

}  // namespace tidegate
