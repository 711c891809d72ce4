#include "gateway/cluster/cluster_notify_codec.hpp"

#include "storeclient/message_codec.hpp"

namespace tidegate {

void encode_cluster_notify_header(std::string& out, std::string_view origin, std::uint64_t counter) {
  out.push_back(static_cast<char>(origin.size()));
  out.append(origin);
  store::put_u64_be(out, counter);
}

void encode_cluster_event(std::string& out, std::uint64_t seq, bool retain, std::string_view topic) {
  store::put_u64_be(out, seq);
  out.push_back(retain ? 1 : 0);
  out.push_back(static_cast<char>((topic.size() >> 8) & 0xFF));
  out.push_back(static_cast<char>(topic.size() & 0xFF));
  out.append(topic);
}

bool decode_cluster_notify(std::string_view data, ClusterNotifyHeader& header,
                           const std::function<void(std::uint64_t, bool, std::string_view)>& fn) {
  if (data.empty()) return false;
  std::size_t origin_size = static_cast<unsigned char>(data[0]);
  if (data.size() < 1 + origin_size + 8) return false;
  header.origin = data.substr(1, origin_size);
  header.counter = store::get_u64_be(data.substr(1 + origin_size));
  data.remove_prefix(1 + origin_size + 8);
  while (!data.empty()) {
    if (data.size() < 11) return false;
    std::uint64_t seq = store::get_u64_be(data);
    bool retain = data[8] & 1;
    std::size_t len = (std::size_t(static_cast<unsigned char>(data[9])) << 8) | static_cast<unsigned char>(data[10]);
    if (data.size() < 11 + len) return false;
    fn(seq, retain, data.substr(11, len));
    data.remove_prefix(11 + len);
  }
  return true;
}

}  // namespace tidegate
