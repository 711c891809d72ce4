// Log events as text and JSON lines (gateway/ops/log.hpp).
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "gateway/ops/log.hpp"

namespace tlog = tidegate::log;

namespace {
// The lines written while `write` runs, with `format`; the log goes back to stderr.
std::string logged(tlog::Format format, void (*write)()) {
  char path[] = "/tmp/tidegate-log-event-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  REQUIRE(tlog::set_output(format, path).empty());
  write();
  tlog::set_output(tlog::Format::text, "");
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::remove(path);
  return text.str();
}

void connected_event() {
  tlog::event(tlog::Level::info, "connected", "client connected",
             {{"client_id", "a b"}, {"username", std::optional<std::string>()}, {"protocol", 5},
              {"clean_start", true}, {"duration_s", 1.5}});
}
}  // namespace

TEST_CASE("a text event is its message and key=value fields, absent ones left out") {
  auto line = logged(tlog::Format::text, connected_event);
  CHECK(line.find(" info client connected client_id=\"a b\" protocol=5 clean_start=true duration_s=1.500\n") !=
        std::string::npos);
  CHECK(line.find("username") == std::string::npos);
}

TEST_CASE("a JSON event has event, message and the fields, absent ones as null") {
  auto line = logged(tlog::Format::json, connected_event);
  auto j = nlohmann::json::parse(line);
  CHECK(j["event"] == "connected");
  CHECK(j["message"] == "client connected");
  CHECK(j["client_id"] == "a b");
  CHECK(j["username"].is_null());
  CHECK(j["protocol"] == 5);
  CHECK(j["clean_start"] == true);
  CHECK(j["duration_s"] == 1.5);
}

TEST_CASE("a field value cannot start a line of its own or fake a field") {
  auto line = logged(tlog::Format::text, [] {
    tlog::event(tlog::Level::info, "connected", "client connected", {{"client_id", "x\n2026 error forged reason=y"}});
  });
  CHECK(line.find('\n') == line.size() - 1);
  CHECK(line.find("client_id=\"x\\n2026 error forged reason=y\"") != std::string::npos);
}
