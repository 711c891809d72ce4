// The benchmark scenarios: which clients a run opens, what they subscribe
// and publish, and what is measured. Runs on the calling (coordinating)
// thread, which starts the io threads, waits for each phase with a deadline,
// samples the broker and fills the Report.
#pragma once

#include "tools/bench/options.hpp"
#include "tools/bench/report.hpp"

namespace tidegate::bench {

// Never throws for broker behaviour: a broker that cannot be reached or
// refuses gives Report::fatal and a non-zero exit_code.
Report run_scenario(const Options& options);

}  // namespace tidegate::bench
