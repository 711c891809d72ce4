// plugins/auth/acl_file and acl_topic: mosquitto 2.0 acl_file syntax and decisions.
#include <doctest/doctest.h>

#include <bitset>
#include <optional>
#include <string>
#include <vector>

#include "gateway/pipeline/topic_match.hpp"
#include "plugins/auth/acl_file.hpp"
#include "plugins/auth/acl_topic.hpp"

using namespace tidegate::auth;

namespace {

constexpr auto R = Access::read;
constexpr auto W = Access::write;
constexpr std::optional<std::string_view> anon = std::nullopt;

std::string error_of(const std::string& text) {
  try {
    AclFile::parse(text, "acl.txt");
  } catch (const AuthFileError& e) {
    return e.what();
  }
  return "";
}

// Every level sequence of length 1..max_depth over `levels`, joined by '/'.
std::vector<std::string> strings_over(const std::vector<std::string>& levels, int max_depth) {
  std::vector<std::string> out, layer{""};
  for (int depth = 1; depth <= max_depth; ++depth) {
    std::vector<std::string> next;
    for (const auto& prefix : layer) {
      for (const auto& level : levels) next.push_back(depth == 1 ? level : prefix + "/" + level);
    }
    out.insert(out.end(), next.begin(), next.end());
    layer = std::move(next);
  }
  return out;
}

// Topic names for the brute-force checks: depth up to 4 so that any filter of depth
// up to 3 has a topic beyond it; "c" is a level no filter names. The empty string is
// not a topic name.
const std::vector<std::string>& universe() {
  static const auto u = [] {
    auto all = strings_over({"a", "b", "c", "", "$x"}, 4);
    std::erase(all, std::string());
    return all;
  }();
  return u;
}

std::vector<std::string> filters() {
  std::vector<std::string> out;
  for (const auto& f : strings_over({"a", "b", "", "$x", "+", "#"}, 3)) {
    if (valid_acl_filter(f)) out.push_back(f);
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------- topic matching

TEST_CASE("acl topic: matching agrees with the gateway's MQTT 4.7 matcher") {
  const auto fs = filters();
  for (const auto& f : fs) {
    for (const auto& t : universe()) {
      INFO("filter '", f, "' topic '", t, "'");
      CHECK(acl_topic_matches(f, t) == tidegate::topic_matches(f, t));
    }
  }
  CHECK(acl_topic_matches("a/#", "a"));
  CHECK(acl_topic_matches("a/+", "a/"));
  CHECK(acl_topic_matches("+/+", "/"));
  CHECK_FALSE(acl_topic_matches("#", "$SYS/x"));
  CHECK_FALSE(acl_topic_matches("+/x", "$SYS/x"));
  CHECK(acl_topic_matches("$SYS/#", "$SYS/x"));
  // mosquitto also refuses a '$' filter for a non-'$' topic, and invalid input.
  CHECK_FALSE(acl_topic_matches("$SYS/#", "SYS/x"));
  CHECK_FALSE(acl_topic_matches("a/#", "a/+"));
  CHECK_FALSE(acl_topic_matches("a/b#", "a/b#"));
  CHECK_FALSE(acl_topic_matches("", ""));
}

TEST_CASE("acl topic: filter validity is mosquitto_sub_topic_check") {
  for (const char* ok : {"a", "#", "+", "a/+/b", "a/#", "+/+", "/", "a//b", "$SYS/#", "a b/c"}) {
    CHECK_MESSAGE(valid_acl_filter(ok), ok);
  }
  for (const char* bad : {"", "a#", "a/#/b", "#/a", "a+", "+a", "a/b+/c", "##"}) {
    CHECK_FALSE_MESSAGE(valid_acl_filter(bad), bad);
  }
}

TEST_CASE("acl topic: filters_overlap and filter_within match brute force") {
  const auto fs = filters();
  const auto& u = universe();
  REQUIRE(u.size() < 1000);
  std::vector<std::bitset<1000>> sets;
  for (const auto& f : fs) {
    std::bitset<1000> s;
    for (std::size_t i = 0; i < u.size(); ++i) s[i] = acl_topic_matches(f, u[i]);
    sets.push_back(s);
  }
  for (std::size_t i = 0; i < fs.size(); ++i) {
    for (std::size_t j = 0; j < fs.size(); ++j) {
      INFO("'", fs[i], "' vs '", fs[j], "'");
      CHECK(filters_overlap(fs[i], fs[j]) == (sets[i] & sets[j]).any());
      CHECK(filter_within(fs[i], fs[j]) == ((sets[j] & ~sets[i]).none()));
    }
  }
  CHECK(filter_within("a/b/#", "a/b/+/c"));
  CHECK(filter_within("a/b/#", "a/b"));
  CHECK_FALSE(filter_within("a/b/#", "a/#"));
  CHECK_FALSE(filter_within("#", "$SYS/#"));
  CHECK_FALSE(filter_within("a/+", "a/#"));
  CHECK(filter_within("+/#", "#"));   // same topics: "#" never matches the empty string
  CHECK_FALSE(filters_overlap("+", "/#"));
}

// ---------------------------------------------------------------- sections

TEST_CASE("acl file: anonymous section, user sections and default access") {
  const auto acl = AclFile::parse(
      "# header comment\n"
      "topic read public/#\n"
      "topic anon/only\n"  // no access word: readwrite
      "\n"
      "user alice\n"
      "topic readwrite alice/#\n"
      "topic write sensors/+/temp\n"
      "user bob smith\n"
      "topic read bob/#\n"
      "user alice\n"  // a second block for alice adds to the first
      "topic read shared/#\n",
      "acl.txt");

  // Anonymous clients: the lines before the first user line, nothing else.
  CHECK(acl.allowed(anon, "c1", "public/x", R));
  CHECK_FALSE(acl.allowed(anon, "c1", "public/x", W));
  CHECK(acl.allowed(anon, "c1", "anon/only", R));
  CHECK(acl.allowed(anon, "c1", "anon/only", W));
  CHECK_FALSE(acl.allowed(anon, "c1", "alice/x", R));

  // A user gets its own section only, not the anonymous one.
  CHECK(acl.allowed("alice", "c2", "alice/a/b", R));
  CHECK(acl.allowed("alice", "c2", "alice", W));  // "alice/#" covers its parent
  CHECK(acl.allowed("alice", "c2", "sensors/k/temp", W));
  CHECK_FALSE(acl.allowed("alice", "c2", "sensors/k/temp", R));
  CHECK_FALSE(acl.allowed("alice", "c2", "sensors/k/humidity", W));
  CHECK(acl.allowed("alice", "c2", "shared/1", R));
  CHECK_FALSE(acl.allowed("alice", "c2", "public/x", R));
  CHECK(acl.allowed("bob smith", "c3", "bob/1", R));
  CHECK_FALSE(acl.allowed("bob", "c3", "bob/1", R));

  // Listed nowhere, or an empty user name: no section, nothing allowed.
  CHECK_FALSE(acl.allowed("carol", "c4", "public/x", R));
  CHECK_FALSE(acl.allowed("", "c4", "public/x", R));
}

TEST_CASE("acl file: deny beats allow inside a list, whatever the order") {
  const auto acl = AclFile::parse(
      "topic readwrite home/#\n"
      "topic deny home/secret/#\n"
      "user alice\n"
      "topic deny home/secret/#\n"
      "topic readwrite home/#\n",
      "acl.txt");
  for (const std::optional<std::string_view> user : {anon, std::optional<std::string_view>("alice")}) {
    CHECK(acl.allowed(user, "c", "home/lamp", R));
    CHECK(acl.allowed(user, "c", "home/lamp", W));
    CHECK_FALSE(acl.allowed(user, "c", "home/secret", R));
    CHECK_FALSE(acl.allowed(user, "c", "home/secret/key", W));
  }
}

TEST_CASE("acl file: patterns substitute %c and %u and apply to everyone") {
  const auto acl = AclFile::parse(
      "pattern readwrite clients/%c/#\n"
      "pattern read users/%u/inbox\n"
      "pattern write users/%u/outbox/%c\n"
      "user alice\n"
      "topic read feed\n",
      "acl.txt");
  CHECK(acl.warnings().empty());

  CHECK(acl.allowed("alice", "dev1", "clients/dev1/x", W));
  CHECK_FALSE(acl.allowed("alice", "dev1", "clients/dev2/x", R));
  CHECK(acl.allowed("alice", "dev1", "users/alice/inbox", R));
  CHECK_FALSE(acl.allowed("alice", "dev1", "users/alice/inbox", W));
  CHECK_FALSE(acl.allowed("alice", "dev1", "users/bob/inbox", R));
  CHECK(acl.allowed("alice", "dev1", "users/alice/outbox/dev1", W));
  CHECK(acl.allowed("alice", "dev1", "feed", R));
  // Patterns apply to users without a section and to anonymous clients...
  CHECK(acl.allowed("bob", "dev2", "users/bob/inbox", R));
  CHECK(acl.allowed(anon, "dev3", "clients/dev3/y", R));
  // ...but a %u pattern is skipped without a user name (no "users/%u" literal match).
  CHECK_FALSE(acl.allowed(anon, "dev3", "users/%u/inbox", R));
  CHECK_FALSE(acl.allowed(anon, "dev3", "users//inbox", R));
  // An empty user name is a user name.
  CHECK(acl.allowed("", "dev4", "users//inbox", R));

  // '+' or '#' in the user name or client id refuses everything the patterns would
  // decide; a '/' in the client id spans levels (mosquitto 2.0).
  CHECK_FALSE(acl.allowed("alice", "dev+", "clients/dev+/x", R));
  CHECK_FALSE(acl.allowed("al#ce", "dev1", "clients/dev1/x", R));
  CHECK(acl.allowed("alice", "dev#", "feed", R));  // the section decides first
  CHECK(acl.allowed("alice", "site/dev1", "clients/site/dev1/x", R));
}

TEST_CASE("acl file: a section decision is final before the patterns") {
  const auto acl = AclFile::parse(
      "pattern deny private/%c\n"
      "pattern read private/#\n"
      "pattern read open/%c\n"
      "user alice\n"
      "topic read private/dev1\n"
      "topic deny open/#\n",
      "acl.txt");
  CHECK(acl.allowed("alice", "dev1", "private/dev1", R));   // user allow beats pattern deny
  CHECK_FALSE(acl.allowed("bob", "dev1", "private/dev1", R));
  CHECK(acl.allowed("bob", "dev1", "private/dev2", R));
  CHECK_FALSE(acl.allowed("alice", "dev1", "open/dev1", R));  // user deny beats pattern allow
  CHECK(acl.allowed("bob", "dev1", "open/dev1", R));
}

TEST_CASE("acl file: $ topics, filters and the empty file") {
  const auto acl = AclFile::parse("topic read #\ntopic read $SYS/broker/#\n", "acl.txt");
  CHECK(acl.allowed(anon, "c", "a/b", R));
  CHECK(acl.allowed(anon, "c", "$SYS/broker/uptime", R));
  CHECK_FALSE(acl.allowed(anon, "c", "$SYS/other", R));
  // A filter is not a topic name: allowed() refuses it.
  CHECK_FALSE(acl.allowed(anon, "c", "a/#", R));
  CHECK_FALSE(acl.allowed(anon, "c", "a/+", R));
  CHECK_FALSE(acl.allowed(anon, "c", "", R));

  const auto empty = AclFile::parse("# nothing\n", "acl.txt");
  CHECK_FALSE(empty.allowed(anon, "c", "a", R));
  CHECK_FALSE(empty.allowed("alice", "c", "a", W));
}

TEST_CASE("acl file: mosquitto's parser quirks") {
  const auto acl = AclFile::parse(
      "   topic    read    spaced topic/x   \n"  // extra spaces; the topic keeps inner ones
      "topic read\n"                            // readwrite on the topic "read"
      "topic write a\tb\n"                      // the tab belongs to the topic
      "pattern read fixed/topic\n"
      "user   alice  \n",
      "acl.txt");
  CHECK(acl.allowed(anon, "c", "spaced topic/x", R));
  CHECK(acl.allowed(anon, "c", "read", W));
  CHECK(acl.allowed(anon, "c", "a\tb", W));
  CHECK(acl.allowed(anon, "c", "fixed/topic", R));
  REQUIRE(acl.warnings().size() == 3);
  CHECK(acl.warnings()[0] == "acl.txt:2: 'topic read' is readwrite access to the topic 'read' (no topic follows "
                             "the access word)");
  CHECK(acl.warnings()[1] == "acl.txt:3: topic 'a\tb' contains a tab (only spaces separate words)");
  CHECK(acl.warnings()[2] == "acl.txt:4: pattern 'fixed/topic' contains neither %c nor %u");
}

TEST_CASE("acl file: malformed lines are refused with their line number") {
  CHECK(error_of("topic read a\nuser\n") == "acl.txt:2: 'user' without a user name");
  CHECK(error_of("\n\ntopic\n") == "acl.txt:3: 'topic' without a topic");
  CHECK(error_of("pattern\n") == "acl.txt:1: 'pattern' without a topic");
  CHECK(error_of("topic reed a/b\n") == "acl.txt:1: invalid access 'reed' (expected read, write, readwrite or deny)");
  CHECK(error_of("topic read a/#/b\n") == "acl.txt:1: invalid ACL topic 'a/#/b'");
  CHECK(error_of("user x\ntopic a+\n") == "acl.txt:2: invalid ACL topic 'a+'");
  CHECK(error_of("Topic read a\n") == "acl.txt:1: unknown directive 'Topic' (expected user, topic or pattern)");
  CHECK(error_of("topic\tread a\n") ==
        "acl.txt:1: unknown directive 'topic\tread' (expected user, topic or pattern)");
  // Only a '#' in the first column starts a comment.
  CHECK(error_of("topic a\n  # note\n") == "acl.txt:2: unknown directive '#' (expected user, topic or pattern)");
  CHECK(error_of("topic read a\r\n\r\n# ok\r\n").empty());
}

TEST_CASE("acl file: load reads the file or names it in the error") {
  CHECK_THROWS_WITH_AS(AclFile::load("/nonexistent/tidegate-acl"),
                       doctest::Contains("/nonexistent/tidegate-acl: cannot open: "), AuthFileError);
}

// ---------------------------------------------------------------- filters

TEST_CASE("acl file: subscribe_scope classifies filters") {
  const auto acl = AclFile::parse(
      "user alice\n"
      "topic read a/b/#\n"
      "topic write w/#\n"
      "topic readwrite h/#\n"
      "topic deny h/secret\n"
      "pattern read c/%c/#\n",
      "acl.txt");
  const auto scope = [&](std::string_view filter) { return acl.subscribe_scope("alice", "dev1", filter); };
  CHECK(scope("a/b/+") == SubscribeScope::all);
  CHECK(scope("a/b") == SubscribeScope::all);
  CHECK(scope("a/b/#") == SubscribeScope::all);
  CHECK(scope("a/#") == SubscribeScope::partial);
  CHECK(scope("#") == SubscribeScope::partial);
  CHECK(scope("x/#") == SubscribeScope::none);       // no rule reads anything under x
  CHECK(scope("c/#") == SubscribeScope::partial);    // c/dev1/... via the pattern
  CHECK(scope("w/#") == SubscribeScope::none);       // write only
  CHECK(scope("h/+") == SubscribeScope::partial);    // h/secret is denied
  CHECK(scope("h/secret") == SubscribeScope::none);
  CHECK(scope("h/other/#") == SubscribeScope::all);
  CHECK(scope("c/dev1/x") == SubscribeScope::all);   // via the pattern
  CHECK(scope("c/+/x") == SubscribeScope::partial);
  CHECK(scope("c/dev2/#") == SubscribeScope::none);
  CHECK(scope("$SYS/#") == SubscribeScope::none);
  CHECK(acl.subscribe_scope("alice", "de#v", "c/de#v/x") == SubscribeScope::none);
  CHECK(acl.subscribe_scope("bob", "dev1", "a/b/c") == SubscribeScope::none);
  CHECK(acl.subscribe_scope(anon, "dev1", "c/dev1/#") == SubscribeScope::all);
}

TEST_CASE("acl file: bind() and subscribe_scope agree with per-topic decisions") {
  const auto acl = AclFile::parse(
      "topic read a/#\n"
      "topic deny a/b/+\n"
      "user u\n"
      "topic read +/b\n"
      "topic write b/#\n"
      "topic deny $x/a\n"
      "topic read $x/#\n"
      "pattern read %u/%c/#\n"
      "pattern deny a/%c\n"
      "pattern readwrite b/+/%c\n",
      "acl.txt");
  const auto fs = filters();
  for (const std::optional<std::string_view> user : {anon, std::optional<std::string_view>("u"),
                                                     std::optional<std::string_view>("a")}) {
    for (const std::string_view id : {"a", "b", "c"}) {
      const auto client = acl.bind(user, id);
      for (const auto& t : universe()) {
        for (const auto access : {R, W}) {
          INFO("user ", user.value_or("<anon>"), " id ", id, " topic '", t, "'");
          CHECK(client.allowed(t, access) == acl.allowed(user, id, t, access));
        }
      }
      for (const auto& f : fs) {
        bool any = false, every = true;
        for (const auto& t : universe()) {
          if (!acl_topic_matches(f, t)) continue;
          const bool ok = client.allowed(t, R);
          any = any || ok;
          every = every && ok;
        }
        const auto scope = client.subscribe_scope(f);
        INFO("user ", user.value_or("<anon>"), " id ", id, " filter '", f, "'");
        if (scope == SubscribeScope::none) CHECK_FALSE(any);  // sound: never hides a readable topic
        if (scope == SubscribeScope::all) CHECK(every);       // sound: the per-message check may be skipped
      }
    }
  }
}
