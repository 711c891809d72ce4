#pragma once
// MQTT topics and filters as NATS subjects (cluster mode, docs/cluster.md).
//
// A topic `l1/l2/.../ln` becomes `<prefix>.e(l1).e(l2)...e(ln).%`:
// - each level is one subject token; NATS forbids `.`, `*`, `>` and
//   whitespace inside a token, so e() writes `%`, `.`, `*`, `>`, every byte up
//   to 0x20 (space, control characters) and 0x7F as `%` + two upper-case hex
//   digits;
// - an empty level (`a//b`, `/a`) becomes `%00` (a token may not be empty;
//   MQTT forbids U+0000 in topics, so `%00` is never an escaped byte);
// - the last token is a lone `%`, which escaping never writes. It makes the
//   MQTT rule "`a/#` matches `a`" a single NATS filter: `a/#` becomes
//   `<prefix>.a.>`, which matches `<prefix>.a.%` (the topic `a`).
// A filter maps level by level the same way, `+` to `*` and a trailing `#` to
// `>` (no terminator after it). NATS wildcards ignore MQTT's rule that `#` and
// `+` never match a first level starting with `$` (MQTT-4.7.2-1): readers
// check each topic again with the MQTT matcher.
#include <optional>
#include <string>
#include <string_view>

namespace tidegate::store {

std::string topic_to_subject(std::string_view prefix, std::string_view topic);
// nullopt: not a subject topic_to_subject() writes under `prefix`.
std::optional<std::string> subject_to_topic(std::string_view prefix, std::string_view subject);
// The NATS filter subject that matches exactly the subjects of the topics
// `filter` matches (but see MQTT-4.7.2-1 above). `filter` must be valid.
std::string filter_to_subject(std::string_view prefix, std::string_view filter);

}  // namespace tidegate::store
