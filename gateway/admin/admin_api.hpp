#pragma once
// The admin API's routes (docs/operations.md): sessions, subscriptions, topics (live
// queues), retained messages, stats and Prometheus metrics as HTTP/JSON. Runs on the main thread; data owned by a
// worker or the ingest thread is fetched by posting there and awaiting the
// answer (bounded by a deadline).
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "gateway/admin/admin_http.hpp"
#include "gateway/broker_context.hpp"
#include "gateway/config/reload_report.hpp"
#include "storeclient/lmdb_store.hpp"

namespace tidegate::admin {

// What GET /healthz answers: the names of the parts that fail (503 when
// any) and of those that are down without stopping devices (bridges).
struct Health {
  std::vector<std::string> failing;   // "store", "listeners[1]", "cluster"
  std::vector<std::string> degraded;  // "bridges.cloud"
};

class AdminApi {
 public:
  // reload: re-reads the config (main thread); the report says what changed.
  // health: the gateway's parts (main thread).
  AdminApi(boost::asio::io_context& main_io, BrokerContext& broker, const store::LmdbStore& store,
           std::function<ReloadReport()> reload, std::function<Health()> health);
  boost::asio::awaitable<Response> handle(const Request& request);

 private:
  boost::asio::awaitable<Response> sessions(const Request& request, std::string_view query);
  boost::asio::awaitable<Response> session(const Request& request, const std::string& client_id,
                                           std::string_view action);
  boost::asio::awaitable<Response> retained(const Request& request, std::string_view rest, std::string_view query);
  boost::asio::awaitable<Response> subscriptions(const Request& request, std::string_view query);
  boost::asio::awaitable<Response> topics(const Request& request, std::string_view query);
  // The sessions with their details (subscriptions, inflight, traffic, will),
  // asked of their workers; nullopt when a worker did not answer in time.
  boost::asio::awaitable<std::optional<std::vector<SessionView>>> with_details(std::vector<SessionView> views);
  boost::asio::awaitable<std::optional<Ingest::ReaderBacklogs>> reader_backlogs();
  Response stats(const Request& request) const;
  Response bridges(const Request& request) const;
  // /api/v1/streams[/NAME[/messages|/groups/G[/commit]]] (docs/events.md, "Streams"): stream_routes.cpp.
  boost::asio::awaitable<Response> streams(const Request& request, std::string_view rest, std::string_view query);
  // GET /api/v1/rules[/NAME], POST /api/v1/rules/NAME/pause|resume|replay (docs/events.md).
  Response rules(const Request& request, std::string_view rest, std::string_view query) const;
  Response cluster(const Request& request, std::string_view query) const;
  nlohmann::json cluster_json(std::string_view query) const;
  // GET /api/v1/cluster?client=ID: the cluster's state and which gateway holds that client.
  boost::asio::awaitable<Response> client_holder(const Request& request, std::string client_id);
  Response metrics(const Request& request) const;

  boost::asio::io_context& main_io_;
  BrokerContext& broker_;
  const store::LmdbStore& store_;
  std::function<ReloadReport()> reload_;
  std::function<Health()> health_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace tidegate::admin
