#pragma once
// Assembles the gateway: store, cache, ingest thread, session registry,
// workers and listeners; restores persistent sessions at start; drains on
// SIGTERM/SIGINT (stop accepting, DISCONNECT clients, flush the store, exit 0).
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <vector>

#include "cache/queue_cache.hpp"
#include "gateway/admin/admin_api.hpp"
#include "gateway/admin/admin_config.hpp"
#include "gateway/admin/admin_server.hpp"
#include "gateway/auth/auth_http.hpp"
#include "gateway/bridge/bridge_link.hpp"
#include "gateway/auth/plugin_host.hpp"
#include "gateway/broker_context.hpp"
#include "gateway/config/config.hpp"
#include "gateway/config/reload_report.hpp"
#include "gateway/events/events_engine.hpp"
#include "gateway/events/streams.hpp"
#include "gateway/pipeline/ingest.hpp"
#include "gateway/ops/metrics.hpp"
#include "gateway/session/session_registry.hpp"
#include "gateway/ops/sys_topics.hpp"
#include "gateway/net/transport.hpp"
#include "gateway/pipeline/worker.hpp"
#include "storeclient/lmdb_store.hpp"

namespace tidegate {

class Broker {
 public:
  // Opens the store and binds the listeners; throws std::runtime_error with a
  // message for the operator when either fails.
  // config_path: the file to read again on SIGHUP or an admin reload (empty: defaults, nothing to reload).
  // config_json: the file's JSON, which reloads compare with.
  explicit Broker(Config config, std::string config_path = {}, nlohmann::json config_json = nlohmann::json::object());
  // Re-reads the config file and applies what can change live: password_file,
  // acl_file, acl_deny, allow_anonymous, log_level, log_format, log_file (opened
  // anew, for logrotate), the live limits, bridges and TLS certificates. On
  // error nothing changes but the log file, which is reopened all the same.
  // The report names the keys that changed and what became of each. Main thread.
  ReloadReport reload();
  // What GET /healthz answers. Main thread.
  admin::Health health() const;
  ~Broker();
  // Runs until a termination signal; returns the process exit code.
  int run();

 private:
  void restore_sessions();
  // Gives each configured bridge its local session with the out rules as
  // subscriptions (before anything is accepted, so nothing published is
  // missed), and ends the sessions of bridges no longer configured.
  void prepare_bridge_sessions();
  std::size_t bridge_backlog(const BridgeConfig& bridge) const;  // any thread
  void prepare_bridge_session(const BridgeConfig& bridge);
  // Reload: what differs between the running bridges and the file's; the TLS
  // contexts of new and changed ones are built here (ConfigError: no change).
  struct BridgeChanges {
    std::vector<std::pair<BridgeConfig, std::shared_ptr<boost::asio::ssl::context>>> start;  // new or changed
    std::vector<std::shared_ptr<BridgeLink>> stop;                                          // changed or removed
    std::vector<std::string> removed;  // local session ids to end
  };
  BridgeChanges plan_bridges(const std::vector<BridgeConfig>& next) const;
  void apply_bridges(BridgeChanges changes);
  void start_admin();
  struct Listener {
    ListenerConfig config;
    std::string where;  // "listeners[i]", for messages
    std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor;
    std::shared_ptr<boost::asio::ssl::context> tls;  // mqtts/wss; replaced on SIGHUP (main thread)
  };
  void accept_on(Listener& listener);
  std::unique_ptr<Transport> make_transport(Listener& listener, boost::asio::ip::tcp::socket socket) const;
  void reload_certificates();
  void wait_for_signal(boost::asio::signal_set& signals);
  void schedule_sweep();
  void schedule_sys();
  void shut_down();

  Config config_;
  std::string config_path_;
  Metrics metrics_;

  std::unique_ptr<PluginHost> plugins_;  // loaded first, unloaded last
  std::unique_ptr<AuthHttp> auth_http_;
  std::unique_ptr<store::LmdbStore> store_;
  std::unique_ptr<cache::QueueCache> cache_;
  std::unique_ptr<Ingest> ingest_;
  std::unique_ptr<Cluster> cluster_;
  // The rules' thread; stopped before the ingest thread (its readers save offsets there).
  std::unique_ptr<events::EventsEngine> events_;
  std::shared_ptr<events::EventsEngine::Plan> events_plan_;  // until run() starts the rules
  std::unique_ptr<events::Streams> streams_;  // a ClusterLink in cluster mode, a SingleGateway otherwise
  std::unique_ptr<SessionRegistry> registry_;
  std::unique_ptr<BrokerContext> context_;
  std::vector<std::unique_ptr<Worker>> workers_;
  nlohmann::json running_json_;  // the config in effect, as the file said it (reload_report.hpp)
  boost::asio::io_context main_io_;  // acceptors, signals, the sweep timer
  std::vector<Listener> listeners_;
  std::unique_ptr<boost::asio::steady_timer> sweep_timer_;
  std::unique_ptr<admin::AdminApi> admin_api_;
  std::unique_ptr<SysTopics> sys_topics_;
  std::unique_ptr<boost::asio::steady_timer> sys_timer_;
  std::unique_ptr<admin::AdminServer> admin_server_;
  std::vector<std::shared_ptr<BridgeLink>> bridges_;
  std::size_t next_worker_ = 0;
};

}  // namespace tidegate
