#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "gateway/pipeline/subscription_trie.hpp"
#include "gateway/pipeline/topic_match.hpp"

using tidegate::SubscriptionTrie;
using tidegate::topic_matches;

namespace {
std::vector<std::string> matches(const SubscriptionTrie<std::string>& trie, const std::string& topic) {
  std::vector<std::string> out;
  trie.match(topic, [&](const std::string& v) { out.push_back(v); });
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

TEST_CASE("topic_matches follows MQTT 4.7") {
  CHECK(topic_matches("a/b", "a/b"));
  CHECK_FALSE(topic_matches("a/b", "a/c"));
  CHECK(topic_matches("a/+", "a/b"));
  CHECK_FALSE(topic_matches("a/+", "a/b/c"));
  CHECK(topic_matches("a/+/c", "a/b/c"));
  CHECK(topic_matches("a/#", "a"));  // '#' includes the parent level
  CHECK(topic_matches("a/#", "a/b/c"));
  CHECK(topic_matches("#", "a/b"));
  CHECK(topic_matches("+/+", "/a"));   // empty levels are levels
  CHECK_FALSE(topic_matches("+", "/a"));
  CHECK_FALSE(topic_matches("#", "$SYS/uptime"));  // MQTT-4.7.2-1
  CHECK_FALSE(topic_matches("+/uptime", "$SYS/uptime"));
  CHECK(topic_matches("$SYS/#", "$SYS/uptime"));
}

TEST_CASE("trie matches exact, + and # filters like topic_matches") {
  SubscriptionTrie<std::string> trie;
  const std::vector<std::string> filters = {"a/b",   "a/+", "a/#", "#",    "+/b",   "a/b/c",
                                            "+/+/+", "$SYS/#", "a/+/#", "a/+/", "+/",   "/+",
                                            "a//c",  "+",      "$SYS",  "level-longer-than-sso/+/x"};
  for (const auto& f : filters) trie.insert(f, f);
  // Empty levels ("a/", "/", "a//c") and levels longer than a short string.
  for (std::string topic : {"a/b", "a", "a/b/c", "x/b", "$SYS/x", "a/b/c/d", "/b", "a/", "/", "a//c", "$SYS", "a/b/",
                            "level-longer-than-sso/yy/x", "level-longer-than-sso/yy/x/"}) {
    std::vector<std::string> expected;
    for (const auto& f : filters)
      if (topic_matches(f, topic)) expected.push_back(f);
    std::sort(expected.begin(), expected.end());
    CHECK_MESSAGE(matches(trie, topic) == expected, topic);
  }
}

TEST_CASE("trie erase removes one value and prunes") {
  SubscriptionTrie<std::string> trie;
  trie.insert("a/+/c", "q1");
  trie.insert("a/+/c", "q2");
  CHECK(trie.erase("a/+/c", "q1"));
  CHECK(matches(trie, "a/b/c") == std::vector<std::string>{"q2"});
  CHECK_FALSE(trie.erase("a/+/c", "q1"));
  CHECK(trie.erase("a/+/c", "q2"));
  CHECK(trie.empty());

  // Wildcard levels live in their own slots; they prune the same way.
  trie.insert("a/#", "h");
  trie.insert("+/b", "p");
  trie.insert("+/#", "ph");
  CHECK(matches(trie, "a/b") == std::vector<std::string>{"h", "p", "ph"});
  CHECK_FALSE(trie.erase("a/+", "h"));
  CHECK(trie.erase("a/#", "h"));
  CHECK(trie.erase("+/b", "p"));
  CHECK(matches(trie, "a/b") == std::vector<std::string>{"ph"});
  CHECK(trie.erase("+/#", "ph"));
  CHECK(trie.empty());
}

TEST_CASE("parse_shared splits $share/group/filter") {
  auto s = tidegate::parse_shared("$share/g1/a/+/c");
  CHECK(s.group == "g1");
  CHECK(s.filter == "a/+/c");
  auto p = tidegate::parse_shared("a/b");
  CHECK(p.group.empty());
  CHECK(p.filter == "a/b");
}
