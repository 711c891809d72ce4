#include <doctest/doctest.h>

#include "gateway/session/inflight_record.hpp"

using namespace tidegate;

TEST_CASE("inflight record of a queue message stores the sequence, not the payload") {
  auto m = std::make_shared<store::Message>();
  m->seq = 77;
  m->topic = "a/b";
  m->payload = std::string(1000, 'p');
  InflightMessage in{9, m, 2, true, true, {"a/+", "a/#"}, {3, 4}};
  auto bytes = encode_inflight_record(in);
  CHECK(bytes.size() < 100);
  auto d = decode_inflight_record(9, bytes);
  REQUIRE(d);
  CHECK(d->seq == 77);
  CHECK_FALSE(d->inflight.message);  // loaded from `messages` by the caller
  CHECK(d->inflight.packet_id == 9);
  CHECK(d->inflight.qos == 2);
  CHECK(d->inflight.retain);
  CHECK(d->inflight.pubrec_received);
  CHECK(d->inflight.queues == std::vector<std::string>{"a/+", "a/#"});
  CHECK(d->inflight.subscription_ids == std::vector<std::uint32_t>{3, 4});
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) CHECK_FALSE(decode_inflight_record(9, bytes.substr(0, cut)));
}

TEST_CASE("inflight record of a retained delivery (no queue) keeps the whole message") {
  auto m = std::make_shared<store::Message>();
  m->seq = 5;
  m->topic = "r/x";
  m->payload = "kept";
  m->retain = true;
  InflightMessage in{1, m, 1, true, false, {}, {}};
  auto d = decode_inflight_record(1, encode_inflight_record(in));
  REQUIRE(d);
  REQUIRE(d->inflight.message);
  CHECK(d->inflight.message->payload == "kept");
  CHECK(d->inflight.message->topic == "r/x");
}
