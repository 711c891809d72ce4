#include "gateway/ops/sys_topics.hpp"

#include <cmath>
#include <cstdio>

#ifndef TIDEGATE_VERSION
#define TIDEGATE_VERSION "0.0.0"
#endif

namespace tidegate {

SysTopics::SysTopics(BrokerContext& broker, unsigned interval_seconds) : broker_(broker), interval_(interval_seconds) {}

void SysTopics::update(Load& load, std::uint64_t total, double seconds) {
  double per_minute = seconds > 0 ? double(total - load.last) * 60.0 / seconds : 0.0;
  load.last = total;
  constexpr double windows[3] = {60.0, 300.0, 900.0};
  for (int i = 0; i < 3; ++i) {
    double keep = std::exp(-seconds / windows[i]);
    load.rate[i] = load.rate[i] * keep + per_minute * (1.0 - keep);
  }
}

void SysTopics::put(const std::string& topic, const std::string& value) {
  auto m = std::make_shared<store::Message>();
  m->topic = "$SYS/broker/" + topic;
  m->payload = value;
  m->retain = true;
  m->origin_client_id = "$SYS";
  m->created_ms = store::wall_clock_ms();
  broker_.ingest.publish(std::move(m), std::nullopt, {});
}

void SysTopics::publish() {
  auto now = std::chrono::steady_clock::now();
  double seconds = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  const auto& m = broker_.metrics;
  auto load = [](const auto& c) { return static_cast<std::uint64_t>(c.load(std::memory_order_relaxed)); };
  update(received_, load(m.publish_received), seconds);
  update(sent_, load(m.publish_sent), seconds);
  update(bytes_received_, load(m.bytes_received), seconds);
  update(bytes_sent_, load(m.bytes_sent), seconds);

  auto uptime = std::chrono::duration_cast<std::chrono::seconds>(now - started_).count();
  put("version", std::string("tidegate ") + TIDEGATE_VERSION);
  put("uptime", std::to_string(uptime) + " seconds");
  put("clients/connected", std::to_string(broker_.registry.online()));
  put("clients/disconnected", std::to_string(broker_.registry.parked()));
  put("messages/received", std::to_string(received_.last));
  put("messages/sent", std::to_string(sent_.last));
  put("bytes/received", std::to_string(bytes_received_.last));
  put("bytes/sent", std::to_string(bytes_sent_.last));
  put("retained messages/count", std::to_string(broker_.ingest.stats().retained));
  const char* names[3] = {"1min", "5min", "15min"};
  auto rate = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f", v);
    return std::string(b);
  };
  for (int i = 0; i < 3; ++i) {
    put(std::string("load/messages/received/") + names[i], rate(received_.rate[i]));
    put(std::string("load/messages/sent/") + names[i], rate(sent_.rate[i]));
    put(std::string("load/bytes/received/") + names[i], rate(bytes_received_.rate[i]));
    put(std::string("load/bytes/sent/") + names[i], rate(bytes_sent_.rate[i]));
  }
}

}  // namespace tidegate
