#include "tools/bench/scenarios.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/ip/address_v4.hpp>
#include <cstdio>
#include <random>
#include <thread>

#include "tools/bench/fleet.hpp"
#include "tools/bench/io_threads.hpp"
#include "tools/bench/payload_stamp.hpp"
#include "tools/bench/rss.hpp"

namespace tidegate::bench {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Bounds of the phases around the measured one.
constexpr auto connect_phase_limit = 60s;
constexpr auto subscribe_phase_limit = 30s;
constexpr auto disconnect_phase_limit = 10s;
// After publishing stops: wait for acks and deliveries still on their way,
// until nothing moved for drain_quiet, at most drain_limit.
constexpr auto drain_quiet = 1s;
constexpr auto drain_limit = 5s;
constexpr auto poll_interval = 10ms;
// conn-ramp: connections per loopback source address (ephemeral ports and
// TIME_WAIT of earlier runs stay far from the ~28k limit of each address).
constexpr unsigned connections_per_source = 1000;
// conn-ramp: let the broker finish its per-connection work before RSS is read.
constexpr auto ramp_settle = 500ms;

double seconds_between(int64_t from_ns, int64_t to_ns) { return static_cast<double>(to_ns - from_ns) / 1e9; }
double kb_to_mb(uint64_t kb) { return static_cast<double>(kb) / 1024.0; }

std::string run_tag() {
  std::random_device rd;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%d-%04x", static_cast<int>(getpid()), static_cast<unsigned>(rd() & 0xFFFF));
  return buf;
}

// The broker's address: a literal, else the first IPv4 answer of the resolver.
std::optional<tcp::endpoint> resolve(const Options& o, std::string& why) {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(o.host, ec);
  if (!ec) return tcp::endpoint(address, o.port);
  asio::io_context io;
  tcp::resolver resolver(io);
  const auto results = resolver.resolve(tcp::v4(), o.host, std::to_string(o.port), ec);
  if (ec || results.empty()) {
    why = "cannot resolve '" + o.host + "': " + (ec ? ec.message() : std::string("no address"));
    return std::nullopt;
  }
  return results.begin()->endpoint();
}

// Where subscribers connect: --subscriber-port on the broker's address, or the broker.
tcp::endpoint subscriber_endpoint(const Options& o, const tcp::endpoint& broker) {
  return o.subscriber_port ? tcp::endpoint(broker.address(), o.subscriber_port) : broker;
}

// Broker and generator samples around the measured phase.
class Monitor {
 public:
  explicit Monitor(int broker_pid) : pid_(broker_pid) {}
  void begin() {
    if (pid_) broker_begin_ = sample_process(pid_);
    self_begin_ = sample_process(0);
  }
  void end() {
    if (pid_) broker_end_ = sample_process(pid_);
    self_end_ = sample_process(0);
  }
  // Broker RSS before any client connected.
  void baseline() {
    if (pid_) broker_baseline_ = sample_process(pid_);
  }
  void fill(Report& r) const {
    if (broker_baseline_) r.broker_rss_start_mb = kb_to_mb(broker_baseline_->rss_kb);
    if (broker_end_) {
      r.broker_rss_mb = kb_to_mb(broker_end_->rss_kb);
      r.broker_rss_anon_mb = kb_to_mb(broker_end_->anon_kb);
      r.broker_rss_peak_mb = kb_to_mb(broker_end_->hwm_kb);
      if (broker_begin_) r.broker_cpu_pct = cpu_percent(*broker_begin_, *broker_end_);
    }
    if (self_begin_ && self_end_) {
      r.bench_cpu_pct = cpu_percent(*self_begin_, *self_end_);
      r.bench_rss_mb = kb_to_mb(self_end_->rss_kb);
    }
  }
  const std::optional<ProcessSample>& broker_baseline() const { return broker_baseline_; }
  const std::optional<ProcessSample>& broker_end() const { return broker_end_; }

 private:
  int pid_;
  std::optional<ProcessSample> broker_baseline_, broker_begin_, broker_end_, self_begin_, self_end_;
};

// Which clients a message scenario opens and what each does.
struct Shape {
  std::vector<std::string> subscriber_filters;  // one per subscriber
  std::vector<std::string> publisher_topics;    // one per publisher
  uint64_t receivers_per_message = 1;
};

Shape shape_of(const Options& o, const std::string& prefix) {
  Shape s;
  switch (o.scenario) {
    case Scenario::fan_out: {
      const std::string topic = prefix + "/fan-out";
      s.subscriber_filters.assign(o.subscribers, topic);
      s.publisher_topics.assign(o.publishers, topic);
      s.receivers_per_message = o.subscribers;
      break;
    }
    case Scenario::fan_in:
      s.subscriber_filters.assign(o.subscribers, prefix + "/in/+");
      for (unsigned i = 0; i < o.publishers; ++i) s.publisher_topics.push_back(prefix + "/in/" + std::to_string(i));
      s.receivers_per_message = o.subscribers;
      break;
    case Scenario::p2p:
      for (unsigned i = 0; i < o.publishers; ++i) {
        s.subscriber_filters.push_back(prefix + "/p2p/" + std::to_string(i));
        s.publisher_topics.push_back(prefix + "/p2p/" + std::to_string(i));
      }
      break;
    case Scenario::shared:
      s.subscriber_filters.assign(o.subscribers, "$share/g/" + prefix + "/shared");
      s.publisher_topics.assign(o.publishers, prefix + "/shared");
      break;
    default:
      break;
  }
  return s;
}

LatencySummary summarize(const LatencyHistogram& h) {
  LatencySummary s;
  s.samples = h.count();
  s.p50_us = static_cast<double>(h.percentile(0.50)) / 1e3;
  s.p99_us = static_cast<double>(h.percentile(0.99)) / 1e3;
  s.p999_us = static_cast<double>(h.percentile(0.999)) / 1e3;
  s.max_us = static_cast<double>(h.max()) / 1e3;
  s.mean_us = h.mean() / 1e3;
  return s;
}

// Everything a run holds; destroyed in reverse order: clients before threads.
class Run {
 public:
  explicit Run(const Options& o)
      : options(o), io(o.threads), fleet(io), monitor(o.broker_pid), tag(run_tag()) {
    prefix = o.topic_prefix.empty() ? "tgb/" + tag : o.topic_prefix;
    if (o.tls) {
      // One context for every client: its session cache and settings are shared.
      tls = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
      if (o.ca_file.empty()) {
        tls->set_verify_mode(asio::ssl::verify_none);
      } else {
        tls->set_verify_mode(asio::ssl::verify_peer);
        tls->load_verify_file(o.ca_file);  // readable (checked by parse_options); not PEM: throws
      }
    }
    report.options = o;
    report.topic_prefix = prefix;
  }
  ~Run() { io.stop(0ms); }

  std::shared_ptr<asio::ssl::context> tls;  // --tls

  ClientConfig client_config(const tcp::endpoint& broker, const std::string& role, std::size_t i) const {
    ClientConfig c;
    c.broker = broker;
    c.client_id = "tgb-" + tag + "-" + role + std::to_string(i);
    c.version = options.protocol;
    c.tls = tls;
    c.nagle = options.nagle;
    return c;
  }

  void fatal(int code, std::string message) {
    if (report.fatal.empty()) {
      report.fatal = std::move(message);
      report.exit_code = code;
    }
  }

  // Orderly close of every client, then the io threads; fills the counters.
  Totals finish(const std::vector<Fleet::Client>& clients) {
    fleet.run(clients, [](BenchClient& c, std::size_t, BenchClient::Done done) { c.disconnect(std::move(done)); },
              disconnect_phase_limit);
    io.stop();
    Totals t = final_totals(io.all_stats());
    report.errors += t.errors;
    report.error_messages.insert(report.error_messages.end(), t.error_messages.begin(), t.error_messages.end());
    return t;
  }

  // Waits for deliveries and acks in flight: until `settled` holds, nothing
  // moved for drain_quiet, or `limit` passes.
  template <typename Settled>
  void drain(Settled settled, Clock::time_point limit) {
    uint64_t last_delivered = UINT64_MAX, last_accepted = UINT64_MAX;
    auto last_progress = Clock::now();
    for (;;) {
      const Totals t = poll_totals(io.all_stats());
      if (settled(t)) return;
      const auto now = Clock::now();
      if (t.delivered != last_delivered || t.accepted != last_accepted) {
        last_delivered = t.delivered;
        last_accepted = t.accepted;
        last_progress = now;
      }
      if (now - last_progress > drain_quiet || now > limit) return;
      std::this_thread::sleep_for(poll_interval);
    }
  }

  const Options& options;
  IoThreads io;
  Fleet fleet;
  Monitor monitor;
  std::string tag, prefix;
  Report report;
};

std::string connect_failure(const PhaseResult& r) {
  return "cannot connect (" + std::to_string(r.ok) + " of " + std::to_string(r.total) + " connected): " +
         r.first_error;
}

Fleet::Op subscribe_op(std::vector<std::string> filters, uint8_t qos, LatencyOrigin origin) {
  return [filters = std::move(filters), qos, origin](BenchClient& c, std::size_t i, BenchClient::Done done) {
    c.subscribe({filters[i]}, qos, origin, std::move(done));
  };
}

// ---------------------------------------------------------------- fan-out, fan-in, p2p, shared

void run_messages(Run& run, const tcp::endpoint& broker) {
  const Options& o = run.options;
  const Shape shape = shape_of(o, run.prefix);
  std::vector<Fleet::Client> subs, pubs, all;
  const tcp::endpoint sub_broker = subscriber_endpoint(o, broker);
  for (std::size_t i = 0; i < shape.subscriber_filters.size(); ++i)
    subs.push_back(run.fleet.add(run.client_config(sub_broker, "s", i)));
  for (std::size_t i = 0; i < shape.publisher_topics.size(); ++i)
    pubs.push_back(run.fleet.add(run.client_config(broker, "p", i)));
  all = subs;
  all.insert(all.end(), pubs.begin(), pubs.end());

  run.monitor.baseline();
  run.io.start();
  const PhaseResult connected = run.fleet.connect_all(all, o.connect_concurrency, connect_phase_limit);
  if (!connected.complete()) {
    run.fatal(1, connect_failure(connected));
    run.finish(all);
    return;
  }
  const PhaseResult subscribed = run.fleet.run(
      subs, subscribe_op(shape.subscriber_filters, o.qos, LatencyOrigin::payload_timestamp), subscribe_phase_limit);
  if (!subscribed.complete()) {
    run.fatal(1, "subscribe failed: " + subscribed.first_error);
    run.finish(all);
    return;
  }

  run.monitor.begin();
  run.report.measured = true;
  const int64_t start_ns = steady_ns();
  const auto start = Clock::now();
  const double rate_each = o.rate / static_cast<double>(pubs.size());
  auto publishing = run.fleet.start(pubs, [&](BenchClient& c, std::size_t i, BenchClient::Done done) {
    PublishPlan plan;
    plan.topic = shape.publisher_topics[i];
    plan.qos = o.qos;
    plan.payload_size = o.payload;
    plan.window = o.inflight;
    plan.rate = rate_each;
    c.start_publishing(std::move(plan), std::move(done));
  });
  std::this_thread::sleep_until(start + std::chrono::duration<double>(o.duration_s));
  run.monitor.end();
  run.fleet.post(pubs, [](BenchClient& c) { c.stop_publishing(); });
  run.report.publish_seconds = o.duration_s;

  const uint64_t receivers = shape.receivers_per_message;
  run.drain(
      [&](const Totals& t) { return publishing->remaining() == 0 && t.delivered >= t.accepted * receivers; },
      Clock::now() + drain_limit);

  const Totals t = run.finish(all);
  Report& r = run.report;
  r.sent = t.sent;
  r.accepted = t.accepted;
  r.rejected = t.rejected;
  r.delivered = t.delivered;
  r.expected = t.accepted * receivers;
  r.duplicates = t.duplicates;
  if (t.last_accept_ns > start_ns) r.accepted_per_s = static_cast<double>(t.accepted) / seconds_between(start_ns, t.last_accept_ns);
  if (t.last_delivery_ns > start_ns)
    r.delivered_per_s = static_cast<double>(t.delivered) / seconds_between(start_ns, t.last_delivery_ns);
  if (t.latency.count() > 0) r.latency = summarize(t.latency);
}

// ---------------------------------------------------------------- retained

// Publisher i of `publishers` owns topics [first(i), first(i + 1)) of
// o.topics; `clearing` sends the empty messages that delete them again.
PublishPlan retained_plan(const Options& o, const std::string& base, unsigned publishers, std::size_t i,
                          bool clearing) {
  auto first = [&](std::size_t n) { return uint64_t{o.topics} * n / publishers; };
  PublishPlan plan;
  plan.topic = base;
  plan.numbered_topics = true;
  plan.first_index = first(i);
  plan.count = first(i + 1) - first(i);
  plan.qos = o.qos;
  plan.retain = true;
  plan.payload_size = clearing ? 0 : o.payload;  // an empty retained message deletes the topic's
  plan.window = o.inflight;
  plan.rate = clearing ? 0 : o.rate / publishers;
  plan.counted = !clearing;
  return plan;
}

void run_retained(Run& run, const tcp::endpoint& broker) {
  const Options& o = run.options;
  const auto phase_limit = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s));
  std::vector<Fleet::Client> subs, pubs, all;
  const unsigned publishers = std::min(o.publishers, o.topics);
  const tcp::endpoint sub_broker = subscriber_endpoint(o, broker);
  for (unsigned i = 0; i < o.subscribers; ++i) subs.push_back(run.fleet.add(run.client_config(sub_broker, "s", i)));
  for (unsigned i = 0; i < publishers; ++i) pubs.push_back(run.fleet.add(run.client_config(broker, "p", i)));
  all = subs;
  all.insert(all.end(), pubs.begin(), pubs.end());
  const std::string base = run.prefix + "/r";

  auto plan_for = [&](std::size_t i, bool clearing) { return retained_plan(o, base, publishers, i, clearing); };

  run.monitor.baseline();
  run.io.start();
  const PhaseResult connected = run.fleet.connect_all(all, o.connect_concurrency, connect_phase_limit);
  if (!connected.complete()) {
    run.fatal(1, connect_failure(connected));
    run.finish(all);
    return;
  }

  run.monitor.begin();
  run.report.measured = true;
  const int64_t publish_start_ns = steady_ns();
  const PhaseResult published = run.fleet.run(
      pubs,
      [&](BenchClient& c, std::size_t i, BenchClient::Done done) { c.start_publishing(plan_for(i, false), std::move(done)); },
      phase_limit);
  run.fleet.post(pubs, [](BenchClient& c) { c.stop_publishing(); });
  Report& r = run.report;
  r.publish_seconds = published.seconds;
  if (!published.complete()) r.error_messages.push_back("retained publishing incomplete: " + published.first_error);

  const uint64_t accepted = poll_totals(run.io.all_stats()).accepted;
  const int64_t subscribe_ns = steady_ns();
  const PhaseResult subscribed = run.fleet.run(
      subs, subscribe_op(std::vector<std::string>(subs.size(), base + "/#"), o.qos, LatencyOrigin::subscribe_time),
      subscribe_phase_limit);
  if (!subscribed.complete()) {
    run.fatal(1, "subscribe failed: " + subscribed.first_error);
  } else {
    const uint64_t expected = accepted * subs.size();
    run.drain([&](const Totals& t) { return t.delivered >= expected; }, Clock::now() + phase_limit);
  }
  run.monitor.end();

  // Subscribers leave first so the clearing messages are not delivered.
  run.fleet.run(subs, [](BenchClient& c, std::size_t, BenchClient::Done done) { c.disconnect(std::move(done)); },
                disconnect_phase_limit);
  run.fleet.run(
      pubs,
      [&](BenchClient& c, std::size_t i, BenchClient::Done done) { c.start_publishing(plan_for(i, true), std::move(done)); },
      std::max<Clock::duration>(phase_limit, 5s));

  const Totals t = run.finish(all);
  r.sent = t.sent;
  r.accepted = t.accepted;
  r.rejected = t.rejected;
  r.delivered = t.delivered;
  r.expected = accepted * subs.size();
  r.duplicates = t.duplicates;
  if (t.last_accept_ns > publish_start_ns) {
    r.retained_publish_s = seconds_between(publish_start_ns, t.last_accept_ns);
    r.accepted_per_s = static_cast<double>(t.accepted) / *r.retained_publish_s;
  }
  if (t.last_delivery_ns > subscribe_ns) {
    r.retained_receive_s = seconds_between(subscribe_ns, t.last_delivery_ns);
    r.delivered_per_s = static_cast<double>(t.delivered) / *r.retained_receive_s;
  }
  if (t.latency.count() > 0) r.latency = summarize(t.latency);
}

// ---------------------------------------------------------------- conn-ramp

void run_conn_ramp(Run& run, const tcp::endpoint& broker) {
  const Options& o = run.options;
  // Spread over 127.0.0.1..127.0.0.K when the broker is on loopback, so
  // source ports never run out; elsewhere the kernel picks the source.
  const bool loopback = broker.address().is_v4() && broker.address().to_v4().to_bytes()[0] == 127;
  const unsigned sources = std::min(254u, (o.connections + connections_per_source - 1) / connections_per_source);
  std::vector<Fleet::Client> clients;
  for (unsigned i = 0; i < o.connections; ++i) {
    ClientConfig c = run.client_config(broker, "c", i);
    if (loopback) c.source = asio::ip::address_v4(asio::ip::address_v4::uint_type{0x7F000001u + i % sources});
    clients.push_back(run.fleet.add(std::move(c)));
  }

  run.monitor.baseline();
  run.monitor.begin();
  run.io.start();
  const auto start = Clock::now();
  const PhaseResult connected = run.fleet.connect_all(clients, o.connect_concurrency, connect_phase_limit);
  Report& r = run.report;
  r.measured = true;
  r.connections_ok = connected.ok;
  r.connections_failed = connected.failed + connected.timed_out;
  r.connect_seconds = connected.seconds;
  if (connected.seconds > 0) r.connect_per_s = static_cast<double>(connected.ok) / connected.seconds;
  if (connected.ok == 0) {
    run.fatal(1, connect_failure(connected));
  } else {
    if (!connected.complete()) run.fatal(1, connect_failure(connected));
    std::this_thread::sleep_until(
        std::max(start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s)),
                 Clock::now() + ramp_settle));
  }
  run.monitor.end();
  const auto& before = run.monitor.broker_baseline();
  const auto& after = run.monitor.broker_end();
  if (before && after && connected.ok > 0) {
    const double n = static_cast<double>(connected.ok);
    r.rss_per_connection_kb = (static_cast<double>(after->rss_kb) - static_cast<double>(before->rss_kb)) / n;
    r.anon_per_connection_kb = (static_cast<double>(after->anon_kb) - static_cast<double>(before->anon_kb)) / n;
  }
  run.finish(clients);
}

}  // namespace

Report run_scenario(const Options& o) {
  Run run(o);
  if (o.broker_pid) {
    std::string why;
    if (!sample_process(o.broker_pid, &why)) {
      run.fatal(2, "--broker-pid " + std::to_string(o.broker_pid) + ": " + why);
      return run.report;
    }
  }
  std::string why;
  const auto broker = resolve(o, why);
  if (!broker) {
    run.fatal(1, why);
    return run.report;
  }
  switch (o.scenario) {
    case Scenario::retained: run_retained(run, *broker); break;
    case Scenario::conn_ramp: run_conn_ramp(run, *broker); break;
    default: run_messages(run, *broker); break;
  }
  run.monitor.fill(run.report);
  return run.report;
}

}  // namespace tidegate::bench
