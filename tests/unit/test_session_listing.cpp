// GET /api/v1/sessions's search and order (gateway/admin/session_listing.hpp).
#include <doctest/doctest.h>

#include "gateway/admin/session_listing.hpp"

using namespace tidegate;
using namespace tidegate::admin;

namespace {
SessionView session(std::string id, bool online, std::optional<std::string> user = {},
                    std::optional<std::string> address = {}) {
  SessionView v;
  v.client_id = std::move(id);
  v.online = online;
  v.username = std::move(user);
  v.address = std::move(address);
  return v;
}

SessionQuery parse(std::string_view query) {
  std::string problem;
  auto q = parse_session_query(query, problem);
  REQUIRE_MESSAGE(q.has_value(), problem);
  return *q;
}

std::vector<std::string> ids(const std::vector<SessionView>& views) {
  std::vector<std::string> out;
  for (const auto& v : views) out.push_back(v.client_id);
  return out;
}
}  // namespace

TEST_CASE("q matches part of the client id, the user name or an online session's address") {
  auto q = parse("q=line-2");
  CHECK(q.matches(session("plant/line-2/press", false)));
  CHECK(q.matches(session("x", true, std::string("line-2-operator"))));
  CHECK_FALSE(q.matches(session("line-3", true)));
  auto by_address = parse("q=10.0.4.");
  CHECK(by_address.matches(session("a", true, {}, std::string("10.0.4.17:51234"))));
  CHECK_FALSE(by_address.matches(session("a", false, {}, std::string("10.0.4.17:51234"))));  // offline: no address
  auto online = parse("state=online&prefix=plant/");
  CHECK(online.matches(session("plant/a", true)));
  CHECK_FALSE(online.matches(session("plant/a", false)));
  CHECK_FALSE(online.matches(session("yard/a", true)));
}

TEST_CASE("bad sort, order or state is refused with what is allowed") {
  std::string problem;
  CHECK_FALSE(parse_session_query("sort=size", problem));
  CHECK(problem == "sort must be client_id, backlog, inflight, rate or connected");
  CHECK_FALSE(parse_session_query("order=up", problem));
  CHECK(problem == "order must be asc or desc");
  CHECK_FALSE(parse_session_query("state=away", problem));
}

TEST_CASE("counts sort largest first unless asked; ties keep client id order") {
  std::vector<SessionView> views = {session("a", true), session("b", true), session("c", true), session("d", false)};
  Ingest::ReaderBacklogs backlogs;
  backlogs["b"] = {{"q1", 5}, {"q2", 7}};
  backlogs["d"] = {{"q1", 30}};
  auto by_backlog = parse("sort=backlog");
  CHECK(by_backlog.descending);
  sort_sessions(views, by_backlog, backlogs, 0);
  CHECK(ids(views) == std::vector<std::string>{"d", "b", "a", "c"});
  CHECK(total_backlog(backlogs, "b") == 12);
  CHECK(total_backlog(backlogs, "a") == 0);
  sort_sessions(views, parse("sort=backlog&order=asc"), backlogs, 0);
  CHECK(ids(views) == std::vector<std::string>{"a", "c", "b", "d"});
}

TEST_CASE("rate is messages in and out a second since the connection came") {
  auto v = session("a", true);
  v.connected_since_ms = 10'000;
  v.traffic.messages_in = 300;
  v.traffic.messages_out = 100;
  CHECK(session_rate(v, 20'000) == doctest::Approx(40.0));
  CHECK(session_rate(v, 10'100) == doctest::Approx(400.0));  // under a second counts as one
  v.online = false;
  CHECK(session_rate(v, 20'000) == 0.0);

  std::vector<SessionView> views = {session("slow", true), session("fast", true)};
  views[0].connected_since_ms = views[1].connected_since_ms = 0;
  views[0].traffic.messages_in = 10;
  views[1].traffic.messages_in = 1000;
  sort_sessions(views, parse("sort=rate"), {}, 10'000);
  CHECK(ids(views) == std::vector<std::string>{"fast", "slow"});
  sort_sessions(views, parse("order=desc"), {}, 10'000);  // client id, Z-A
  CHECK(ids(views) == std::vector<std::string>{"slow", "fast"});
}
