#pragma once
// The rules (docs/events.md): one reader per action of each rule, on the
// events thread, fed by the ingest thread's queue events like a worker, so
// nothing a rule does runs on a worker or the ingest thread. Owns that
// thread. Built and reloaded by the Broker (main thread); status and
// pause/resume from any thread.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cache/queue_cache.hpp"
#include "gateway/events/action_counters.hpp"
#include "gateway/events/action_reader.hpp"
#include "gateway/events/cloud_event.hpp"
#include "gateway/events/rule_config.hpp"
#include "gateway/pipeline/ingest.hpp"
#include "storeclient/lmdb_store.hpp"

namespace tidegate::events {

struct ActionStatus {
  std::string rule;
  std::size_t index = 0;
  std::string kind;    // webhook | republish
  std::string target;  // the URL, or the topic template
  std::string from;
  bool paused = false;
  std::uint64_t committed = 0;   // the last sequence finished in order
  std::size_t unfinished = 0;    // handed to the action, not finished
  std::shared_ptr<const ActionCounters> counters;
};

class EventsEngine {
 public:
  EventsEngine(Ingest& ingest, const cache::QueueCache& cache, const store::LmdbStore& store, std::string node);
  ~EventsEngine();

  // Main thread, before start(): the TLS contexts of every webhook (ConfigError names the key).
  struct Plan {
    std::vector<RuleConfig> rules;
    std::map<std::string, std::vector<std::shared_ptr<boost::asio::ssl::context>>> tls;  // by rule, per action
  };
  std::shared_ptr<Plan> plan(const std::vector<RuleConfig>& rules) const;
  // After the ingest thread started, before any listener accepts: every
  // action subscribes to its rule's queue (waited for), so nothing published
  // from then on is missed, and resumes from its committed offset.
  void start(std::shared_ptr<Plan> plan);
  // Reload (main thread): rules whose config changed restart from their
  // committed offsets (a changed `from` starts anew); removed ones end and
  // their offsets go.
  void apply(std::shared_ptr<Plan> plan);
  void stop();  // main thread; readers save their offsets (the ingest thread must still run)

  // What the ingest thread calls (it only posts here).
  Ingest::Notify notifier();
  Ingest::RetentionListener retention_listener();

  std::vector<ActionStatus> status() const;      // any thread
  bool set_paused(const std::string& rule, bool paused);  // false: no such rule
  // Main thread: the rule's actions go back (or forward) to deliver from
  // `from_seq` on, what the store still holds of its filter's queue; what was
  // under way is abandoned (delivered again if it comes after from_seq).
  // False: no such rule.
  bool replay(const std::string& rule, std::uint64_t from_seq);
  // The first stored sequence that arrived at or after this time.
  std::uint64_t sequence_at(std::int64_t wall_ms) const { return store_.first_sequence_since(wall_ms); }
  const std::string& node() const { return node_; }

 private:
  struct Running {
    RuleConfig config;
    std::vector<std::shared_ptr<ActionReader>> readers;  // one per action
    std::vector<std::shared_ptr<ActionCounters>> counters;
    std::vector<std::shared_ptr<boost::asio::ssl::context>> tls;  // per action (webhooks over https)
  };
  // Main thread: subscribes each action (waited for) and starts its reader
  // at `resume` (by action index), else at its stored offset, else at the
  // queue's end (a new rule reads what comes from now on).
  // `paused`: the readers start paused (a paused rule that a reload or a
  // replay restarts stays paused, and sends nothing meanwhile).
  Running start_rule(const RuleConfig& rule, const std::vector<std::shared_ptr<boost::asio::ssl::context>>& tls,
                     const std::map<std::size_t, std::uint64_t>& resume, bool paused = false);
  // Main thread: stops the readers; `forget_from` (action index): those from
  // there on give up their queue reference and offset.
  void stop_rule(Running& running, std::size_t forget_from);
  void run_on_thread(std::function<void()> f);  // runs f on the events thread and waits
  void refresh_backlogs();                       // events thread, each second

  Ingest& ingest_;
  const cache::QueueCache& cache_;
  const store::LmdbStore& store_;
  const std::string node_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
  boost::asio::steady_timer backlog_timer_{io_};
  mutable std::mutex lock_;                // guards rules_ (changed on the main thread, read by status())
  std::map<std::string, Running> rules_;   // by name
  // Events thread: every running reader by the queue it reads.
  std::multimap<std::string, std::shared_ptr<ActionReader>> by_queue_;
};

// This gateway's name for events: node_name, else the host name.
std::string default_node_name();

}  // namespace tidegate::events
