// tidegate: the gateway process. No arguments: embedded defaults (MQTT on
// port 1883, data in ./tidegate-data). --config FILE: a JSON config; a bad one
// is refused with the key and the reason, and exit code 2, before anything listens.
#include <cstdio>
#include <cstring>
#include <string>

#include "gateway/broker.hpp"
#include "gateway/log.hpp"
#include "storeclient/lmdb_store.hpp"

#ifndef TIDEGATE_VERSION
#define TIDEGATE_VERSION "0.0.0"
#endif

namespace {
void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: tidegate [--config FILE]\n"
               "       tidegate --version | --help\n\n"
               "MQTT 3.1/3.1.1/5.0 gateway. Without --config it runs on embedded defaults:\n"
               "MQTT on 0.0.0.0:1883 (anonymous clients from loopback only), data in ./tidegate-data.\n");
}
}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--version") {
      std::printf("tidegate %s\n", TIDEGATE_VERSION);
      return 0;
    }
    if (arg == "--help" || arg == "-h") {
      usage(stdout);
      return 0;
    }
    if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
      continue;
    }
    std::fprintf(stderr, "tidegate: unknown argument '%s'\n", arg.c_str());
    usage(stderr);
    return 2;
  }
  tidegate::Config config;
  try {
    if (!config_path.empty()) config = tidegate::load_config_file(config_path);
  } catch (const tidegate::ConfigError& e) {
    std::fprintf(stderr, "tidegate: bad config: %s\n", e.what());
    return 2;
  }
  tidegate::log::set_level(tidegate::log::level_from_name(config.log_level));
  if (auto failure = tidegate::log::set_output(tidegate::log::format_from_name(config.log_format),
                                               config.log_file.value_or(""));
      !failure.empty()) {
    std::fprintf(stderr, "tidegate: bad config: log_file: %s\n", failure.c_str());
    return 2;
  }
  try {
    tidegate::Broker broker(std::move(config), config_path);
    return broker.run();
  } catch (const tidegate::ConfigError& e) {
    std::fprintf(stderr, "tidegate: bad config: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tidegate: %s\n", e.what());
    return 1;
  }
}
