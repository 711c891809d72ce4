#include "tools/bench/report.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>

namespace tidegate::bench {

namespace {

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

class Table {
 public:
  explicit Table(std::ostream& out) : out_(out) {}
  void row(const std::string& name, const std::string& value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%-24s ", name.c_str());
    out_ << buf << value << '\n';
  }

 private:
  std::ostream& out_;
};

bool is_message_scenario(Scenario s) { return s != Scenario::conn_ramp; }

std::string qos_text(const Options& o) { return std::to_string(o.qos); }

}  // namespace

void print_text(const Report& r, std::ostream& out) {
  const Options& o = r.options;
  Table t(out);
  std::string shape;
  switch (o.scenario) {
    case Scenario::conn_ramp: shape = std::to_string(o.connections) + " connections"; break;
    case Scenario::retained:
      shape = std::to_string(o.topics) + " retained topics -> " + std::to_string(o.subscribers) +
              (o.subscribers == 1 ? " subscriber" : " subscribers");
      break;
    case Scenario::p2p: shape = std::to_string(o.publishers) + " pairs"; break;
    default:
      shape = std::to_string(o.publishers) + (o.publishers == 1 ? " publisher -> " : " publishers -> ") +
              std::to_string(o.subscribers) + (o.subscribers == 1 ? " subscriber" : " subscribers");
  }
  t.row("scenario", std::string(to_string(o.scenario)) + " (" + shape + ")");
  t.row("broker", o.host + ":" + std::to_string(o.port) +
                      (o.broker_pid ? " pid " + std::to_string(o.broker_pid) : std::string()) +
                      (o.subscriber_port ? ", subscribers on port " + std::to_string(o.subscriber_port) : std::string()));
  t.row("protocol", o.protocol == mqtt::ProtocolVersion::v5 ? "5.0" : "3.1.1");
  if (!r.measured) {
    t.row("FAILED", r.fatal);
    return;
  }
  if (is_message_scenario(o.scenario)) {
    t.row("qos / payload", qos_text(o) + " / " + std::to_string(o.payload) + " B");
    t.row("rate / inflight", (o.rate > 0 ? fixed(o.rate, 0) + " msgs/s" : std::string("unlimited")) + " / " +
                                 std::to_string(o.inflight));
    t.row("publish time", fixed(r.publish_seconds, 2) + " s");
    t.row("delivered msgs/s", fixed(r.delivered_per_s, 0));
    t.row(o.qos > 0 ? "accepted msgs/s (acked)" : "accepted msgs/s (sent)", fixed(r.accepted_per_s, 0));
    if (r.latency) {
      t.row("latency p50 / p99 / p999", fixed(r.latency->p50_us, 0) + " / " + fixed(r.latency->p99_us, 0) + " / " +
                                            fixed(r.latency->p999_us, 0) + " us");
      t.row("latency mean / max", fixed(r.latency->mean_us, 0) + " / " + fixed(r.latency->max_us, 0) + " us");
    } else {
      t.row("latency p50 / p99 / p999", "n/a (nothing delivered)");
    }
    t.row("delivered / expected", std::to_string(r.delivered) + " / " + std::to_string(r.expected));
    t.row("sent / accepted", std::to_string(r.sent) + " / " + std::to_string(r.accepted));
    if (r.rejected) t.row("rejected", std::to_string(r.rejected));
    if (r.duplicates) t.row("duplicates", std::to_string(r.duplicates));
  }
  if (r.retained_publish_s) t.row("retained publish time", fixed(*r.retained_publish_s, 3) + " s");
  if (r.retained_receive_s) t.row("retained receive time", fixed(*r.retained_receive_s, 3) + " s");
  if (r.connections_ok) {
    t.row("connections ok / failed", std::to_string(*r.connections_ok) + " / " + std::to_string(*r.connections_failed));
    t.row("connect time", fixed(r.connect_seconds.value_or(0), 2) + " s");
    t.row("connects/s", fixed(r.connect_per_s.value_or(0), 0));
    if (r.rss_per_connection_kb)
      t.row("broker RSS / connection", fixed(*r.rss_per_connection_kb, 1) + " KB (anon " +
                                           fixed(r.anon_per_connection_kb.value_or(0), 1) + " KB)");
  }
  if (r.broker_rss_mb) {
    t.row("broker RSS start / end", fixed(r.broker_rss_start_mb.value_or(0), 1) + " / " + fixed(*r.broker_rss_mb, 1) +
                                        " MB (anon " + fixed(r.broker_rss_anon_mb.value_or(0), 1) + ", peak " +
                                        fixed(r.broker_rss_peak_mb.value_or(0), 1) + ")");
    t.row("broker CPU", fixed(r.broker_cpu_pct.value_or(0), 0) + " %");
  }
  t.row("bench CPU / RSS", fixed(r.bench_cpu_pct, 0) + " % / " + fixed(r.bench_rss_mb, 1) + " MB");
  t.row("errors", std::to_string(r.errors));
  for (const auto& m : r.error_messages) t.row("  error", m);
  if (!r.fatal.empty()) t.row("FAILED", r.fatal);
}

void print_json(const Report& r, std::ostream& out) {
  const Options& o = r.options;
  using nlohmann::json;
  auto opt = [](const auto& v) -> json { return v ? json(*v) : json(nullptr); };
  json j = {
      {"scenario", to_string(o.scenario)},
      {"host", o.host},
      {"port", o.port},
      {"subscriber_port", o.subscriber_port ? o.subscriber_port : o.port},
      {"protocol", o.protocol == mqtt::ProtocolVersion::v5 ? 5 : 4},
      {"qos", o.qos},
      {"payload", o.payload},
      {"publishers", o.publishers},
      {"subscribers", o.subscribers},
      {"rate", o.rate},
      {"inflight", o.inflight},
      {"threads", o.threads},
      {"duration_s", o.duration_s},
      {"topic_prefix", r.topic_prefix},
      {"broker_pid", o.broker_pid ? json(o.broker_pid) : json(nullptr)},
      {"broker_rss_start_mb", opt(r.broker_rss_start_mb)},
      {"broker_rss_mb", opt(r.broker_rss_mb)},
      {"broker_rss_anon_mb", opt(r.broker_rss_anon_mb)},
      {"broker_rss_peak_mb", opt(r.broker_rss_peak_mb)},
      {"broker_cpu_pct", opt(r.broker_cpu_pct)},
      {"bench_cpu_pct", r.bench_cpu_pct},
      {"bench_rss_mb", r.bench_rss_mb},
      {"errors", r.errors},
      {"error_messages", r.error_messages},
      {"ok", r.fatal.empty()},
      {"measured", r.measured},
  };
  if (!r.fatal.empty()) j["fatal"] = r.fatal;
  if (is_message_scenario(o.scenario)) {
    j["publish_s"] = r.publish_seconds;
    j["sent"] = r.sent;
    j["accepted"] = r.accepted;
    j["rejected"] = r.rejected;
    j["delivered"] = r.delivered;
    j["expected"] = r.expected;
    j["duplicates"] = r.duplicates;
    j["accepted_per_s"] = r.accepted_per_s;
    j["delivered_per_s"] = r.delivered_per_s;
    if (r.latency) {
      j["latency_us"] = {{"p50", r.latency->p50_us},   {"p99", r.latency->p99_us},
                         {"p999", r.latency->p999_us}, {"max", r.latency->max_us},
                         {"mean", r.latency->mean_us}, {"samples", r.latency->samples}};
    } else {
      j["latency_us"] = nullptr;
    }
  }
  if (o.scenario == Scenario::retained) {
    j["topics"] = o.topics;
    j["retained_publish_s"] = opt(r.retained_publish_s);
    j["retained_receive_s"] = opt(r.retained_receive_s);
  }
  if (o.scenario == Scenario::conn_ramp) {
    j["connections"] = o.connections;
    j["connections_ok"] = opt(r.connections_ok);
    j["connections_failed"] = opt(r.connections_failed);
    j["connect_s"] = opt(r.connect_seconds);
    j["connect_per_s"] = opt(r.connect_per_s);
    j["rss_per_connection_kb"] = opt(r.rss_per_connection_kb);
    j["anon_per_connection_kb"] = opt(r.anon_per_connection_kb);
  }
  out << j.dump() << '\n';
}

}  // namespace tidegate::bench
