// tidegate: the gateway process. No arguments: embedded defaults (MQTT on
// port 1883, data in ./tidegate-data). --config FILE: a JSON config; a bad one
// is refused with the key and the reason, and exit code 2, before anything listens.
// --check-config FILE: validates a config without starting (exit 0 or 2).
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
#include "gateway/config/config_check.hpp"
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
               "       tidegate --check-config FILE\n"
               "       tidegate --salvage-store FROM TO\n"
               "       tidegate --version | --help\n\n"
               "MQTT 3.1/3.1.1/5.0 gateway. Without --config it runs on embedded defaults:\n"
               "MQTT on 0.0.0.0:1883 (anonymous clients from loopback only), data in ./tidegate-data,\n"
               "the admin API on 127.0.0.1:9883.\n\n"
               "Options:\n"
               "  --config FILE         run with this JSON config; a bad one is refused with every\n"
               "                        key and reason (exit code 2) before anything listens\n"
               "  --check-config FILE   validate FILE without starting: the keys, the files it names\n"
               "                        (passwords, ACLs, certificates, tokens), the ports; binds\n"
               "                        nothing for longer than a check, opens no store (exit code 0:\n"
               "                        it would start, 2: it would be refused)\n"
               "  --salvage-store FROM TO\n"
               "                        copy every readable record of the store in directory FROM into\n"
               "                        a new store in directory TO and report what could not be read\n"
               "                        (exit code 0: all copied, 3: some records lost, 1: nothing)\n"
               "  --version             print the version\n"
               "  --help                print this help\n\n"
               "Signals: SIGTERM drains and exits; SIGHUP reads the config again (docs/operations.md).\n");
}

int check_config(const std::string& path) {
  auto result = tidegate::check_config_file(path);
  for (const auto& e : result.errors) std::printf("%s: error: %s\n", path.c_str(), e.c_str());
  for (const auto& w : result.warnings) std::printf("%s: warning: %s\n", path.c_str(), w.c_str());
  std::printf("%s: %s (%zu error(s), %zu warning(s))\n", path.c_str(),
              result.errors.empty() ? "OK, the gateway would start with it" : "refused", result.errors.size(),
              result.warnings.size());
  return result.errors.empty() ? 0 : 2;
}

// Every problem on a line of its own.
void print_config_error(const tidegate::ConfigError& e) {
  for (const auto& problem : e.problems()) std::fprintf(stderr, "tidegate: bad config: %s\n", problem.c_str());
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
    if (arg == "--check-config" && i + 1 < argc && argc == 3) return check_config(argv[i + 1]);
    if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
      continue;
    }
    std::fprintf(stderr, "tidegate: unknown argument '%s'\n", arg.c_str());
    usage(stderr);
    return 2;
  }
  tidegate::Config config;
  nlohmann::json config_json = nlohmann::json::object();
  try {
    if (!config_path.empty()) {
      config_json = tidegate::read_config_json(tidegate::read_config_text(config_path));
      config = tidegate::config_from_json(config_json);
    }
  } catch (const tidegate::ConfigError& e) {
    print_config_error(e);
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
    tidegate::Broker broker(std::move(config), config_path, std::move(config_json));
    return broker.run();
  } catch (const tidegate::ConfigError& e) {
    print_config_error(e);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tidegate: %s\n", e.what());
    return 1;
  }
}
