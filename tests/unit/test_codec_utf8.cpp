// MQTT UTF-8 strings, topic names and topic filters.
#include <doctest/doctest.h>

#include <string>

#include "gateway/codec/utf8.hpp"

using namespace tidegate::mqtt;
using namespace std::string_literals;

TEST_CASE("utf8: well-formed strings are accepted") {
  CHECK(valid_mqtt_utf8(""));
  CHECK(valid_mqtt_utf8("plain ascii / + #"));
  CHECK(valid_mqtt_utf8("\xC2\x80"));              // U+0080
  CHECK(valid_mqtt_utf8("\xDF\xBF"));              // U+07FF
  CHECK(valid_mqtt_utf8("\xE0\xA0\x80"));          // U+0800
  CHECK(valid_mqtt_utf8("\xED\x9F\xBF"));          // U+D7FF, just below surrogates
  CHECK(valid_mqtt_utf8("\xEE\x80\x80"));          // U+E000, just above
  CHECK(valid_mqtt_utf8("\xEF\xBB\xBF"));          // BOM is kept, not rejected
  CHECK(valid_mqtt_utf8("\xEF\xBF\xBF"));          // U+FFFF non-character: allowed
  CHECK(valid_mqtt_utf8("\xF0\x90\x80\x80"));      // U+10000
  CHECK(valid_mqtt_utf8("\xF4\x8F\xBF\xBF"));      // U+10FFFF
  CHECK(valid_mqtt_utf8("\x01\x1F\x7F\xC2\x9F"));  // control characters: allowed
  CHECK(valid_mqtt_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
}

TEST_CASE("utf8: ill-formed strings and U+0000 are rejected") {
  CHECK_FALSE(valid_mqtt_utf8("\0"s));
  CHECK_FALSE(valid_mqtt_utf8("a\0b"s));
  CHECK_FALSE(valid_mqtt_utf8("\xC0\x80"));          // overlong U+0000
  CHECK_FALSE(valid_mqtt_utf8("\xC1\xBF"));          // overlong
  CHECK_FALSE(valid_mqtt_utf8("\xE0\x9F\xBF"));      // overlong 3-byte
  CHECK_FALSE(valid_mqtt_utf8("\xF0\x8F\xBF\xBF"));  // overlong 4-byte
  CHECK_FALSE(valid_mqtt_utf8("\xED\xA0\x80"));      // U+D800
  CHECK_FALSE(valid_mqtt_utf8("\xED\xBF\xBF"));      // U+DFFF
  CHECK_FALSE(valid_mqtt_utf8("\xF4\x90\x80\x80"));  // U+110000
  CHECK_FALSE(valid_mqtt_utf8("\xF5\x80\x80\x80"));
  CHECK_FALSE(valid_mqtt_utf8("\xFF"));
  CHECK_FALSE(valid_mqtt_utf8("\x80"));              // lone continuation
  CHECK_FALSE(valid_mqtt_utf8("\xC3"));              // truncated
  CHECK_FALSE(valid_mqtt_utf8("\xE2\x82"));          // truncated
  CHECK_FALSE(valid_mqtt_utf8("\xF0\x9F\x98"));      // truncated
  CHECK_FALSE(valid_mqtt_utf8("\xE2\x28\xA1"));      // bad continuation
  CHECK_FALSE(valid_mqtt_utf8("\xF0\x9F\x28\x80"));  // bad continuation
}

TEST_CASE("utf8: topic names") {
  CHECK(valid_topic_name("a"));
  CHECK(valid_topic_name("/"));
  CHECK(valid_topic_name("a//b/"));
  CHECK(valid_topic_name("$SYS/broker"));
  CHECK(valid_topic_name(" "));
  CHECK(valid_topic_name(std::string(65535, 'x')));
  CHECK_FALSE(valid_topic_name(""));
  CHECK_FALSE(valid_topic_name(std::string(65536, 'x')));
  CHECK_FALSE(valid_topic_name("a/+/b"));
  CHECK_FALSE(valid_topic_name("a/#"));
  CHECK_FALSE(valid_topic_name("a+b"));
  CHECK_FALSE(valid_topic_name("a\0b"s));
  CHECK_FALSE(valid_topic_name("\xED\xA0\x80"));
}

TEST_CASE("utf8: topic filters") {
  for (const char* ok : {"#",
                         "+",
                         "/",
                         "+/+",
                         "/+",
                         "+/",
                         "a/#",
                         "a/+/b",
                         "a/+/#",
                         "+/#",
                         "//",
                         "sport/tennis/player1",
                         "$SYS/#",
                         "a/b c/d",
                         "$share",
                         "$sharex/a/+",
                         "$share/group/a/b",
                         "$share/g/#",
                         "$share/g/+/x",
                         "$share/g//"}) {
    CAPTURE(ok);
    CHECK(valid_topic_filter(ok));
  }
  for (const char* bad : {"",          "a#",          "#a",         "a/#/b",      "a/b#",
                          "##",        "#/",          "a+",         "+a",         "a/b+/c",
                          "a/++",      "++",          "$share/",    "$share/g",   "$share/g/",
                          "$share//a", "$share/g+/a", "$share/#/a", "$share/+/a", "$share/g/a#"}) {
    CAPTURE(bad);
    CHECK_FALSE(valid_topic_filter(bad));
  }
  CHECK_FALSE(valid_topic_filter("a/\0"s));
  CHECK_FALSE(valid_topic_filter("\xC0\xAF"));
  CHECK(valid_topic_filter(std::string(65535, 'x')));
  CHECK_FALSE(valid_topic_filter(std::string(65536, 'x')));
}

TEST_CASE("utf8: shared subscription filters") {
  CHECK(is_shared_filter("$share/g/a"));
  CHECK(is_shared_filter("$share/"));
  CHECK_FALSE(is_shared_filter("$share"));
  CHECK_FALSE(is_shared_filter("$SHARE/g/a"));
  const auto shared = parse_shared_filter("$share/consumers/sensors/+/temp");
  REQUIRE(shared);
  CHECK(shared->group == "consumers");
  CHECK(shared->filter == "sensors/+/temp");
  CHECK_FALSE(parse_shared_filter("sensors/+"));
  CHECK_FALSE(parse_shared_filter("$share/g"));
  CHECK(has_wildcard("a/+"));
  CHECK(has_wildcard("#"));
  CHECK_FALSE(has_wildcard("a/b"));
}
