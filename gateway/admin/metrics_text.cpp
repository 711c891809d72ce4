#include "gateway/admin/metrics_text.hpp"

#include "gateway/auth/auth_http.hpp"
#include "gateway/events/events_engine.hpp"
#include "gateway/events/streams.hpp"
#include "gateway/ops/process_stats.hpp"

#include <cstdio>
#include <sstream>

#ifndef TIDEGATE_VERSION
#define TIDEGATE_VERSION "0.0.0"
#endif
#ifndef TIDEGATE_COMMIT
#define TIDEGATE_COMMIT "unknown"
#endif

namespace tidegate::admin {

GatewayStats collect_stats(BrokerContext& broker, const store::LmdbStore& store,
                           std::chrono::steady_clock::time_point started) {
  GatewayStats s;
  s.uptime_seconds = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started).count());
  s.online = broker.registry.online();
  s.parked = broker.registry.parked();
  s.ingest = broker.ingest.stats();
  s.usage = store.usage();
  s.cache = broker.cache.stats();
  return s;
}

std::vector<std::pair<const char*, std::uint64_t>> drop_counts(const Metrics& m, const GatewayStats& s) {
  return {{"too_large_for_client", Metrics::read(m.dropped_too_large_for_client)},
          {"expired", Metrics::read(m.dropped_expired)},
          {"no_local", Metrics::read(m.dropped_no_local)},
          {"acl", Metrics::read(m.dropped_acl) + s.ingest.dropped_acl},
          {"qos0_slow_subscriber", Metrics::read(m.dropped_qos0_slow_subscriber)},
          {"acl_denied_publish", Metrics::read(m.publish_denied_acl)},
          {"refused_store", Metrics::read(m.publish_refused_store)},
          {"refused_retained_quota", s.ingest.refused_retained_quota},
          {"refused_session_backlog", s.ingest.refused_session_backlog},
          {"refused_topic_limits", Metrics::read(m.refused_topic_limits)},
          {"refused_subscription_quota", Metrics::read(m.refused_subscription_quota)},
          {"disconnected_output_overflow", Metrics::read(m.disconnected_output_overflow)}};
}

namespace {

// The text exposition format: # HELP, # TYPE and the sample(s) of each metric.
struct PrometheusText {
  std::ostringstream out;
  template <typename T>
  void metric(const char* name, const char* type, const char* help, T value) {
    out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n'
        << name << ' ' << value << '\n';
  }
};

void write_connections_and_messages(PrometheusText& p, BrokerContext& broker, const GatewayStats& s) {
  const auto& m = broker.metrics;
  p.metric("tidegate_uptime_seconds", "gauge", "Seconds since start.", s.uptime_seconds);
  p.metric("tidegate_connections_open", "gauge", "Open client connections.", Metrics::read(m.connections_open));
  p.metric("tidegate_admin_live_streams", "gauge", "Console live feeds open (admin.max_live_streams).",
           Metrics::read(m.admin_live_streams));
  p.metric("tidegate_admin_live_streams_refused_total", "counter", "Console live feeds refused at admin.max_live_streams.",
           Metrics::read(m.admin_live_streams_refused));
  p.metric("tidegate_admin_logins", "gauge", "Console logins held (admin.max_logins).", Metrics::read(m.admin_logins));
  p.metric("tidegate_admin_login_failures_total", "counter", "Console logins refused (wrong token).",
           Metrics::read(m.admin_login_failures));
  p.metric("tidegate_connections_accepted_total", "counter", "Connections accepted.", Metrics::read(m.connections_accepted));
  p.metric("tidegate_connections_refused_limit_total", "counter", "Connections closed at max_connections.",
         Metrics::read(m.connections_refused_limit));
  p.metric("tidegate_connections_refused_session_owner_total", "counter",
         "CONNECTs refused: the client id's session belongs to another identity.",
         Metrics::read(m.connections_refused_session_owner));
  p.metric("tidegate_protocol_errors_total", "counter", "Connections closed for a protocol error.", Metrics::read(m.protocol_errors));
  p.out << "# HELP tidegate_auth_failures_total CONNECTs refused by authentication, by reason.\n"
           "# TYPE tidegate_auth_failures_total counter\n";
  for (std::size_t i = 0; i < m.auth_failures.size(); ++i)
    p.out << "tidegate_auth_failures_total{reason=\"" << to_string(static_cast<AuthFailure>(i)) << "\"} "
          << Metrics::read(m.auth_failures[i]) << '\n';
  p.metric("tidegate_close_linger_cut_total", "counter",
         "Closes after a reason code whose client neither closed nor stopped sending within the linger.",
         Metrics::read(m.close_linger_cut));
  p.metric("tidegate_sessions_online", "gauge", "Sessions with a connection.", s.online);
  p.metric("tidegate_sessions_offline", "gauge", "Persistent sessions without a connection.", s.parked);
  p.metric("tidegate_messages_received_total", "counter", "PUBLISH packets received.", Metrics::read(m.publish_received));
  p.metric("tidegate_messages_sent_total", "counter", "PUBLISH packets sent.", Metrics::read(m.publish_sent));
  auto by_qos = [&](const char* name, const char* help, const auto& counters) {
    p.out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " counter\n";
    for (std::size_t qos = 0; qos < counters.size(); ++qos)
      p.out << name << "{qos=\"" << qos << "\"} " << Metrics::read(counters[qos]) << '\n';
  };
  by_qos("tidegate_messages_received_by_qos_total", "PUBLISH packets received, by their QoS.",
         m.publish_received_by_qos);
  by_qos("tidegate_messages_sent_by_qos_total", "PUBLISH packets sent, by the QoS they were sent with.",
         m.publish_sent_by_qos);
}

void write_store(PrometheusText& p, BrokerContext& broker, const GatewayStats& s) {
  const auto& m = broker.metrics;
  p.metric("tidegate_messages_persisted_total", "counter", "Messages written to the store.", s.ingest.persisted);
  p.metric("tidegate_messages_no_subscribers_total", "counter", "Messages no queue took.", s.ingest.no_subscribers);
  p.metric("tidegate_bytes_received_total", "counter", "Bytes read from clients.", Metrics::read(m.bytes_received));
  p.metric("tidegate_bytes_sent_total", "counter", "Bytes written to clients.", Metrics::read(m.bytes_sent));
  p.metric("tidegate_store_commits_total", "counter", "Store group commits.", s.ingest.commits);
  p.metric("tidegate_store_commit_errors_total", "counter", "Store commits that failed.", s.ingest.commit_errors);
  {
    // "0.00025", "1": the bounds as written in LatencyHistogram; the sum to the nanosecond.
    auto number = [](double v) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.9g", v);
      return std::string(buf);
    };
    auto h = broker.ingest.commit_latency().snapshot();
    const char* name = "tidegate_store_commit_duration_seconds";
    p.out << "# HELP " << name << " Duration of each store group commit (the transaction QoS 1/2 publishers wait for).\n"
        << "# TYPE " << name << " histogram\n";
    for (std::size_t i = 0; i < LatencyHistogram::bounds.size(); ++i)
      p.out << name << "_bucket{le=\"" << number(LatencyHistogram::bounds[i]) << "\"} " << h.cumulative[i] << '\n';
    p.out << name << "_bucket{le=\"+Inf\"} " << h.count << '\n'
        << name << "_sum " << number(h.sum_seconds) << '\n'
        << name << "_count " << h.count << '\n';
  }
  p.metric("tidegate_store_map_bytes", "gauge", "LMDB map size.", s.usage.map_bytes);
  p.metric("tidegate_store_message_bytes", "gauge", "Bytes of stored messages and their index.", s.usage.message_bytes);
  p.metric("tidegate_store_messages", "gauge", "Stored messages.", s.usage.messages);
  p.metric("tidegate_retained_messages", "gauge", "Retained topics.", s.ingest.retained);
  p.metric("tidegate_retained_bytes", "gauge", "Retained topic and payload bytes.", s.ingest.retained_bytes);
  p.metric("tidegate_queues_live", "gauge", "Live queues (subscribed filters).", s.ingest.live_queues);
  p.metric("tidegate_queue_cache_messages", "gauge", "Messages held by the queue cache.", s.cache.entries);
  p.metric("tidegate_queue_cache_bytes", "gauge", "Bytes held by the queue cache.", s.cache.bytes);
  p.metric("tidegate_shared_publish_bytes", "gauge",
         "Bytes of PUBLISH encodings shared by deliveries (limit: max_shared_publish_bytes).",
         broker.shared_publish_budget->bytes());
  p.metric("tidegate_shared_publish_over_limit_total", "counter",
         "Deliveries encoded on their own because shared encodings were at max_shared_publish_bytes.",
         broker.shared_publish_budget->refused());
  p.metric("tidegate_session_backlog_messages_max", "gauge",
         "Stored messages not yet taken by persistent sessions, in the fullest queue (limit: max_session_backlog).",
         s.ingest.session_backlog_largest);
  p.metric("tidegate_session_backlog_messages", "gauge",
         "Stored messages not yet taken by persistent sessions, summed over queues.", s.ingest.session_backlog_total);
  p.metric("tidegate_retention_removed_total", "counter", "Messages removed by retention.", s.ingest.retention_removed);
  p.metric("tidegate_sessions_behind_retention_total", "counter", "Session queues that lost messages to retention.",
         Metrics::read(m.sessions_behind_retention));
}

void write_drops(PrometheusText& p, BrokerContext& broker, const GatewayStats& s) {
  const auto& m = broker.metrics;
  p.out << "# HELP tidegate_dropped_total Messages not delivered or not accepted, by reason.\n"
         "# TYPE tidegate_dropped_total counter\n";
  auto drop = [&](const char* reason, auto value) {
    p.out << "tidegate_dropped_total{reason=\"" << reason << "\"} " << value << '\n';
  };
  drop("too_large_for_client", Metrics::read(m.dropped_too_large_for_client));
  drop("expired", Metrics::read(m.dropped_expired));
  drop("no_local", Metrics::read(m.dropped_no_local));
  drop("acl", Metrics::read(m.dropped_acl) + s.ingest.dropped_acl);
  drop("qos0_slow_subscriber", Metrics::read(m.dropped_qos0_slow_subscriber));
  drop("acl_denied_publish", Metrics::read(m.publish_denied_acl));
  drop("refused_store", Metrics::read(m.publish_refused_store));
  drop("refused_retained_quota", s.ingest.refused_retained_quota);
  drop("refused_session_backlog", s.ingest.refused_session_backlog);
  drop("refused_topic_limits", Metrics::read(m.refused_topic_limits));
  drop("refused_subscription_quota", Metrics::read(m.refused_subscription_quota));
  drop("disconnected_output_overflow", Metrics::read(m.disconnected_output_overflow));
  drop("bridge_unmapped", Metrics::read(m.bridge_unmapped));
}

// The build, and the standard process_* series the Prometheus client libraries export.
void write_build_and_process(PrometheusText& p) {
  p.out << "# HELP tidegate_build_info The gateway's version and the commit it was built from (value 1).\n"
           "# TYPE tidegate_build_info gauge\n"
           "tidegate_build_info{version=\"" TIDEGATE_VERSION "\",commit=\"" TIDEGATE_COMMIT "\"} 1\n";
  auto s = ops::read_process_stats();
  char cpu[32], start[32];
  std::snprintf(cpu, sizeof cpu, "%.2f", s.cpu_seconds);
  std::snprintf(start, sizeof start, "%.2f", s.start_time_seconds);
  p.metric("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", cpu);
  p.metric("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", s.resident_bytes);
  p.metric("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", s.virtual_bytes);
  p.metric("process_open_fds", "gauge", "Number of open file descriptors.", s.open_fds);
  p.metric("process_max_fds", "gauge", "Maximum number of open file descriptors.", s.max_fds);
  p.metric("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", start);
}

void write_auth_http(PrometheusText& p, BrokerContext& broker) {
  if (broker.auth_http) {
    auto a = broker.auth_http->stats();
    p.metric("tidegate_auth_http_requests_total", "counter", "Requests made to the HTTP auth hook.", a.requests);
    p.metric("tidegate_auth_http_cache_hits_total", "counter", "CONNECTs answered from the hook's cache.", a.cache_hits);
    p.metric("tidegate_auth_http_failures_total", "counter",
           "Hook requests that failed (timeout, error status, bad answer): on_error decided.", a.failures);
  }
}

void write_cluster(PrometheusText& p, BrokerContext& broker) {
  const auto& m = broker.metrics;
  if (auto c = broker.cluster().stats()) {
    p.metric("tidegate_cluster_connected", "gauge", "1 while the link to the NATS servers is up.", c->connected ? 1 : 0);
    p.metric("tidegate_cluster_appended_total", "counter", "Messages JetStream acknowledged.", c->appended);
    p.metric("tidegate_cluster_append_errors_total", "counter",
           "Messages JetStream refused or did not acknowledge in time (refused to the publisher).", c->append_errors);
    p.metric("tidegate_cluster_pending_appends", "gauge", "Appends awaiting JetStream's ack (cluster.max_pending_appends).",
           c->pending_appends);
    p.metric("tidegate_cluster_notify_sent_total", "counter", "Notify messages sent to the other gateways.", c->events_sent);
    p.metric("tidegate_cluster_events_received_total", "counter", "Message events received from other gateways.",
           c->events_received);
    p.metric("tidegate_cluster_fetched_total", "counter", "Messages of other gateways read from the stream.", c->fetched);
    p.metric("tidegate_cluster_skipped_total", "counter", "Events of other gateways no subscription here matched.",
           c->skipped);
    p.metric("tidegate_cluster_fetch_errors_total", "counter",
           "Messages of other gateways that could not be read (lost for this node's subscribers).", c->fetch_errors);
    p.metric("tidegate_cluster_fetch_backlog", "gauge", "Events waiting to be read from the stream.", c->fetch_backlog);
    p.metric("tidegate_cluster_catch_ups_total", "counter", "Stream scans after a lost notify (a gap or a reconnect).",
           c->catch_ups);
    p.metric("tidegate_cluster_caught_up_total", "counter", "Messages those scans delivered.", c->caught_up);
    p.metric("tidegate_cluster_settling_routes", "gauge",
           "Filters that went live here and that some gateway's lookup may not show yet.", c->settling);
    p.metric("tidegate_cluster_settle_reads_total", "counter",
           "Stream reads for those filters (once the lookup shows them everywhere, and each second meanwhile).",
           c->settle_reads);
    p.metric("tidegate_cluster_settled_total", "counter",
           "Messages those reads delivered: their notify went elsewhere while the lookup settled.", c->settled);
    p.metric("tidegate_cluster_relayed_total", "counter",
           "Events passed on to the gateway a session moved to (its notify reached this gateway after the move).",
           c->relayed);
    p.metric("tidegate_cluster_takeovers_total", "counter",
           "Sessions ended here because their client connected on another gateway.",
           c->takeovers + Metrics::read(m.taken_over_elsewhere));
    p.metric("tidegate_cluster_sessions_moved_in_total", "counter",
           "Persistent sessions taken over from another gateway with their messages.", c->sessions_fetched);
    p.metric("tidegate_cluster_sessions_moved_out_total", "counter",
           "Persistent sessions handed to another gateway (confirmed by it).", c->sessions_handed);
    p.metric("tidegate_cluster_sessions_unconfirmed_total", "counter",
           "Sessions handed over and never confirmed: parked here again.", c->sessions_returned);
    p.metric("tidegate_cluster_session_move_failures_total", "counter",
           "Sessions asked for and not received (the client started a new one).", c->session_fetch_failures);
    p.metric("tidegate_cluster_shared_groups", "gauge", "Shared subscription groups with members here.", c->groups);
    p.metric("tidegate_cluster_group_messages_total", "counter", "Shared-group messages JetStream gave this gateway.",
           c->group_received);
    p.metric("tidegate_cluster_group_redelivered_total", "counter",
           "Shared-group messages handed back to JetStream (no member here any more).", c->group_redelivered);
    p.metric("tidegate_cluster_group_errors_total", "counter", "Group consumers that could not be set up (retried).",
           c->group_errors);
  }
}

void write_bridges(PrometheusText& p, BrokerContext& broker) {
  auto bridges = broker.bridge_status();
  if (!bridges.empty()) {
    auto per_bridge = [&](const char* name, const char* type, const char* help, auto value_of) {
      p.out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
      for (const auto& b : bridges) p.out << name << "{bridge=\"" << b.name << "\"} " << value_of(b) << '\n';
    };
    per_bridge("tidegate_bridge_connected", "gauge", "1 while the bridge's link is up.",
               [](const BridgeStatus& b) { return b.connected ? 1 : 0; });
    per_bridge("tidegate_bridge_backlog_messages", "gauge", "Stored messages not yet acknowledged upstream.",
               [](const BridgeStatus& b) { return b.backlog; });
    per_bridge("tidegate_bridge_messages_out_total", "counter", "Messages acknowledged by the remote broker.",
               [](const BridgeStatus& b) { return b.messages_out; });
    per_bridge("tidegate_bridge_messages_in_total", "counter", "Messages received from the remote broker.",
               [](const BridgeStatus& b) { return b.messages_in; });
    per_bridge("tidegate_bridge_connect_failures_total", "counter", "Connection attempts that failed.",
               [](const BridgeStatus& b) { return b.connect_failures; });
  }
}

void write_rules(PrometheusText& p, BrokerContext& broker) {
  if (!broker.events) return;
  auto actions = broker.events->status();
  if (actions.empty()) return;
  auto per_action = [&](const char* name, const char* type, const char* help, auto value_of) {
    p.out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
    for (const auto& a : actions)
      p.out << name << "{rule=\"" << a.rule << "\",action=\"" << a.index << "\",kind=\"" << a.kind << "\"} "
            << value_of(a) << '\n';
  };
  using A = events::ActionStatus;
  per_action("tidegate_rule_matched_total", "counter", "Messages a rule's where took, per action.",
             [](const A& a) { return Metrics::read(a.counters->matched); });
  per_action("tidegate_rule_delivered_total", "counter", "Events delivered (webhook 2xx, or republished).",
             [](const A& a) { return Metrics::read(a.counters->delivered); });
  per_action("tidegate_rule_failed_total", "counter", "Attempts that failed (retried or dead-lettered).",
             [](const A& a) { return Metrics::read(a.counters->failed); });
  per_action("tidegate_rule_retries_total", "counter", "Attempts after the first.",
             [](const A& a) { return Metrics::read(a.counters->retries); });
  per_action("tidegate_rule_dead_lettered_total", "counter", "Events published to the dead-letter topic.",
             [](const A& a) { return Metrics::read(a.counters->dead_lettered); });
  per_action("tidegate_rule_dropped_total", "counter", "Events given up on with no dead-letter topic.",
             [](const A& a) { return Metrics::read(a.counters->dropped); });
  per_action("tidegate_rule_lost_retention_total", "counter",
             "Messages removed by retention (or QoS 0 evicted) before the rule read them.",
             [](const A& a) { return Metrics::read(a.counters->lost_retention); });
  per_action("tidegate_rule_backlog_messages", "gauge", "Stored messages after the committed offset.",
             [](const A& a) { return Metrics::read(a.counters->backlog); });
  per_action("tidegate_rule_paused", "gauge", "1 while the rule is paused.", [](const A& a) { return a.paused ? 1 : 0; });
  p.out << "# HELP tidegate_rule_delivery_seconds From a message's arrival to its delivery.\n"
           "# TYPE tidegate_rule_delivery_seconds histogram\n";
  for (const auto& a : actions) {
    auto snap = a.counters->latency.snapshot();
    const std::string labels = "rule=\"" + a.rule + "\",action=\"" + std::to_string(a.index) + "\"";
    for (std::size_t i = 0; i < LatencyHistogram::bounds.size(); ++i)
      p.out << "tidegate_rule_delivery_seconds_bucket{" << labels << ",le=\"" << LatencyHistogram::bounds[i] << "\"} "
            << snap.cumulative[i] << '\n';
    p.out << "tidegate_rule_delivery_seconds_bucket{" << labels << ",le=\"+Inf\"} " << snap.count << '\n'
          << "tidegate_rule_delivery_seconds_sum{" << labels << "} " << snap.sum_seconds << '\n'
          << "tidegate_rule_delivery_seconds_count{" << labels << "} " << snap.count << '\n';
  }
}

void write_streams(PrometheusText& p, BrokerContext& broker) {
  if (!broker.streams || broker.streams->all().empty()) return;
  const auto& streams = *broker.streams;
  p.out << "# HELP tidegate_stream_last_sequence The newest message's sequence in each stream.\n"
           "# TYPE tidegate_stream_last_sequence gauge\n";
  for (const auto& [name, s] : streams.all())
    p.out << "tidegate_stream_last_sequence{stream=\"" << name << "\"} " << streams.last_seq(s) << '\n';
  p.out << "# HELP tidegate_stream_group_committed_sequence Each consumer group's committed offset.\n"
           "# TYPE tidegate_stream_group_committed_sequence gauge\n";
  for (const auto& [name, s] : streams.all())
    for (const auto& [group, seq] : streams.groups(s))
      p.out << "tidegate_stream_group_committed_sequence{stream=\"" << name << "\",group=\"" << group << "\"} " << seq
            << '\n';
}

}  // namespace

std::string render_prometheus(BrokerContext& broker, const GatewayStats& s) {
  PrometheusText p;
  write_connections_and_messages(p, broker, s);
  write_store(p, broker, s);
  write_drops(p, broker, s);
  write_build_and_process(p);
  write_auth_http(p, broker);
  write_cluster(p, broker);
  write_bridges(p, broker);
  write_rules(p, broker);
  write_streams(p, broker);
  return p.out.str();
}

}  // namespace tidegate::admin
