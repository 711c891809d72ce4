#include <doctest/doctest.h>

#include "gateway/session/session.hpp"

using namespace tidegate;

TEST_CASE("session record round-trips subscriptions, QoS 2 state and a pending will") {
  Session s("dev1", mqtt::ProtocolVersion::v5);
  s.expiry_interval = 3600;
  s.subscriptions["a/+"] = Subscription{"a/+", "a/+", {1, true, true, 2, 7}};
  s.subscriptions["$share/g/x"] = Subscription{"$share/g/x", std::string("$share/g/x\0dev1", 15), {2, false, false, 0, std::nullopt}};
  s.qos2_incoming = {5, 9};
  mqtt::Will w;
  w.topic = "dead/dev1";
  w.payload = std::string("\0gone", 5);
  w.qos = 1;
  w.properties.will_delay_interval = 30;
  w.properties.user_properties = {{"k", "v"}};
  s.pending_will = std::make_unique<PendingWill>(PendingWill{w, 12345});
  auto back = decode_session_record("dev1", encode_session_record(s));
  REQUIRE(back);
  CHECK(back->expiry_interval == 3600);
  REQUIRE(back->subscriptions.size() == 2);
  const auto& a = back->subscriptions.at("a/+");
  CHECK(a.options.qos == 1);
  CHECK(a.options.no_local);
  CHECK(a.options.retain_handling == 2);
  CHECK(a.options.subscription_id == 7u);
  CHECK(back->subscriptions.at("$share/g/x").queue.size() == 15);
  CHECK(back->qos2_incoming == std::set<std::uint16_t>{5, 9});
  REQUIRE(back->pending_will);
  CHECK(back->pending_will->will.payload == w.payload);
  CHECK(back->pending_will->publish_at_ms == 12345);
  CHECK(back->pending_will->will.properties.user_properties.size() == 1);
  CHECK_FALSE(decode_session_record("dev1", "{\"v\": 2}"));
  CHECK_FALSE(decode_session_record("dev1", "garbage"));
}

TEST_CASE("session record keeps its owner: a user, anonymous, or none recorded") {
  Session s("dev1", mqtt::ProtocolVersion::v311);
  s.expiry_interval = kSessionNeverExpires;
  CHECK_FALSE(decode_session_record("dev1", encode_session_record(s))->owner);  // an older record
  s.owner = SessionIdentity{"bob"};
  auto bob = decode_session_record("dev1", encode_session_record(s));
  REQUIRE(bob->owner);
  CHECK(*bob->owner == SessionIdentity{"bob"});
  s.owner = SessionIdentity{std::nullopt};
  auto anonymous = decode_session_record("dev1", encode_session_record(s));
  REQUIRE(anonymous->owner);
  CHECK_FALSE(anonymous->owner->username);
  CHECK(*anonymous->owner != SessionIdentity{"bob"});
}

TEST_CASE("committed offset is the contiguous acknowledged prefix") {
  Session s("dev1", mqtt::ProtocolVersion::v311);
  s.cursors["q"].position = 10;
  auto msg = [](std::uint64_t seq) {
    auto m = std::make_shared<store::Message>();
    m->seq = seq;
    return m;
  };
  s.inflight.push_back({s.allocate_packet_id(), msg(7), 1, false, false, {"q"}, {}});
  s.inflight.push_back({s.allocate_packet_id(), msg(9), 2, false, false, {"q"}, {}});
  CHECK(s.committed("q") == 6);
  s.erase_inflight(1);
  CHECK(s.committed("q") == 8);
  s.inflight.front().pubrec_received = true;  // QoS 2 received by the client
  CHECK(s.committed("q") == 10);
  CHECK(s.allocate_packet_id() == 3);
}

TEST_CASE("session record carries messages handed over from another gateway, with their stream sequences") {
  Session s("dev2", mqtt::ProtocolVersion::v311);
  s.expiry_interval = kSessionNeverExpires;
  auto make = [](std::string topic, std::string payload, std::uint8_t qos, std::uint64_t stream_seq) {
    auto m = std::make_shared<store::Message>();
    m->topic = std::move(topic);
    m->payload = std::move(payload);
    m->qos = qos;
    m->stream_seq = stream_seq;
    return store::MessagePtr(m);
  };
  s.handed.push_back(HandedMessage{make("t/1", std::string("\0one", 4), 2, 41), 1, false, {3}});
  s.handed.push_back(HandedMessage{make("t/2", "two", 1, 0), 0, true, {}});
  s.rebase_handed();
  auto back = decode_session_record("dev2", encode_session_record(s));
  REQUIRE(back);
  REQUIRE(back->handed.size() == 2);
  CHECK(back->handed[0].message->topic == "t/1");
  CHECK(back->handed[0].message->payload == std::string("\0one", 4));
  CHECK(back->handed[0].qos == 1);
  CHECK(back->handed[0].subscription_ids == std::vector<std::uint32_t>{3});
  CHECK(back->handed[0].message->stream_seq == 41);
  CHECK(back->handed[1].retain);
  CHECK(back->handed[1].qos == 0);
  // Only known stream sequences mark what the queues here may bring again.
  CHECK(back->handed_stream_seqs == std::set<std::uint64_t>{41});
  // Progress is a count (an offset), not a new list: the list written at the
  // handover stays in every record until it is rebased.
  s.handed.pop_front();
  ++s.handed_taken;
  auto later = decode_session_record("dev2", encode_session_record(s));
  REQUIRE(later);
  CHECK(later->handed.size() == 2);
  s.rebase_handed();
  CHECK(s.handed_taken == 0);
  later = decode_session_record("dev2", encode_session_record(s));
  REQUIRE(later);
  REQUIRE(later->handed.size() == 1);
  CHECK(later->handed[0].message->topic == "t/2");
  // A session without handed messages writes none (older records stay the same).
  s.handed.clear();
  s.rebase_handed();
  CHECK(encode_session_record(s).find("handed") == std::string::npos);
}
