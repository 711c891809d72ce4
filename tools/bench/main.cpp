// tidegate-bench: MQTT load generator built on tidegate's codec. See
// `tidegate-bench --help` and docs/benchmarks.md.
#include <iostream>

#include "tools/bench/options.hpp"
#include "tools/bench/report.hpp"
#include "tools/bench/scenarios.hpp"

int main(int argc, char** argv) {
  using namespace tidegate::bench;
  Options options;
  try {
    options = parse_options(argc, argv);
  } catch (const UsageError& e) {
    if (std::string(e.what()).empty()) {  // --help
      std::cout << usage();
      return 0;
    }
    std::cerr << "tidegate-bench: " << e.what() << "\n\n" << usage();
    return 2;
  }
  const Report report = run_scenario(options);
  if (options.json) print_json(report, std::cout);
  else print_text(report, std::cout);
  std::cout.flush();
  if (!report.fatal.empty()) std::cerr << "tidegate-bench: " << report.fatal << '\n';
  return report.exit_code;
}
