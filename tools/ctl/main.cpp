// tidegatectl: the operator's command line for a running tidegate, a client of
// its admin HTTP/JSON API (loopback 127.0.0.1:9883 unless told otherwise).
// 'tidegatectl --help' lists the commands. Exit status: 0 done, 1 the API
// answered with an error, 2 usage error, 3 the admin API could not be reached,
// 4 a reload whose changed keys need a restart. Where it connects: settings.hpp.
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "tools/ctl/commands.hpp"
#include "tools/ctl/http_client.hpp"
#include "tools/ctl/options.hpp"
#include "tools/ctl/quick_client.hpp"
#include "tools/ctl/settings.hpp"
#include "tools/ctl/table.hpp"

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

// Tables fit the terminal; piped output is left whole (for grep and awk).
void size_tables_to_terminal() {
  if (!::isatty(STDOUT_FILENO)) return;
  winsize size{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) Table::set_max_width(size.ws_col);
}

int quick_check(const Invocation& inv, const Settings& settings) {
  MqttLogin login;
  try {
    login.endpoint = parse_endpoint(settings.mqtt, "1883");
  } catch (const std::invalid_argument& e) {
    return usage_error(std::string("--mqtt: ") + e.what(), "");
  }
  login.username = settings.username;
  if (!settings.password_file.empty()) {
    try {
      login.password = read_token(settings.password_file);
    } catch (const UsageError& e) {
      return usage_error(e.what(), "");
    }
  }
  login.timeout = inv.timeout;
  try {
    if (auto* pub = std::get_if<Pub>(&inv.command)) {
      quick_publish(login, pub->topic, pub->message, pub->qos, pub->retain);
      return exit_ok;
    }
    const auto& sub = std::get<Sub>(inv.command);
    quick_subscribe(login, sub.filter, sub.qos, sub.count, sub.wait, sub.with_topic, std::cout);
    return exit_ok;
  } catch (const TransportError& e) {
    std::cerr << "tidegatectl: " << e.what() << "\n";
    return exit_unreachable;
  } catch (const std::runtime_error& e) {
    std::cerr << "tidegatectl: " << e.what() << "\n";
    return exit_api_error;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  Invocation inv;
  Settings settings;
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
    if (auto* complete = std::get_if<Complete>(&inv.command)) {
      for (const auto& word : completions(complete->words)) std::cout << word << "\n";
      return exit_ok;
    }
    settings = resolve_settings(inv, [](const char* name) { return std::getenv(name); });
    if (std::holds_alternative<Pub>(inv.command) || std::holds_alternative<Sub>(inv.command))
      return quick_check(inv, settings);
    try {
      endpoint = parse_endpoint(settings.admin, default_admin_port);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--admin: ") + e.what(), "");
    }
    if (!settings.token_file.empty()) token = read_token(settings.token_file);
  } catch (const UsageError& e) {
    return usage_error(e.what(), e.help_topic);
  }
  size_tables_to_terminal();

  HttpClientOptions options;
  options.connect_timeout = inv.timeout;
  options.read_timeout = inv.timeout;
  options.user_agent = std::string("tidegatectl/") + TIDEGATE_VERSION;
  options.ca_file = settings.ca_file;
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
