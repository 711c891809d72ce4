// The console's history ring (gateway/console/history.hpp): fixed memory,
// oldest first, and `since` as the live feed and GET /api/v1/history use it.
#include <doctest/doctest.h>

#include "gateway/console/history.hpp"

using tidegate::console::History;
using tidegate::console::HistorySample;

namespace {
HistorySample at(std::int64_t t) {
  HistorySample s;
  s.t_ms = t;
  s.values[0] = static_cast<float>(t);
  return s;
}
}  // namespace

TEST_CASE("an empty ring gives nothing") {
  History h(4);
  CHECK(h.since(0).empty());
  CHECK(h.capacity() == 4);
}

TEST_CASE("the ring keeps the newest `capacity` samples, oldest first") {
  History h(3);
  for (std::int64_t t = 1; t <= 5; ++t) h.push(at(t * 1000));
  auto all = h.since(0);
  REQUIRE(all.size() == 3);
  CHECK(all[0].t_ms == 3000);
  CHECK(all[1].t_ms == 4000);
  CHECK(all[2].t_ms == 5000);
  CHECK(all[2].values[0] == 5000.0f);
  CHECK(h.size() == 3);
}

TEST_CASE("since gives only newer samples, across the wrap") {
  History h(4);
  for (std::int64_t t = 1; t <= 6; ++t) h.push(at(t));
  auto newer = h.since(4);
  REQUIRE(newer.size() == 2);
  CHECK(newer[0].t_ms == 5);
  CHECK(newer[1].t_ms == 6);
  CHECK(h.since(6).empty());
  CHECK(h.since(2).size() == 4);
}

TEST_CASE("after(seq) follows the sequence, whatever the wall clock did") {
  History h(4);
  for (std::int64_t t : {5000, 6000, 2000, 3000, 4000}) h.push(at(t));  // the clock stepped back
  CHECK(h.last_seq() == 5);
  auto newer = h.after(3);
  REQUIRE(newer.size() == 2);
  CHECK(newer[0].t_ms == 3000);
  CHECK(newer[1].t_ms == 4000);
  CHECK(h.after(5).empty());
  CHECK(h.after(0).size() == 4);  // the oldest went
}

TEST_CASE("a sample is 64 bytes, so an hour is 225 KiB") {
  CHECK(sizeof(HistorySample) == 64);
}
