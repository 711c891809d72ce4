#include "gateway/auth/plugin_host.hpp"

#include <dlfcn.h>

#include <boost/asio/post.hpp>

#include "gateway/ops/log.hpp"

// The gateway's side of an authentication in flight: freed by
// complete_authentication (host_complete below), whatever thread calls it.
struct tidegate_auth_completion {
  std::function<void(int)> resume;
};

namespace tidegate {

namespace {

void host_log(int level, const char* message) {
  auto lvl = level <= TIDEGATE_LOG_DEBUG ? log::Level::debug
             : level == TIDEGATE_LOG_INFO ? log::Level::info
             : level == TIDEGATE_LOG_WARN ? log::Level::warn
                                          : log::Level::error;
  if (log::enabled(lvl)) log::write(lvl, std::string("plugin: ") + (message ? message : ""));
}

void host_complete(tidegate_auth_completion* completion, int decision) {
  if (!completion) return;
  std::unique_ptr<tidegate_auth_completion> owned(completion);
  owned->resume(decision);
}

const tidegate_host kHost{TIDEGATE_PLUGIN_ABI_VERSION, host_log, host_complete};

// The C view of a client; the strings point into `client`.
tidegate_client c_client(const ClientIdentity& client) {
  return {client.client_id.c_str(), client.username ? client.username->c_str() : nullptr, client.address.c_str(),
          client.protocol_version};
}

}  // namespace

struct PluginHost::Plugin {
  std::string path;
  void* handle = nullptr;
  void* state = nullptr;
  tidegate_plugin_cleanup_fn cleanup = nullptr;
  tidegate_on_authenticate_fn on_authenticate = nullptr;
  tidegate_on_acl_check_fn on_acl_check = nullptr;
  tidegate_on_message_published_fn on_message_published = nullptr;
  tidegate_on_client_connected_fn on_client_connected = nullptr;
  tidegate_on_client_disconnected_fn on_client_disconnected = nullptr;
};

PluginHost::PluginHost(const std::vector<PluginConfig>& configs) {
  for (std::size_t i = 0; i < configs.size(); ++i) {
    const auto& config = configs[i];
    const std::string where = "plugins[" + std::to_string(i) + "]";
    auto plugin = std::make_unique<Plugin>();
    plugin->path = config.path;
    plugin->handle = ::dlopen(config.path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!plugin->handle) throw ConfigError(where + ".path: cannot load: " + ::dlerror());
    auto symbol = [&](const char* name) { return ::dlsym(plugin->handle, name); };
    auto version = reinterpret_cast<tidegate_plugin_abi_version_fn>(symbol("tidegate_plugin_abi_version"));
    auto init = reinterpret_cast<tidegate_plugin_init_fn>(symbol("tidegate_plugin_init"));
    plugin->cleanup = reinterpret_cast<tidegate_plugin_cleanup_fn>(symbol("tidegate_plugin_cleanup"));
    if (!version || !init || !plugin->cleanup) {
      ::dlclose(plugin->handle);
      throw ConfigError(where + ".path: " + config.path +
                        " is not a tidegate plugin (tidegate_plugin_abi_version, _init and _cleanup are required)");
    }
    if (int v = version(); v != TIDEGATE_PLUGIN_ABI_VERSION) {
      ::dlclose(plugin->handle);
      throw ConfigError(where + ".path: " + config.path + " is built for plugin ABI " + std::to_string(v) +
                        ", this gateway has " + std::to_string(TIDEGATE_PLUGIN_ABI_VERSION));
    }
    plugin->on_authenticate = reinterpret_cast<tidegate_on_authenticate_fn>(symbol("tidegate_on_authenticate"));
    plugin->on_acl_check = reinterpret_cast<tidegate_on_acl_check_fn>(symbol("tidegate_on_acl_check"));
    plugin->on_message_published =
        reinterpret_cast<tidegate_on_message_published_fn>(symbol("tidegate_on_message_published"));
    plugin->on_client_connected =
        reinterpret_cast<tidegate_on_client_connected_fn>(symbol("tidegate_on_client_connected"));
    plugin->on_client_disconnected =
        reinterpret_cast<tidegate_on_client_disconnected_fn>(symbol("tidegate_on_client_disconnected"));
    if (int rc = init(&kHost, config.options_json.c_str(), &plugin->state); rc != 0) {
      ::dlclose(plugin->handle);
      throw ConfigError(where + ": " + config.path + " refused to start (init returned " + std::to_string(rc) + ")");
    }
    log::info("plugin loaded: " + config.path);
    plugins_.push_back(std::move(plugin));
  }
}

PluginHost::~PluginHost() {
  for (auto it = plugins_.rbegin(); it != plugins_.rend(); ++it) {
    (*it)->cleanup((*it)->state);
    ::dlclose((*it)->handle);
  }
}

bool PluginHost::authenticates() const {
  for (const auto& p : plugins_)
    if (p->on_authenticate) return true;
  return false;
}

bool PluginHost::checks_acl() const {
  for (const auto& p : plugins_)
    if (p->on_acl_check) return true;
  return false;
}

void PluginHost::authenticate(boost::asio::any_io_executor executor, const ClientIdentity& client,
                              const std::optional<std::string>& password, std::function<void(int)> done) const {
  ask(0, std::move(executor), std::make_shared<const ClientIdentity>(client),
      std::make_shared<const std::optional<std::string>>(password), std::move(done));
}

void PluginHost::ask(std::size_t index, boost::asio::any_io_executor executor,
                     std::shared_ptr<const ClientIdentity> client,
                     std::shared_ptr<const std::optional<std::string>> password, std::function<void(int)> done) const {
  while (index < plugins_.size() && !plugins_[index]->on_authenticate) ++index;
  if (index == plugins_.size()) return done(TIDEGATE_IGNORE);
  auto* completion = new tidegate_auth_completion;
  completion->resume = [this, gate = gate_, index, executor, client, password, done](int decision) {
    // Any thread (the plugin's): back to the connection's worker, unless the
    // gateway is shutting down (the gate is closed once the workers stopped).
    std::lock_guard guard(gate->lock);
    if (!gate->open) return;
    boost::asio::post(executor, [this, index, executor, client, password, done, decision] {
      if (decision == TIDEGATE_ALLOW || decision == TIDEGATE_DENY) return done(decision);
      ask(index + 1, executor, client, password, done);
    });
  };
  tidegate_auth_request request{c_client(*client), *password ? (*password)->data() : nullptr,
                                *password ? (*password)->size() : 0};
  plugins_[index]->on_authenticate(plugins_[index]->state, &request, completion);
}

void PluginHost::close_events() {
  std::lock_guard guard(gate_->lock);
  gate_->open = false;
}

int PluginHost::acl_check(const ClientIdentity& client, std::string_view topic, int access) const {
  int result = TIDEGATE_IGNORE;
  auto c = c_client(client);
  std::string topic_z(topic);
  for (const auto& p : plugins_) {
    if (!p->on_acl_check) continue;
    int d = p->on_acl_check(p->state, &c, topic_z.c_str(), access);
    if (d == TIDEGATE_DENY) return TIDEGATE_DENY;
    if (d == TIDEGATE_ALLOW) result = TIDEGATE_ALLOW;
  }
  return result;
}

void PluginHost::message_published(const std::string& client_id, const std::string& topic, const std::string& payload,
                                   int qos, bool retain) const {
  tidegate_message m{client_id.c_str(), topic.c_str(), payload.data(), payload.size(), qos, retain ? 1 : 0};
  for (const auto& p : plugins_)
    if (p->on_message_published) p->on_message_published(p->state, &m);
}

void PluginHost::client_connected(const ClientIdentity& client) const {
  auto c = c_client(client);
  for (const auto& p : plugins_)
    if (p->on_client_connected) p->on_client_connected(p->state, &c);
}

void PluginHost::client_disconnected(const ClientIdentity& client) const {
  auto c = c_client(client);
  for (const auto& p : plugins_)
    if (p->on_client_disconnected) p->on_client_disconnected(p->state, &c);
}

}  // namespace tidegate
