// MQTT string and topic validation (MQTT 3.1.1 sections 1.5.3, 4.7; MQTT 5.0
// sections 1.5.4, 4.7, 4.8.2). Pure functions, usable from any thread.
#pragma once

#include <optional>
#include <string_view>

namespace tidegate::mqtt {

// Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates U+D800..U+DFFF,
// nothing above U+10FFFF) and no U+0000 [MQTT-1.5.4-1], [MQTT-1.5.4-2].
// Control characters and non-characters are accepted: the spec only says a
// receiver MAY reject them, and clients do send them.
bool valid_mqtt_utf8(std::string_view s);

// A Topic Name as it may appear in PUBLISH: 1..65535 bytes, no '+' or '#',
// valid MQTT UTF-8.
bool valid_topic_name(std::string_view s);

// A Topic Filter as it may appear in SUBSCRIBE/UNSUBSCRIBE: 1..65535 bytes,
// valid MQTT UTF-8, '+' occupies a whole level, '#' occupies the last level.
// A filter starting with "$share/" must be "$share/{group}/{filter}" with a
// non-empty group free of '+', '#' and '/', and a non-empty valid filter.
bool valid_topic_filter(std::string_view s);

// The parts of a shared subscription filter. Returns nullopt when the filter
// does not start with "$share/" or is not a valid shared filter.
struct SharedFilter {
  std::string_view group;
  std::string_view filter;  // the filter after "$share/{group}/"
};
std::optional<SharedFilter> parse_shared_filter(std::string_view s);

// True when the filter starts with "$share/" (valid or not).
bool is_shared_filter(std::string_view s);

// True when the filter contains '+' or '#'.
bool has_wildcard(std::string_view s);

}  // namespace tidegate::mqtt
