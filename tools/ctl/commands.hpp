#pragma once
// Runs one parsed command against the admin API and prints its answer: the
// API's JSON unchanged with --json, tables and key/value lines otherwise.
#include <ostream>
#include <stdexcept>
#include <string>

#include "tools/ctl/http_client.hpp"
#include "tools/ctl/options.hpp"

namespace tidegate::ctl {

// The API answered with an error status (its message), or with something
// that is not the JSON the contract promises: exit 1.
class ApiError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws ApiError, TransportError (exit 3). `token` empty: none is sent.
// Returns the exit code: 0, or 4 (a reload whose changes need a restart).
int run_command(const Command& command, const HttpClient& client, const std::string& token, bool json,
                std::ostream& out);

}  // namespace tidegate::ctl
