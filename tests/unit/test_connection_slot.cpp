// ConnectionSlot (connection_slot.hpp): max_connections is taken before a
// socket is kept and given back exactly once, however the slot ends.
#include <doctest/doctest.h>

#include <atomic>
#include <optional>
#include <vector>

#include "gateway/net/connection_slot.hpp"

using tidegate::ConnectionSlot;

TEST_CASE("connection slot: no slot beyond the limit, and one back per slot") {
  std::atomic<std::int64_t> open{0};
  std::vector<ConnectionSlot> held;
  for (int i = 0; i < 3; ++i) {
    auto slot = ConnectionSlot::try_take(open, 3);
    REQUIRE(slot);
    held.push_back(std::move(*slot));
  }
  CHECK(open == 3);
  CHECK_FALSE(ConnectionSlot::try_take(open, 3).has_value());
  CHECK(open == 3);  // a refused take leaves the count as it was
  held.pop_back();
  CHECK(open == 2);
  CHECK(ConnectionSlot::try_take(open, 3).has_value());  // taken and given back at once (a temporary)
  CHECK(open == 2);
  held.clear();
  CHECK(open == 0);
}

TEST_CASE("connection slot: moves carry the slot, given back once") {
  std::atomic<std::int64_t> open{0};
  {
    auto a = ConnectionSlot::take(open);
    auto b = std::move(a);
    CHECK(open == 1);
    auto c = ConnectionSlot::take(open);
    CHECK(open == 2);
    c = std::move(b);  // c's own slot goes back, b's moves in
    CHECK(open == 1);
  }
  CHECK(open == 0);
  // take() ignores the limit: a bridge's own link.
  std::optional<ConnectionSlot> over;
  auto first = ConnectionSlot::try_take(open, 1);
  over.emplace(ConnectionSlot::take(open));
  CHECK(open == 2);
}
