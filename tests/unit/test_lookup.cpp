// The cluster lookup (lookup/): the slot table and a shard, then two live
// lookups talking to each other.
#include <doctest/doctest.h>

#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "gateway/pipeline/topic_match.hpp"
#include "lookup/keys.hpp"
#include "lookup/lookup.hpp"
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

// ------------------------------------------------------------------ two live lookups
// Two Lookup objects in this process: RPCs over loopback, heartbeats handed
// straight from one to the other (what NATS does between gateways).

namespace {
using namespace std::chrono_literals;

LookupOptions quick(const std::string& node) {
  LookupOptions o;
  o.node = node;
  o.heartbeat = 25ms;
  o.member_timeout = 500ms;  // 20 heartbeats: a loaded CI machine does not lose a member
  o.rpc_timeout = 500ms;
  return o;
}

// Polls `condition` until it holds or `limit` passes (the lookups change on
// their own threads).
template <typename F>
bool eventually(F condition, std::chrono::milliseconds limit = 10000ms) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

struct Pair {
  Lookup* a_ptr = nullptr;
  Lookup* b_ptr = nullptr;
  std::mutex lock;  // the peers' pointers, read by the ticker threads
  std::string extra_for_a;  // a third member's heartbeat, heard by a only
  Lookup a{quick("a"), matcher(), [this](const std::string& hb) { deliver(hb, false); }, {}};
  Lookup b{quick("b"), matcher(), [this](const std::string& hb) { deliver(hb, true); }, {}};
  static Shard::Matcher matcher() {
    return [](std::string_view f, std::string_view t) { return tidegate::topic_matches(f, t); };
  }
  void deliver(const std::string& hb, bool to_a) {
    std::lock_guard guard(lock);
    Lookup* target = to_a ? a_ptr : b_ptr;
    if (!target) return;
    target->on_heartbeat(hb);
    if (to_a && !extra_for_a.empty()) target->on_heartbeat(extra_for_a);
  }
  Pair() {
    std::lock_guard guard(lock);
    a_ptr = &a;
    b_ptr = &b;
  }
  ~Pair() {
    {
      std::lock_guard guard(lock);
      a_ptr = b_ptr = nullptr;
    }
    a.stop();
    b.stop();
  }
};
}  // namespace

TEST_CASE("a gateway's state is visible once it has listened and every member is on its epoch") {
  Pair p;
  p.a.start();
  p.b.start();
  // Not before member_timeout: who else is there is not known yet.
  CHECK_FALSE(p.a.state_visible());
  CHECK_FALSE(p.a.holder_of("dev", 0ms));  // cannot say, and not asked to wait
  // Asked to wait, it answers once the lookup settles: nobody holds "dev".
  auto holder = p.a.holder_of("dev", 10000ms);
  REQUIRE(holder);
  CHECK_FALSE(*holder);
  CHECK(eventually([&] { return p.a.state_visible() && p.b.state_visible(); }));

  // A third member that only a hears of: a moves to a new epoch. b still
  // answers on the old one, so a's state is not visible to b's questions.
  {
    std::lock_guard guard(p.lock);
    p.extra_for_a = R"({"node":"c","host":"127.0.0.1","port":1,"incarnation":7,"epoch":1,"complete":true})";
  }
  CHECK(eventually([&] { return !p.a.state_visible(); }));
  CHECK(eventually([&] { return !p.b.state_visible(); }));  // a's heartbeats now carry the new epoch
  // c falls silent: after member_timeout it is gone, and both agree again.
  {
    std::lock_guard guard(p.lock);
    p.extra_for_a.clear();
  }
  CHECK(eventually([&] { return p.a.state_visible() && p.b.state_visible(); }));
}
