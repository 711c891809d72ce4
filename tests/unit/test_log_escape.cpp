// The text log's escaping of what clients send (docs/operations.md, "Logs").
#include <doctest/doctest.h>

#include <string>

#include "gateway/log_escape.hpp"

using tidegate::log::escape_for_text_line;

TEST_CASE("log escape: printable ASCII and UTF-8 stay as they are") {
  CHECK(escape_for_text_line("client 'a b\\c\"' (127.0.0.1:1)") == "client 'a b\\c\"' (127.0.0.1:1)");
  CHECK(escape_for_text_line("ü € 😀") == "ü € 😀");
  CHECK(escape_for_text_line("") == "");
}

TEST_CASE("log escape: line breaks and tabs become two-character escapes") {
  CHECK(escape_for_text_line("a\nb\rc\td") == "a\\nb\\rc\\td");
  CHECK(escape_for_text_line("\n2026-01-01T00:00:00.000Z error FORGED") == "\\n2026-01-01T00:00:00.000Z error FORGED");
}

TEST_CASE("log escape: other control characters become \\xNN") {
  CHECK(escape_for_text_line(std::string("a\0b", 3)) == "a\\x00b");
  CHECK(escape_for_text_line("\x1b[31mred") == "\\x1b[31mred");
  CHECK(escape_for_text_line("\x7f") == "\\x7f");
  CHECK(escape_for_text_line("\xc2\x9b" "2J") == "\\xc2\\x9b2J");  // U+009B, a terminal's CSI
  CHECK(escape_for_text_line("\xc2\xa0") == "\xc2\xa0");           // U+00A0 is printable
}

TEST_CASE("log escape: bytes that are not UTF-8 become \\xNN, one per byte") {
  CHECK(escape_for_text_line("\xff\xfe") == "\\xff\\xfe");
  CHECK(escape_for_text_line("\xc3") == "\\xc3");                  // cut short
  CHECK(escape_for_text_line("\xc0\xaf") == "\\xc0\\xaf");         // overlong '/'
  CHECK(escape_for_text_line("\xed\xa0\x80") == "\\xed\\xa0\\x80");  // a surrogate
  CHECK(escape_for_text_line("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  CHECK(escape_for_text_line("a\xe2\x82z") == "a\\xe2\\x82z");
}
