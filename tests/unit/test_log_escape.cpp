// The text log's escaping of what clients send (docs/operations.md, "Logs").
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "gateway/ops/log.hpp"
#include "gateway/ops/log_escape.hpp"

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

namespace {

// Everything log::write put in a file, set as the output for one call.
std::string logged(tidegate::log::Format format, std::string_view message) {
  char path[] = "/tmp/tidegate-log-test-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  REQUIRE(tidegate::log::set_output(format, path).empty());
  tidegate::log::write(tidegate::log::Level::error, message);
  tidegate::log::set_output(tidegate::log::Format::text, "");  // back to stderr
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::remove(path);
  return text;
}

}  // namespace

TEST_CASE("log escape: a text line written with a newline and bytes that are not UTF-8 stays one line") {
  auto text = logged(tidegate::log::Format::text, "client 'a\n2026-01-01T00:00:00.000Z error X\xff'");
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);
  CHECK(text.ends_with(" error client 'a\\n2026-01-01T00:00:00.000Z error X\\xff'\n"));
}

TEST_CASE("log escape: a JSON line holds control characters and bytes that are not UTF-8 without throwing") {
  auto text = logged(tidegate::log::Format::json, "client 'a\n\x1b\xff'");
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);
  auto record = nlohmann::json::parse(text);
  CHECK(record["message"] == "client 'a\n\x1b\xef\xbf\xbd'");  // U+FFFD for the 0xff
}
