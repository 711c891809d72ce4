// The payload preview of the admin API's listings (gateway/admin/payload_preview.hpp).
#include <doctest/doctest.h>

#include <string>

#include "gateway/admin/payload_preview.hpp"

using tidegate::admin::payload_preview;

TEST_CASE("text is shown as it is, newlines and tabs as spaces") {
  CHECK(payload_preview("21.5") == "21.5");
  CHECK(payload_preview("{\"t\": 1}") == "{\"t\": 1}");
  CHECK(payload_preview("a\nb\tc") == "a b c");
  CHECK(payload_preview("") == "");
}

TEST_CASE("long text is cut at 64 bytes on a character boundary, with an ellipsis") {
  CHECK(payload_preview(std::string(100, 'x')) == std::string(64, 'x') + "…");
  // 63 ASCII bytes then a two-byte character across the cut: the character is left out whole.
  std::string text = std::string(63, 'a') + "é" + "tail";
  CHECK(payload_preview(text) == std::string(63, 'a') + "…");
}

TEST_CASE("binary and control characters are shown as hex") {
  std::string bin("\x00\x01\xff", 3);
  CHECK(payload_preview(bin) == "hex:0001ff");
  CHECK(payload_preview("\x1b[31m") == "hex:1b5b33316d");
  std::string first_24;
  for (int i = 0; i < 24; ++i) first_24 += "02";
  CHECK(payload_preview(std::string(30, '\x02')) == "hex:" + first_24 + "…");
}

TEST_CASE("a payload in full: UTF-8 text as text, anything else as base64, cut at 64 KiB") {
  using tidegate::admin::payload_view;
  using tidegate::admin::kPayloadViewBytes;
  CHECK(payload_view("{\n  \"t\": 1\n}") == nlohmann::json{{"encoding", "text"}, {"data", "{\n  \"t\": 1\n}"}});
  CHECK(payload_view(std::string("\x00\x01\xfa", 3)) == nlohmann::json{{"encoding", "base64"}, {"data", "AAH6"}});
  CHECK(payload_view("") == nlohmann::json{{"encoding", "text"}, {"data", ""}});
  // A text longer than the view, cut inside a two-byte character: still text, the character left out.
  std::string text = std::string(kPayloadViewBytes - 1, 'a') + "é";
  auto cut = payload_view(text);
  CHECK(cut["encoding"] == "text");
  CHECK(cut["data"].get<std::string>().size() == kPayloadViewBytes - 1);
  auto binary = payload_view(std::string(kPayloadViewBytes + 10, '\xff'));
  CHECK(binary["data"].get<std::string>().size() == 4 * ((kPayloadViewBytes + 2) / 3));
}
