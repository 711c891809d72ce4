#include "gateway/admin/admin_api.hpp"

#include "gateway/admin/await_answer.hpp"
#include "gateway/events/events_engine.hpp"
#include "gateway/ops/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <charconv>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>

#include "gateway/admin/admin_http.hpp"
#include "gateway/admin/metrics_text.hpp"
#include "gateway/admin/payload_preview.hpp"
#include "gateway/admin/session_json.hpp"
#include "gateway/admin/session_listing.hpp"
#include "gateway/codec/utf8.hpp"
#include "gateway/session/session_registry.hpp"

#ifndef TIDEGATE_VERSION
#define TIDEGATE_VERSION "0.0.0"
#endif

namespace tidegate::admin {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using nlohmann::json;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

// Starts inspect() on every owner at once (each answers on its own worker)
// and calls `done` once with every view, in the owners' order, on the thread
// of the last answer.
void inspect_all(std::vector<std::shared_ptr<SessionOwner>> owners,
                 std::function<void(std::vector<SessionView>)> done) {
  struct Gather {
    std::mutex lock;
    std::vector<SessionView> views;
    std::size_t remaining;
    std::function<void(std::vector<SessionView>)> done;
  };
  if (owners.empty()) return done({});
  auto gather = std::make_shared<Gather>();
  gather->views.resize(owners.size());
  gather->remaining = owners.size();
  gather->done = std::move(done);
  for (std::size_t i = 0; i < owners.size(); ++i)
    owners[i]->inspect([gather, i](SessionView view) {
      bool last;
      {
        std::lock_guard guard(gather->lock);
        gather->views[i] = std::move(view);
        last = --gather->remaining == 0;
      }
      if (last) gather->done(std::move(gather->views));
    });
}

}  // namespace

AdminApi::AdminApi(asio::io_context& main_io, BrokerContext& broker, const store::LmdbStore& store,
                   std::function<ReloadReport()> reload, std::function<Health()> health)
    : main_io_(main_io), broker_(broker), store_(store), reload_(std::move(reload)), health_(std::move(health)) {}

asio::awaitable<Response> AdminApi::handle(const Request& request) {
  std::string_view target = request.target();
  std::string_view query;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    query = target.substr(q + 1);
    target = target.substr(0, q);
  }
  if (auto problem = query_problem(query); !problem.empty())
    co_return error(request, http::status::bad_request, problem);
  // No route reads a body: one sent is a request meant for something else.
  if (!request.body().empty())
    co_return error(request, http::status::bad_request, "this API takes no request body (parameters go in the query)");
  auto method = request.method();
  if (target == "/healthz") {
    if (method != http::verb::get) co_return method_not_allowed(request, "GET");
    auto health = health_();
    json body = {{"status", health.failing.empty() ? "ok" : "failing"}};
    if (!health.failing.empty()) body["failing"] = health.failing;
    if (!health.degraded.empty()) body["degraded"] = health.degraded;
    co_return reply(request, health.failing.empty() ? http::status::ok : http::status::service_unavailable, body);
  }
  if (target == "/metrics") {
    if (method != http::verb::get) co_return method_not_allowed(request, "GET");
    co_return metrics(request);
  }
  if (target == "/api/v1/stats") {
    if (method != http::verb::get) co_return method_not_allowed(request, "GET");
    co_return stats(request);
  }
  if (target == "/api/v1/bridges") {
    if (method != http::verb::get) co_return method_not_allowed(request, "GET");
    co_return bridges(request);
  }
  if (target == "/api/v1/streams" || target.starts_with("/api/v1/streams/"))
    co_return co_await streams(request, target.substr(std::string_view("/api/v1/streams").size()), query);
  if (target == "/api/v1/rules" || target.starts_with("/api/v1/rules/"))
    co_return rules(request, target.substr(std::string_view("/api/v1/rules").size()), query);
  if (target == "/api/v1/cluster") {
    if (method != http::verb::get) co_return method_not_allowed(request, "GET");
    if (auto client = query_param(query, "client"); !client.empty()) co_return co_await client_holder(request, client);
    co_return cluster(request, query);
  }
  if (target == "/api/v1/reload") {
    if (method != http::verb::post) co_return method_not_allowed(request, "POST");
    // Runs here, on the main thread, as SIGHUP does.
    auto report = reload_();
    if (!report.error.empty())
      co_return error(request, http::status::bad_request, "reload failed, the running settings stay: " + report.error);
    co_return reply(request, http::status::ok,
                    json{{"reloaded", true},
                         {"changed", report.changed},
                         {"applied", report.applied},
                         {"new_connections", report.new_connections},
                         {"restart_needed", report.restart_needed}});
  }
  if (target == "/api/v1/sessions") co_return co_await sessions(request, query);
  if (target == "/api/v1/subscriptions") co_return co_await subscriptions(request, query);
  if (target == "/api/v1/topics") co_return co_await topics(request, query);
  constexpr std::string_view sessions_prefix = "/api/v1/sessions/";
  if (target.starts_with(sessions_prefix)) {
    std::string_view rest = target.substr(sessions_prefix.size());
    std::string_view action;
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
      action = rest.substr(slash + 1);
      rest = rest.substr(0, slash);
    }
    if (rest.empty()) co_return error(request, http::status::not_found, "no client id after " + std::string(sessions_prefix));
    std::string problem;
    auto client_id = path_name(rest, "client id", problem);
    if (!client_id) co_return error(request, http::status::bad_request, problem);
    co_return co_await session(request, *client_id, action);
  }
  if (target == "/api/v1/retained" || target.starts_with("/api/v1/retained/"))
    co_return co_await retained(request, target.substr(std::string_view("/api/v1/retained").size()), query);
  co_return error(request, http::status::not_found, "no such endpoint: " + std::string(target));
}

asio::awaitable<std::optional<std::vector<SessionView>>> AdminApi::with_details(std::vector<SessionView> views) {
  // Parked sessions are read under the registry's lock; online ones on their
  // workers, all at once. A session that comes or goes meanwhile keeps its summary.
  std::vector<std::shared_ptr<SessionOwner>> owners;
  std::vector<std::size_t> owner_slots;
  for (std::size_t i = 0; i < views.size(); ++i) {
    std::optional<SessionView> parked;
    if (auto owner = broker_.registry.find(views[i].client_id, parked)) {
      owner_slots.push_back(i);
      owners.push_back(std::move(owner));
    } else if (parked) {
      views[i] = std::move(*parked);
    }
  }
  std::function<void(std::function<void(std::vector<SessionView>)>)> ask =
      [owners](std::function<void(std::vector<SessionView>)> done) { inspect_all(owners, std::move(done)); };
  auto inspected = co_await await_answer<std::vector<SessionView>>(main_io_, std::move(ask));
  if (!inspected) co_return std::nullopt;
  for (std::size_t i = 0; i < owner_slots.size(); ++i) views[owner_slots[i]] = std::move((*inspected)[i]);
  co_return views;
}

asio::awaitable<std::optional<Ingest::ReaderBacklogs>> AdminApi::reader_backlogs() {
  auto& ingest = broker_.ingest;
  std::function<void(std::function<void(Ingest::ReaderBacklogs)>)> ask =
      [&ingest](std::function<void(Ingest::ReaderBacklogs)> done) { ingest.reader_backlogs(std::move(done)); };
  co_return co_await await_answer<Ingest::ReaderBacklogs>(main_io_, std::move(ask));
}

asio::awaitable<Response> AdminApi::sessions(const Request& request, std::string_view query) {
  if (request.method() != http::verb::get) co_return method_not_allowed(request, "GET");
  std::string problem;
  auto wanted = parse_session_query(query, problem);
  if (!wanted) co_return error(request, http::status::bad_request, problem);
  auto page = parse_page(query);
  if (!page) co_return error(request, http::status::bad_request, "limit and offset must be whole numbers");

  std::vector<SessionView> rows;
  for (auto& v : broker_.registry.list())  // by client id
    if (wanted->matches(v)) rows.push_back(std::move(v));
  auto backlogs = co_await reader_backlogs();
  if (!backlogs) co_return error(request, http::status::gateway_timeout, "the store thread did not answer");
  if (wanted->needs_details()) {
    auto detailed = co_await with_details(std::move(rows));
    if (!detailed) co_return error(request, http::status::gateway_timeout, "a session's worker did not answer");
    rows = std::move(*detailed);
  }
  const auto now_ms = store::wall_clock_ms();
  sort_sessions(rows, *wanted, *backlogs, now_ms);

  const std::size_t total = rows.size();
  std::size_t first = std::min(page->offset, total);
  std::vector<SessionView> on_page(std::make_move_iterator(rows.begin() + first),
                                   std::make_move_iterator(rows.begin() + std::min(total, first + page->limit)));
  if (!wanted->needs_details()) {  // only the page's are asked
    auto detailed = co_await with_details(std::move(on_page));
    if (!detailed) co_return error(request, http::status::gateway_timeout, "a session's worker did not answer");
    on_page = std::move(*detailed);
  }
  json list = json::array();
  for (const auto& v : on_page) {
    json row = session_json(v, false, 0);
    row["inflight"] = v.inflight;
    row["backlog"] = total_backlog(*backlogs, v.client_id);
    row["messages_in"] = v.traffic.messages_in;
    row["messages_out"] = v.traffic.messages_out;
    row["rate"] = session_rate(v, now_ms);
    list.push_back(std::move(row));
  }
  co_return reply(request, http::status::ok, json{{"total", total}, {"sessions", list}});
}

asio::awaitable<Response> AdminApi::session(const Request& request, const std::string& client_id,
                                            std::string_view action) {
  std::optional<SessionView> parked;
  auto owner = broker_.registry.find(client_id, parked);
  auto method = request.method();
  if (action == "kick") {
    if (method != http::verb::post) co_return method_not_allowed(request, "POST");
    if (!owner && parked)
      co_return error(request, http::status::conflict,
                      "session '" + client_id + "' is not connected (a persistent session, offline)");
    if (!owner) co_return error(request, http::status::not_found, "no session '" + client_id + "'");
    owner->kick(false);
    co_return reply(request, http::status::ok, json{{"kicked", true}});
  }
  if (!action.empty()) co_return error(request, http::status::not_found, "no such action: " + std::string(action));
  if (method == http::verb::delete_) {
    if (owner) {
      owner->kick(true);
    } else if (!broker_.registry.end_parked(client_id)) {
      co_return error(request, http::status::not_found, "no session '" + client_id + "'");
    }
    co_return reply(request, http::status::ok, json{{"deleted", true}});
  }
  if (method != http::verb::get) co_return method_not_allowed(request, "GET or DELETE");
  std::uint64_t newest = broker_.ingest.visible_seq();
  std::optional<SessionView> view = std::move(parked);
  if (owner) {
    std::function<void(std::function<void(SessionView)>)> ask = [owner](std::function<void(SessionView)> done) {
      owner->inspect(std::move(done));
    };
    view = co_await await_answer<SessionView>(main_io_, std::move(ask));
    if (!view) co_return error(request, http::status::gateway_timeout, "the session's worker did not answer");
  }
  if (!view) co_return error(request, http::status::not_found, "no session '" + client_id + "'");
  auto backlogs = co_await reader_backlogs();
  if (!backlogs) co_return error(request, http::status::gateway_timeout, "the store thread did not answer");
  json body = session_json(*view, true, newest);
  // Exact counts for a persistent session's queues (its committed positions); a session that saves none has none.
  std::size_t total = 0;
  if (auto it = backlogs->find(client_id); it != backlogs->end())
    for (auto& q : body["queues"])
      for (const auto& [queue, count] : it->second)
        if (display_queue(queue) == q["queue"].get<std::string>()) q["backlog"] = count, total += count;
  for (auto& q : body["queues"])
    if (!q.contains("backlog")) q["backlog"] = 0;
  body["backlog"] = total;
  body["rate"] = session_rate(*view, store::wall_clock_ms());
  co_return reply(request, http::status::ok, body);
}

asio::awaitable<Response> AdminApi::retained(const Request& request, std::string_view rest, std::string_view query) {
  auto method = request.method();
  if (rest.empty() || rest == "/") {
    if (method != http::verb::get) co_return method_not_allowed(request, "GET");
    std::string prefix = query_param(query, "prefix");
    // The gateway's own $SYS topics only when asked for (sys=1), after the clients'.
    const bool with_sys = query_param(query, "sys") == "1";
    auto page = parse_page(query);
    if (!page) co_return error(request, http::status::bad_request, "limit and offset must be whole numbers");
    auto& ingest = broker_.ingest;
    std::function<void(std::function<void(std::vector<store::MessagePtr>)>)> ask =
        [&ingest, prefix](std::function<void(std::vector<store::MessagePtr>)> done) {
          ingest.list_retained(prefix, std::move(done));
        };
    auto list = co_await await_answer<std::vector<store::MessagePtr>>(main_io_, std::move(ask));
    if (!list) co_return error(request, http::status::gateway_timeout, "the store thread did not answer");
    std::stable_partition(list->begin(), list->end(),
                          [](const store::MessagePtr& m) { return !m->topic.starts_with("$SYS/"); });
    json out = json::array();
    std::size_t total = 0;
    for (const auto& m : *list) {
      if (!with_sys && m->topic.starts_with("$SYS/")) continue;
      if (!page->take(total, out.size())) continue;
      out.push_back({{"topic", m->topic}, {"qos", m->qos}, {"bytes", m->payload.size()},
                     {"preview", payload_preview(m->payload)}});
    }
    co_return reply(request, http::status::ok, json{{"total", total}, {"retained", out}});
  }
  if (method != http::verb::delete_ && method != http::verb::get) co_return method_not_allowed(request, "GET or DELETE");
  std::string problem;
  auto decoded = path_name(rest.substr(1), "topic", problem);
  if (!decoded) co_return error(request, http::status::bad_request, problem);
  std::string topic = std::move(*decoded);
  auto& ingest = broker_.ingest;
  if (method == http::verb::get) {
    std::function<void(std::function<void(store::MessagePtr)>)> ask = [&ingest, topic](std::function<void(store::MessagePtr)> done) {
      ingest.find_retained(topic, std::move(done));
    };
    auto found = co_await await_answer<store::MessagePtr>(main_io_, std::move(ask));
    if (!found) co_return error(request, http::status::gateway_timeout, "the store thread did not answer");
    if (!*found) co_return error(request, http::status::not_found, "no retained message on '" + topic + "'");
    const auto& m = **found;
    co_return reply(request, http::status::ok,
                    json{{"topic", m.topic}, {"qos", m.qos}, {"bytes", m.payload.size()},
                         {"truncated", m.payload.size() > kPayloadViewBytes},
                         {"payload", payload_view(m.payload)}});
  }
  using Result = std::pair<bool, std::error_code>;
  std::function<void(std::function<void(Result)>)> ask = [&ingest, topic](std::function<void(Result)> done) {
    ingest.clear_retained(topic, [done](bool found, std::error_code ec) { done({found, ec}); });
  };
  auto result = co_await await_answer<Result>(main_io_, std::move(ask));
  if (!result) co_return error(request, http::status::gateway_timeout, "the store thread did not answer");
  if (result->second) co_return error(request, http::status::internal_server_error, result->second.message());
  if (!result->first) co_return error(request, http::status::not_found, "no retained message on '" + topic + "'");
  co_return reply(request, http::status::ok, json{{"deleted", true}});
}

asio::awaitable<Response> AdminApi::subscriptions(const Request& request, std::string_view query) {
  if (request.method() != http::verb::get) co_return method_not_allowed(request, "GET");
  std::string prefix = query_param(query, "prefix");
  std::string filter_prefix = query_param(query, "filter_prefix");
  auto page = parse_page(query);
  if (!page) co_return error(request, http::status::bad_request, "limit and offset must be whole numbers");

  std::vector<SessionView> summaries;
  for (auto& summary : broker_.registry.list())
    if (summary.client_id.starts_with(prefix)) summaries.push_back(std::move(summary));
  auto detailed = co_await with_details(std::move(summaries));
  if (!detailed) co_return error(request, http::status::gateway_timeout, "a session's worker did not answer");
  const auto& views = *detailed;
  json list = json::array();
  std::size_t total = 0;
  for (const auto& v : views)  // by client id (list()), each session's by filter (a std::map)
    for (const auto& sub : v.subscriptions) {
      if (!sub.filter.starts_with(filter_prefix)) continue;
      if (!page->take(total, list.size())) continue;
      json row = {{"client_id", v.client_id}, {"online", v.online}};
      row.update(subscription_json(sub));
      list.push_back(std::move(row));
    }
  co_return reply(request, http::status::ok, json{{"total", total}, {"subscriptions", list}});
}

asio::awaitable<Response> AdminApi::topics(const Request& request, std::string_view query) {
  if (request.method() != http::verb::get) co_return method_not_allowed(request, "GET");
  std::string prefix = query_param(query, "prefix");
  auto page = parse_page(query);
  if (!page) co_return error(request, http::status::bad_request, "limit and offset must be whole numbers");
  auto& ingest = broker_.ingest;
  std::function<void(std::function<void(std::vector<Ingest::QueueInfo>)>)> ask =
      [&ingest, prefix](std::function<void(std::vector<Ingest::QueueInfo>)> done) {
        ingest.list_queues(prefix, std::move(done));
      };
  auto queues = co_await await_answer<std::vector<Ingest::QueueInfo>>(main_io_, std::move(ask));
  if (!queues) co_return error(request, http::status::gateway_timeout, "the store thread did not answer");
  std::sort(queues->begin(), queues->end(), [](const auto& a, const auto& b) { return a.filter < b.filter; });
  json list = json::array();
  std::size_t total = 0;
  for (const auto& q : *queues) {
    if (!page->take(total, list.size())) continue;
    list.push_back({{"filter", q.filter},
                    {"shared", q.shared},
                    {"subscribers", q.subscribers},
                    {"last_sequence", q.last_seq ? json(q.last_seq) : json(nullptr)},
                    {"messages", q.messages},
                    {"backlog", q.backlog}});
  }
  // Retention is one policy for the whole store (docs/durability.md).
  const auto& l = broker_.limits;
  json retention = {{"bytes", LiveLimits::get(l.retention_bytes)},
                    {"seconds", LiveLimits::get(l.retention_seconds)},
                    {"max_session_backlog", LiveLimits::get(l.max_session_backlog)}};
  co_return reply(request, http::status::ok, json{{"total", total}, {"topics", list}, {"retention", retention}});
}

Response AdminApi::stats(const Request& request) const {
  auto s = collect_stats(broker_, store_, started_);
  const auto& m = broker_.metrics;
  json drops = json::object();
  for (const auto& [reason, count] : drop_counts(m, s)) drops[reason] = count;
  // Not refusals of a message but the store's own policy, shown with them.
  drops["retention_removed"] = s.ingest.retention_removed;
  drops["sessions_behind_retention"] = Metrics::read(m.sessions_behind_retention);
  json body = {
      {"version", TIDEGATE_VERSION},
      {"uptime_seconds", s.uptime_seconds},
      {"connections",
       {{"open", Metrics::read(m.connections_open)},
        {"accepted", Metrics::read(m.connections_accepted)},
        {"refused_limit", Metrics::read(m.connections_refused_limit)},
        {"refused_session_owner", Metrics::read(m.connections_refused_session_owner)},
        {"protocol_errors", Metrics::read(m.protocol_errors)},
        {"close_linger_cut", Metrics::read(m.close_linger_cut)}}},
      {"sessions", {{"online", s.online}, {"offline", s.parked}}},
      {"subscriptions", s.ingest.subscriptions},
      {"messages",
       {{"received", Metrics::read(m.publish_received)},
        {"sent", Metrics::read(m.publish_sent)},
        {"persisted", s.ingest.persisted},
        {"no_subscribers", s.ingest.no_subscribers}}},
      {"bytes", {{"received", Metrics::read(m.bytes_received)}, {"sent", Metrics::read(m.bytes_sent)}}},
      {"store",
       {{"map_bytes", s.usage.map_bytes},
        {"message_bytes", s.usage.message_bytes},
        {"messages", s.usage.messages},
        {"limit_bytes", LiveLimits::get(broker_.limits.retention_bytes)},
        {"commits", s.ingest.commits},
        {"commit_errors", s.ingest.commit_errors}}},
      {"retained", {{"count", s.ingest.retained}, {"bytes", s.ingest.retained_bytes}}},
      {"queues",
       {{"live", s.ingest.live_queues},
        {"cached_messages", s.cache.entries},
        {"cached_bytes", s.cache.bytes},
        {"shared_publish_bytes", broker_.shared_publish_budget->bytes()},
        {"shared_publish_over_limit", broker_.shared_publish_budget->refused()}}},
      {"drops", drops}};
  return reply(request, http::status::ok, body);
}

Response AdminApi::bridges(const Request& request) const {
  json list = json::array();
  for (const auto& b : broker_.bridge_status())
    list.push_back(json{{"name", b.name},
                        {"address", b.address},
                        {"connected", b.connected},
                        {"since_ms", b.since_ms},
                        {"last_error", b.last_error.empty() ? json(nullptr) : json(b.last_error)},
                        {"last_error_at", b.last_error_ms ? iso_time(b.last_error_ms) : json(nullptr)},
                        {"last_error_at_ms", b.last_error_ms ? json(b.last_error_ms) : json(nullptr)},
                        {"connects", b.connects},
                        {"connect_failures", b.connect_failures},
                        {"messages_out", b.messages_out},
                        {"messages_in", b.messages_in},
                        {"backlog", b.backlog}});
  return reply(request, http::status::ok, json{{"bridges", list}});
}

Response AdminApi::rules(const Request& request, std::string_view rest, std::string_view query) const {
  const auto method = request.method();
  std::string name, action;
  if (!rest.empty()) {
    rest.remove_prefix(1);  // the '/'
    auto slash = rest.find('/');
    name = std::string(rest.substr(0, slash));
    if (slash != std::string_view::npos) action = std::string(rest.substr(slash + 1));
  }
  auto all = broker_.events ? broker_.events->status() : std::vector<events::ActionStatus>{};
  if (action == "replay") {
    if (method != http::verb::post) return method_not_allowed(request, "POST");
    auto from_seq = query_param(query, "from_seq"), from_time = query_param(query, "from_time");
    std::uint64_t seq = 0;
    std::int64_t ms = 0;
    auto number = [](const std::string& text, auto& out) {
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
      return !text.empty() && ec == std::errc() && end == text.data() + text.size();
    };
    if (from_seq.empty() == from_time.empty())
      return error(request, http::status::bad_request, "replay wants from_seq=N or from_time=MS (milliseconds since the epoch)");
    if (!from_seq.empty() && !number(from_seq, seq))
      return error(request, http::status::bad_request, "from_seq: not a sequence number");
    if (!from_time.empty() && !number(from_time, ms))
      return error(request, http::status::bad_request, "from_time: not milliseconds since the epoch");
    if (!broker_.events) return error(request, http::status::not_found, "no rule named '" + name + "'");
    if (!from_time.empty()) seq = broker_.events->sequence_at(ms);
    if (!broker_.events->replay(name, seq)) return error(request, http::status::not_found, "no rule named '" + name + "'");
    tidegate::log::event(tidegate::log::Level::info, "rule_replay", "rule replays from a sequence",
                         {{"rule", name}, {"from_seq", static_cast<std::int64_t>(seq)}});
    return reply(request, http::status::ok, json{{"rule", name}, {"from_seq", seq}});
  }
  if (!action.empty()) {
    if (action != "pause" && action != "resume")
      return error(request, http::status::not_found, "no such endpoint: rules/" + name + "/" + action);
    if (method != http::verb::post) return method_not_allowed(request, "POST");
    if (!broker_.events || !broker_.events->set_paused(name, action == "pause"))
      return error(request, http::status::not_found, "no rule named '" + name + "'");
    tidegate::log::event(tidegate::log::Level::info, action == "pause" ? "rule_paused" : "rule_resumed",
               action == "pause" ? "rule paused" : "rule resumed", {{"rule", name}});
    return reply(request, http::status::ok, json{{"rule", name}, {"paused", action == "pause"}});
  }
  if (method != http::verb::get) return method_not_allowed(request, "GET");
  std::map<std::string, json> by_rule;
  for (const auto& a : all) {
    if (!name.empty() && a.rule != name) continue;
    auto& rule = by_rule[a.rule];
    if (rule.is_null()) rule = json{{"name", a.rule}, {"from", a.from}, {"paused", a.paused}, {"actions", json::array()}};
    const auto& c = *a.counters;
    auto [last_error, last_error_ms] = c.last_error();
    auto latency = c.latency.snapshot();
    rule["actions"].push_back(json{
        {"index", a.index},
        {"kind", a.kind},
        {"target", a.target},
        {"committed", a.committed},
        {"unfinished", a.unfinished},
        {"backlog", Metrics::read(c.backlog)},
        {"matched", Metrics::read(c.matched)},
        {"delivered", Metrics::read(c.delivered)},
        {"failed", Metrics::read(c.failed)},
        {"retries", Metrics::read(c.retries)},
        {"dead_lettered", Metrics::read(c.dead_lettered)},
        {"dropped", Metrics::read(c.dropped)},
        {"lost_retention", Metrics::read(c.lost_retention)},
        {"latency_avg_ms", latency.count ? json(latency.sum_seconds * 1000 / double(latency.count)) : json(nullptr)},
        {"last_error", last_error.empty() ? json(nullptr) : json(last_error)},
        {"last_error_at", last_error_ms ? iso_time(last_error_ms) : json(nullptr)}});
  }
  if (!name.empty()) {
    if (by_rule.empty()) return error(request, http::status::not_found, "no rule named '" + name + "'");
    return reply(request, http::status::ok, by_rule.begin()->second);
  }
  json list = json::array();
  for (auto& [n, rule] : by_rule) list.push_back(std::move(rule));
  return reply(request, http::status::ok, json{{"rules", list}, {"node", broker_.events ? broker_.events->node() : ""}});
}

asio::awaitable<Response> AdminApi::client_holder(const Request& request, std::string client_id) {
  json body = cluster_json("");
  if (!body["enabled"].get<bool>()) co_return reply(request, http::status::ok, body);
  // Held here: the registry says so without asking anyone.
  std::optional<SessionView> parked;
  bool here = broker_.registry.find(client_id, parked) != nullptr || parked.has_value();
  json answer = {{"id", client_id}, {"answered", true}, {"held_by", here ? json(body["node"]) : json(nullptr)}};
  if (!here) {
    auto& cluster = broker_.cluster();
    std::function<void(std::function<void(std::optional<std::string>)>)> ask =
        [&cluster, client_id](std::function<void(std::optional<std::string>)> done) {
          cluster.find_client_holder(client_id, std::move(done));
        };
    auto holder = co_await await_answer<std::optional<std::string>>(main_io_, std::move(ask));
    answer["answered"] = holder.has_value() && holder->has_value();
    if (answer["answered"].get<bool>() && !(*holder)->empty()) answer["held_by"] = **holder;
  }
  body["client"] = std::move(answer);
  co_return reply(request, http::status::ok, body);
}

Response AdminApi::cluster(const Request& request, std::string_view query) const {
  return reply(request, http::status::ok, cluster_json(query));
}

json AdminApi::cluster_json(std::string_view query) const {
  auto c = broker_.cluster().stats();
  if (!c) return json{{"enabled", false}};
  const auto& config = *broker_.config.cluster;
  json body{{"enabled", true},
                    {"node", c->node},
                    {"store", {{"stream", config.stream},
                               {"replicas", config.replicas},
                               {"servers", config.nats},
                               {"connected", c->connected},
                               {"appended", c->appended},
                               {"append_errors", c->append_errors},
                               {"pending_appends", c->pending_appends}}},
                    {"notify", {{"mode", c->lookup_enabled ? "lookup" : "broadcast"},
                                {"sent", c->events_sent},
                                {"targeted", c->notify_targeted},
                                {"broadcast", c->notify_broadcast},
                                {"events_received", c->events_received},
                                {"fetched", c->fetched},
                                {"skipped", c->skipped},
                                {"fetch_errors", c->fetch_errors},
                                {"fetch_backlog", c->fetch_backlog},
                                {"catch_ups", c->catch_ups},
                                {"caught_up", c->caught_up},
                                {"settling_routes", c->settling},
                                {"settle_reads", c->settle_reads},
                                {"settled", c->settled},
                                {"relayed", c->relayed}}},
                    {"shared_groups", {{"live", c->groups},
                                       {"messages", c->group_received},
                                       {"redelivered", c->group_redelivered},
                                       {"setup_errors", c->group_errors}}},
                    {"takeovers", {{"sessions_ended", c->takeovers + broker_.metrics.taken_over_elsewhere.load()},
                                   {"sent_targeted", c->takeover_targeted},
                                   {"sent_broadcast", c->takeover_broadcast}}},
                    {"sessions_moved", {{"in", c->sessions_fetched},
                                        {"out", c->sessions_handed},
                                        {"unconfirmed_kept", c->sessions_returned},
                                        {"failed", c->session_fetch_failures}}}};
  if (c->lookup_enabled) {
    const auto& l = c->lookup;
    char epoch[17];
    std::snprintf(epoch, sizeof epoch, "%016llx", static_cast<unsigned long long>(l.epoch));
    body["lookup"] = {{"epoch", epoch},
                      {"members", l.members},
                      {"stable", l.stable},
                      {"complete", l.complete},
                      {"slots_owned", l.slots_owned},
                      {"entries", l.entries},
                      {"answered", l.answered},
                      {"epoch_changes", l.epoch_changes},
                      {"fallbacks", {{"unstable", l.fallback_unstable},
                                     {"unreachable", l.fallback_unreachable},
                                     {"epoch", l.fallback_epoch}}}};
    // ?key=t:a/b (or c:<client id>, w:<level>): which gateway holds it.
    if (auto key = query_param(query, "key"); !key.empty()) body["lookup"]["owner_of"] = {{key, broker_.cluster().lookup_owner(key)}};
  }
  return body;
}

Response AdminApi::metrics(const Request& request) const {
  Response r{http::status::ok, request.version()};
  r.set(http::field::content_type, "text/plain; version=0.0.4");
  r.body() = render_prometheus(broker_, collect_stats(broker_, store_, started_));
  return r;
}

}  // namespace tidegate::admin
