// Topic matching for ACL rules, written for plugins/auth so the plugin does not depend
// on gateway internals. Semantics are mosquitto 2.0's mosquitto_topic_matches_sub():
// '+' is one whole level (possibly empty), '#' is the last level and matches the parent
// too ("a/#" matches "a"), and a topic starting with '$' is matched only by a filter
// starting with '$' (and a '$' filter only by '$' topics). Invalid input never matches.
// Pure functions; no allocation on the matching path.
#pragma once

#include <string_view>

namespace tidegate::auth {

// mosquitto_sub_topic_check(): '+' and '#' occupy whole levels, '#' only last, at most
// 65535 bytes. The empty string is not a valid filter here (mosquitto rejects it when
// matching).
bool valid_acl_filter(std::string_view filter);

// A topic name: non-empty, no '+' or '#'.
bool valid_topic_name(std::string_view topic);

// True when `topic` (a topic name) is matched by `filter`.
bool acl_topic_matches(std::string_view filter, std::string_view topic);

// True when some topic name is matched by both filters.
bool filters_overlap(std::string_view a, std::string_view b);

// True when every topic name matched by `filter` is also matched by `acl_topic`:
// filter_within("a/b/#", "a/b/+/c") and filter_within("a/#", "a") are true,
// filter_within("a/b/#", "a/#") is false ("a/x" escapes it), and
// filter_within("#", "$SYS/#") is false ('$' topics are outside "#").
bool filter_within(std::string_view acl_topic, std::string_view filter);

}  // namespace tidegate::auth
