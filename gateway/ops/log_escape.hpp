#pragma once
// How a text log line shows what clients sent (docs/operations.md, "Logs"):
// a log message quotes client ids, user names, topics and reasons verbatim,
// so a control character in them could break the line in two (a forged
// line) or drive the operator's terminal. Pure, any thread.
#include <string>
#include <string_view>

namespace tidegate::log {

// `message` as one printable line: \n, \r and \t become those two-character
// escapes; other control characters (below 0x20, 0x7f and the C1 controls
// U+0080..U+009F) and bytes that are not well-formed UTF-8 become \xNN (one
// per byte). Everything else, backslashes included, is kept as it is.
std::string escape_for_text_line(std::string_view message);

}  // namespace tidegate::log
