// The cluster lookup's pure parts: the slot table and a shard (lookup/).
#include <doctest/doctest.h>

#include <set>

#include "gateway/topic_match.hpp"
#include "lookup/keys.hpp"
#include "lookup/shard.hpp"
#include "lookup/slot_table.hpp"

using namespace tidegate::lookup;

TEST_CASE("every gateway computes the same table from the same members, whatever their order") {
  SlotTable one({{"a", 1}, {"b", 2}, {"c", 3}});
  SlotTable two({{"c", 3}, {"a", 1}, {"b", 2}});
  CHECK(one.epoch() == two.epoch());
  for (std::size_t slot = 0; slot < kSlots; ++slot) CHECK(one.owner(slot) == two.owner(slot));
  // A restarted member (new incarnation) is a new table.
  CHECK(SlotTable({{"a", 1}, {"b", 9}, {"c", 3}}).epoch() != one.epoch());
}

TEST_CASE("slots spread over the members, and a lost member moves only its own slots") {
  SlotTable three({{"a", 1}, {"b", 1}, {"c", 1}});
  std::size_t total = 0;
  for (const char* n : {"a", "b", "c"}) {
    auto owned = three.slots_owned_by(n);
    CHECK(owned > kSlots / 6);  // no member left with a sliver
    total += owned;
  }
  CHECK(total == kSlots);
  SlotTable two({{"a", 1}, {"c", 1}});
  for (std::size_t slot = 0; slot < kSlots; ++slot)
    if (three.owner(slot) != "b") CHECK(two.owner(slot) == three.owner(slot));
  CHECK(SlotTable().owner(0).empty());
}

TEST_CASE("a subscription's key and a topic's keys meet") {
  CHECK(route_key("a/b") == "t:a/b");
  CHECK(route_key("a/+/c") == "w:a");
  CHECK(route_key("a/#") == "w:a");
  CHECK(route_key("+/x") == "w:");
  CHECK(route_key("#") == "w:");
  auto keys = topic_keys("a/b");
  for (const char* f : {"a/b", "a/+", "a/#", "+/b", "#"})
    CHECK(std::find(keys.begin(), keys.end(), route_key(f)) != keys.end());
  CHECK(topic_keys("a") == std::vector<std::string>{"t:a", "w:a", "w:"});
}

TEST_CASE("a shard answers which nodes have a subscription matching a topic") {
  Shard shard([](std::string_view f, std::string_view t) { return tidegate::topic_matches(f, t); });
  shard.add("n1", NodeState{{}, {"a/b", "a/+"}});
  shard.add("n2", NodeState{{}, {"a/#", "x/y"}});
  shard.add("n3", NodeState{{}, {"+/b"}});
  CHECK(shard.nodes_for("a/b", topic_keys("a/b")) == std::set<std::string>{"n1", "n2", "n3"});
  CHECK(shard.nodes_for("a/c", topic_keys("a/c")) == std::set<std::string>{"n1", "n2"});
  CHECK(shard.nodes_for("a", topic_keys("a")) == std::set<std::string>{"n2"});
  CHECK(shard.nodes_for("q", topic_keys("q")).empty());
  // Only the keys asked for are looked at (the others are another shard's).
  CHECK(shard.nodes_for("a/b", {"t:a/b"}) == std::set<std::string>{"n1"});
  shard.remove("n1", NodeState{{}, {"a/+"}});
  CHECK(shard.nodes_for("a/c", topic_keys("a/c")) == std::set<std::string>{"n2"});
  shard.replace("n2", NodeState{{}, {"x/y"}});
  CHECK(shard.nodes_for("a/c", topic_keys("a/c")).empty());
  shard.drop_node("n3");
  CHECK(shard.nodes_for("a/b", topic_keys("a/b")) == std::set<std::string>{"n1"});
}

TEST_CASE("the newest connection holds a client id, and an older announcement is told so") {
  Shard shard([](std::string_view f, std::string_view t) { return tidegate::topic_matches(f, t); });
  CHECK_FALSE(shard.claim("a", {"dev", 100}));
  auto previous = shard.claim("b", {"dev", 200});
  REQUIRE(previous);
  CHECK(previous->node == "a");
  CHECK(shard.client_holder("dev")->node == "b");
  // a's full announcement, made before it heard of b's claim, arrives late:
  // b keeps the id, and a learns that its connection is the older one.
  auto superseded = shard.replace("a", NodeState{{{"dev", 100}}, {}});
  REQUIRE(superseded.size() == 1);
  CHECK(superseded[0].id == "dev");
  CHECK(superseded[0].since_ms == 200);
  CHECK(shard.client_holder("dev")->node == "b");
  // Only the holder's own departure removes the entry.
  shard.remove("a", NodeState{{{"dev", 0}}, {}});
  CHECK(shard.client_holder("dev")->node == "b");
  shard.remove("b", NodeState{{{"dev", 0}}, {}});
  CHECK_FALSE(shard.client_holder("dev"));
}
