// What a reload reports, key by key (gateway/config/reload_report.hpp).
#include <doctest/doctest.h>

#include "gateway/config/reload_report.hpp"

using nlohmann::json;
using tidegate::compare_for_reload;
using tidegate::running_after_reload;

TEST_CASE("an unchanged file reports nothing") {
  json running = {{"log_level", "info"}, {"listeners", json::array({{{"port", 1883}}})}};
  auto report = compare_for_reload(running, running);
  CHECK(report.changed.empty());
  CHECK(report.restart_needed.empty());
}

TEST_CASE("each changed key is classed: at once, new connections, restart") {
  json running = {{"log_level", "info"}, {"listeners", json::array({{{"port", 1883}}})}, {"acl_file", "a"}};
  json next = {{"log_level", "debug"},
               {"listeners", json::array({{{"port", 1884}}})},
               {"acl_file", "b"},
               {"max_connections", 10}};
  auto report = compare_for_reload(running, next);
  CHECK(report.changed == std::vector<std::string>{"acl_file", "listeners", "log_level", "max_connections"});
  CHECK(report.applied == std::vector<std::string>{"log_level", "max_connections"});
  CHECK(report.new_connections == std::vector<std::string>{"acl_file"});
  CHECK(report.restart_needed == std::vector<std::string>{"listeners"});
}

TEST_CASE("admin and cluster are compared by their own keys") {
  json running = {{"admin", {{"port", 9883}, {"token_file", "t"}}}};
  json next = {{"admin", {{"port", 9884}, {"token_file", "t"}}}};
  auto report = compare_for_reload(running, next);
  CHECK(report.changed == std::vector<std::string>{"admin.port"});
  CHECK(report.restart_needed == std::vector<std::string>{"admin.port"});
}

TEST_CASE("a key removed from the file is a change; the defaults come back") {
  json running = {{"log_level", "debug"}};
  auto report = compare_for_reload(running, json::object());
  CHECK(report.applied == std::vector<std::string>{"log_level"});
  CHECK(running_after_reload(running, json::object(), report) == json::object());
}

TEST_CASE("restart-only keys keep their running value, so the next reload reports them again") {
  json running = {{"data_dir", "a"}, {"log_level", "info"}};
  json next = {{"data_dir", "b"}, {"log_level", "debug"}};
  auto report = compare_for_reload(running, next);
  auto after = running_after_reload(running, next, report);
  CHECK(after == json{{"data_dir", "a"}, {"log_level", "debug"}});
  auto again = compare_for_reload(after, next);
  CHECK(again.changed == std::vector<std::string>{"data_dir"});
  CHECK(again.applied.empty());
}
