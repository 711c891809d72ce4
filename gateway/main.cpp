// tidegate: the gateway process. No arguments: embedded defaults (MQTT on
// port 1883, data in ./tidegate-data). --config FILE: a JSON config; a bad one
// is refused with the key and the reason, and exit code 2, before anything listens.
// --salvage-store FROM TO: copies what can be read of a damaged store into a
// new one (docs/durability.md, "Recovery").
//
// Before anything else starts (and before any thread exists, since the store
// check forks): the data directory's lock, then the store check; a store in
// use or damaged is refused with exit code 1 (docs/durability.md).
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "gateway/broker.hpp"
#include "gateway/ops/log.hpp"
#include "storeclient/lmdb_store.hpp"
#include "storeclient/store_check.hpp"
#include "storeclient/store_lock.hpp"
#include "storeclient/store_salvage.hpp"

#ifndef TIDEGATE_VERSION
#define TIDEGATE_VERSION "0.0.0"
#endif

namespace {
void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: tidegate [--config FILE]\n"
               "       tidegate --salvage-store FROM TO\n"
               "       tidegate --version | --help\n\n"
               "MQTT 3.1/3.1.1/5.0 gateway. Without --config it runs on embedded defaults:\n"
               "MQTT on 0.0.0.0:1883 (anonymous clients from loopback only), data in ./tidegate-data.\n"
               "--salvage-store copies every readable record of the store in directory FROM into a new\n"
               "store in directory TO and reports what it could not read (exit code 0: everything was\n"
               "copied, 3: some records were lost, 1: nothing could be salvaged).\n");
}

int salvage(const std::string& from, const std::string& to) {
  auto report = tidegate::store::salvage_store(from, to);
  std::fputs(report.text().c_str(), report.error.empty() ? stdout : stderr);
  if (!report.error.empty()) return 1;
  return report.complete() ? 0 : 3;
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
    if (arg == "--salvage-store" && i + 2 < argc && argc == 4) return salvage(argv[i + 1], argv[i + 2]);
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
  std::unique_ptr<tidegate::store::StoreLock> lock;
  try {
    lock = std::make_unique<tidegate::store::StoreLock>(config.data_dir);
  } catch (const tidegate::store::StoreOpenError& e) {
    std::fprintf(stderr, "tidegate: %s\n", e.what());
    return 1;
  }
  auto check = tidegate::store::check_store(config.data_dir);
  if (!check.problem.empty()) {
    std::fprintf(stderr, "tidegate: %s\n", check.problem.c_str());
    return 1;
  }
  if (check.file_bytes)
    tidegate::log::info("store check: read " + std::to_string(check.entries) + " entries of " + config.data_dir +
                        "/data.mdb (" + std::to_string(check.file_bytes >> 20) + " MiB) in " +
                        std::to_string(static_cast<long>(check.seconds * 1000)) + " ms");
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
