#pragma once
// Loads the .so plugins of the config (plugins/abi/tidegate_plugin.h, ABI
// version 1) and delivers their events. docs/plugins.md.
//
// Threads: constructed and destroyed on the main thread (plugin init and
// cleanup); every other call is made on a worker thread and calls the plugins
// there. Immutable after construction.
#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/config/config.hpp"
#include "plugins/abi/tidegate_plugin.h"

namespace tidegate {

// A client as plugins and auth hooks see it.
struct ClientIdentity {
  std::string client_id;
  std::optional<std::string> username;
  std::string address;
  int protocol_version = 4;
};

class PluginHost {
 public:
  // dlopen()s each plugin, checks its ABI version and calls its init; throws
  // ConfigError("plugins[i].key: reason") for any that cannot be used.
  explicit PluginHost(const std::vector<PluginConfig>& plugins);
  ~PluginHost();  // cleanup, then dlclose, in reverse order
  PluginHost(const PluginHost&) = delete;
  PluginHost& operator=(const PluginHost&) = delete;

  bool empty() const { return plugins_.empty(); }
  bool authenticates() const;
  bool checks_acl() const;

  // Asks the plugins with an authenticate event, in config order, until one
  // answers ALLOW or DENY; `done` runs on `executor` with that answer, or
  // IGNORE when none had an opinion.
  void authenticate(boost::asio::any_io_executor executor, const ClientIdentity& client,
                    const std::optional<std::string>& password, std::function<void(int decision)> done) const;
  // TIDEGATE_DENY when any plugin denies; else ALLOW or IGNORE.
  int acl_check(const ClientIdentity& client, std::string_view topic, int access) const;
  void message_published(const std::string& client_id, const std::string& topic, const std::string& payload, int qos,
                         bool retain) const;
  void client_connected(const ClientIdentity& client) const;
  void client_disconnected(const ClientIdentity& client) const;
  // Shutdown, once the workers have stopped: answers that plugins give from
  // now on are dropped instead of being posted to a worker that is going away.
  void close_events();

 private:
  struct Plugin;
  void ask(std::size_t index, boost::asio::any_io_executor executor, std::shared_ptr<const ClientIdentity> client,
           std::shared_ptr<const std::optional<std::string>> password, std::function<void(int)> done) const;
  std::vector<std::unique_ptr<Plugin>> plugins_;
  struct Gate {
    std::mutex lock;
    bool open = true;
  };
  std::shared_ptr<Gate> gate_ = std::make_shared<Gate>();
};

}  // namespace tidegate
