// tidegatectl: the operator's command line for a running tidegate, a client of
// its admin HTTP/JSON API (loopback 127.0.0.1:9883 unless told otherwise).
// 'tidegatectl --help' lists the commands. Exit status: 0 done, 1 the API
// answered with an error, 2 usage error, 3 the admin API could not be reached,
// 4 a reload whose changed keys need a restart.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "tools/ctl/commands.hpp"
#include "tools/ctl/http_client.hpp"
#include "tools/ctl/options.hpp"

#ifndef TIDEGATE_VERSION
#define TIDEGATE_VERSION "0.0.0"
#endif

namespace {

using namespace tidegate::ctl;

constexpr int exit_ok = 0;
constexpr int exit_api_error = 1;
constexpr int exit_usage = 2;
constexpr int exit_unreachable = 3;

int usage_error(const std::string& message, const std::string& topic) {
  std::cerr << "tidegatectl: " << message << "\n"
            << "Try 'tidegatectl " << (topic.empty() ? "" : topic + " ") << "--help'.\n";
  return exit_usage;
}

// The token is the file's content without trailing whitespace (a newline from
// an editor or `echo` must not become part of it).
std::string read_token(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError("cannot read the token file '" + path + "'", "");
  std::ostringstream text;
  text << in.rdbuf();
  std::string token = text.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ' ||
                            token.back() == '\t'))
    token.pop_back();
  if (token.empty()) throw UsageError("the token file '" + path + "' is empty", "");
  if (token.find_first_of("\r\n") != std::string::npos)
    throw UsageError("the token file '" + path + "' has more than one line", "");
  return token;
}

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  Invocation inv;
  std::string token;
  Endpoint endpoint;
  try {
    inv = parse_arguments(std::vector<std::string>(argv + 1, argv + argc));
    if (auto* help = std::get_if<ShowHelp>(&inv.command)) {
      std::cout << help->text;
      return exit_ok;
    }
    if (std::holds_alternative<ShowVersion>(inv.command)) {
      std::cout << "tidegatectl " << TIDEGATE_VERSION << "\n";
      return exit_ok;
    }
    try {
      endpoint = parse_endpoint(inv.admin, default_admin_port);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--admin: ") + e.what(), "");
    }
    if (!inv.token_file.empty()) token = read_token(inv.token_file);
  } catch (const UsageError& e) {
    return usage_error(e.what(), e.help_topic);
  }

  HttpClientOptions options;
  options.connect_timeout = inv.timeout;
  options.read_timeout = inv.timeout;
  options.user_agent = std::string("tidegatectl/") + TIDEGATE_VERSION;
  HttpClient client(endpoint, options);
  try {
    int code = run_command(inv.command, client, token, inv.json, std::cout);
    std::cout.flush();
    return std::cout ? code : exit_api_error;
  } catch (const ApiError& e) {
    std::cout.flush();
    std::cerr << "tidegatectl: " << e.what() << "\n";
    return exit_api_error;
  } catch (const TransportError& e) {
    std::cerr << "tidegatectl: " << e.what() << "\n";
    return exit_unreachable;
  }
}
