// MQTT topics and filters as NATS subjects (storeclient/subject_codec.hpp).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "gateway/pipeline/topic_match.hpp"
#include "storeclient/subject_codec.hpp"

using namespace tidegate::store;

namespace {
// NATS subject matching: `*` one token, `>` one or more trailing tokens.
std::vector<std::string_view> tokens(std::string_view s) {
  std::vector<std::string_view> out;
  for (;;) {
    auto dot = s.find('.');
    out.push_back(s.substr(0, dot));
    if (dot == std::string_view::npos) return out;
    s.remove_prefix(dot + 1);
  }
}
bool nats_matches(std::string_view filter, std::string_view subject) {
  auto f = tokens(filter), t = tokens(subject);
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (f[i] == ">") return t.size() > i;
    if (i >= t.size() || (f[i] != "*" && f[i] != t[i])) return false;
  }
  return f.size() == t.size();
}
}  // namespace

TEST_CASE("a topic becomes one token per level and a terminator") {
  CHECK(topic_to_subject("tg.m", "a/b") == "tg.m.a.b.%");
  CHECK(topic_to_subject("tg.m", "a") == "tg.m.a.%");
  CHECK(topic_to_subject("tg.m", "$SYS/x") == "tg.m.$SYS.x.%");
}

TEST_CASE("characters NATS treats specially are percent-escaped") {
  CHECK(topic_to_subject("tg.m", "a.b/c*/>/d e/50%") == "tg.m.a%2Eb.c%2A.%3E.d%20e.50%25.%");
  CHECK(topic_to_subject("tg.m", "tab\there") == "tg.m.tab%09here.%");
  CHECK(topic_to_subject("tg.m", "del\x7f") == "tg.m.del%7F.%");
  CHECK(topic_to_subject("tg.m", "ünï/código") == "tg.m.ünï.código.%");  // UTF-8 bytes pass
}

TEST_CASE("empty levels become %00") {
  CHECK(topic_to_subject("tg.m", "/a") == "tg.m.%00.a.%");
  CHECK(topic_to_subject("tg.m", "a//b/") == "tg.m.a.%00.b.%00.%");
}

TEST_CASE("subject_to_topic inverts topic_to_subject") {
  for (std::string topic : {"a", "a/b", "/", "//", "/a/", "a.b/c*/>/d e/50%", "%00/%", "x\x01y", "$SYS/broker",
                            "ünï/código", "%2E"}) {
    auto back = subject_to_topic("tg.m", topic_to_subject("tg.m", topic));
    REQUIRE(back);
    CHECK(*back == topic);
  }
}

TEST_CASE("subject_to_topic refuses what topic_to_subject never writes") {
  CHECK_FALSE(subject_to_topic("tg.m", "tg.m.a"));         // no terminator
  CHECK_FALSE(subject_to_topic("tg.x.a.%", "tg.m.a.%"));   // another prefix
  CHECK_FALSE(subject_to_topic("tg.m", "tg.m.a..%"));      // empty token
  CHECK_FALSE(subject_to_topic("tg.m", "tg.m.a%2.%"));     // short escape
  CHECK_FALSE(subject_to_topic("tg.m", "tg.m.a%zz.%"));    // not hex
  CHECK_FALSE(subject_to_topic("tg.m", "tg.m.a%00b.%"));   // NUL
  CHECK_FALSE(subject_to_topic("tg.m", "tg.mm.a.%"));
}

TEST_CASE("filters map + to * and a trailing # to >") {
  CHECK(filter_to_subject("tg.m", "a/b") == "tg.m.a.b.%");
  CHECK(filter_to_subject("tg.m", "a/+") == "tg.m.a.*.%");
  CHECK(filter_to_subject("tg.m", "+/+/c") == "tg.m.*.*.c.%");
  CHECK(filter_to_subject("tg.m", "a/#") == "tg.m.a.>");
  CHECK(filter_to_subject("tg.m", "#") == "tg.m.>");
  CHECK(filter_to_subject("tg.m", "a.b/+/#") == "tg.m.a%2Eb.*.>");
}

TEST_CASE("the NATS filter matches exactly what the MQTT filter matches (first-level $ aside)") {
  const char* topics[] = {"a", "a/b", "a/b/c", "b", "/a", "a/", "a//b", "x/a/b", "a.b", "a/b.c", "a b/c", "*", ">"};
  const char* filters[] = {"a",   "a/#", "a/+", "+",     "+/+", "#",   "a/b/#", "+/b",   "/+",
                           "a/+/#", "a.b", "+/+/+", "*",  ">",  "a/", "a//b", "+/a/#"};
  for (auto* f : filters)
    for (auto* t : topics) {
      INFO("filter " << f << " topic " << t);
      CHECK(nats_matches(filter_to_subject("tg.m", f), topic_to_subject("tg.m", t)) == tidegate::topic_matches(f, t));
    }
}
