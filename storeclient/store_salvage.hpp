#pragma once
// `tidegate --salvage-store FROM TO` (docs/durability.md, "Recovery"): copies
// every record of a damaged store that can still be read into a new store, and
// counts what could not be read, per table.
//
// Each table is read in a forked child (LMDB may assert or fault on a damaged
// page), first from its first key forwards; when that child dies or fails, a
// second one reads from the last key backwards down to where the first
// stopped. Records between the two are lost. Messages (and retained messages)
// that do not decode are not copied and counted apart.
//
// Main thread, before any other thread starts (it forks).
#include <cstdint>
#include <string>
#include <vector>

namespace tidegate::store {

struct SalvagedTable {
  std::string name;
  std::uint64_t copied = 0;
  std::uint64_t expected = 0;      // the count the table's header gives (when `counted`)
  bool counted = false;            // false: the header itself could not be read
  std::uint64_t undecodable = 0;   // read, but not a valid message: not copied
  std::string problem;             // what stopped the reads (empty: none)
  // Counted in the header but neither copied nor found damaged.
  std::uint64_t lost() const {
    return counted && expected > copied + undecodable ? expected - copied - undecodable : 0;
  }
  bool complete() const { return problem.empty() && undecodable == 0 && lost() == 0; }
};

struct SalvageReport {
  std::string error;  // non-empty: nothing was salvaged (why)
  std::vector<std::string> notes;  // what the salvage worked around
  bool older_snapshot = false;     // read through the other meta page: the last commit may be lost
  std::vector<SalvagedTable> tables;
  bool complete() const;
  std::string text() const;  // one line per table
};

SalvageReport salvage_store(const std::string& from, const std::string& to);

}  // namespace tidegate::store
