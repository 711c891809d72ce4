// The notify messages gateways send each other (gateway/cluster/cluster_notify_codec.hpp).
#ifdef TIDEGATE_CLUSTER
#include <doctest/doctest.h>

#include <string>
#include <tuple>
#include <vector>

#include "gateway/cluster/cluster_notify_codec.hpp"

using namespace tidegate;

namespace {
using Events = std::vector<std::tuple<std::uint64_t, bool, std::string>>;
bool decode(std::string_view data, ClusterNotifyHeader& header, Events& out) {
  return decode_cluster_notify(data, header, [&](std::uint64_t seq, bool retain, std::string_view topic) {
    out.emplace_back(seq, retain, std::string(topic));
  });
}
}  // namespace

TEST_CASE("a notify message carries its origin, its counter and its events") {
  std::string data;
  encode_cluster_notify_header(data, "gw-1", 42);
  encode_cluster_event(data, 7, false, "a/b");
  encode_cluster_event(data, 0x0102030405060708ull, true, std::string(300, 'x'));
  encode_cluster_event(data, 9, false, "");
  ClusterNotifyHeader header;
  Events events;
  REQUIRE(decode(data, header, events));
  CHECK(header.origin == "gw-1");
  CHECK(header.counter == 42);
  CHECK(events == Events{{7, false, "a/b"}, {0x0102030405060708ull, true, std::string(300, 'x')}, {9, false, ""}});
}

TEST_CASE("a truncated notify message is refused after the events before the cut") {
  std::string data;
  encode_cluster_notify_header(data, "n", 1);
  encode_cluster_event(data, 1, false, "first");
  encode_cluster_event(data, 2, false, "second");
  ClusterNotifyHeader header;
  const std::size_t after_header = 1 + 1 + 8, after_first = after_header + 11 + 5;
  for (std::size_t cut = 0; cut < data.size(); ++cut) {
    INFO("cut at " << cut);
    Events events;
    bool ok = decode(std::string_view(data).substr(0, cut), header, events);
    CHECK(ok == (cut == after_header || cut == after_first));
    CHECK(events.size() == (cut >= after_first ? 1u : 0u));
  }
  Events none;
  CHECK_FALSE(decode("", header, none));
}
#endif
