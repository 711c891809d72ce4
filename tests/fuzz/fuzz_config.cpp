// libFuzzer target: parse_config() on arbitrary text. It must return a Config
// or throw ConfigError; any other exception, crash or sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "gateway/config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const tidegate::Config c = tidegate::parse_config(text);
    // What parse_config promises of a config it accepts.
    if (c.listeners.empty() || c.data_dir.empty() || c.receive_maximum == 0 ||
        c.max_inflight == 0 || c.max_packet_size < 64 || c.connect_timeout == 0) {
      std::fprintf(stderr, "parse_config accepted an invalid config\n");
      std::abort();
    }
  } catch (const tidegate::ConfigError& e) {
    // "key: reason", readable as a C string (main prints what()).
    if (std::strstr(e.what(), ": ") == nullptr) {
      std::fprintf(stderr, "ConfigError message is not \"key: reason\": \"%s\"\n", e.what());
      std::abort();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parse_config threw something other than ConfigError: %s\n", e.what());
    std::abort();
  }
  return 0;
}
