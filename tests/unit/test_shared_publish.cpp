// A PUBLISH encoded once and shared by deliveries (gateway/shared_publish.hpp,
// mqtt::append_patched_publish): byte for byte what a per-delivery encoding
// gives, for every variant that is shared.
#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gateway/codec/encoder.hpp"
#include "gateway/message_builder.hpp"
#include "gateway/shared_publish.hpp"

namespace {

using namespace tidegate;
using mqtt::ProtocolVersion;

std::string per_delivery(const store::Message& m, ProtocolVersion v, std::uint8_t qos, bool retain, bool dup,
                         std::uint16_t packet_id) {
  // What Connection::send_message encodes without sharing (v5: properties from the message).
  mqtt::Properties props;
  if (v == ProtocolVersion::v5 && has_forwarded_properties(m))
    publish_properties_from_message(m, store::wall_clock_ms(), props);
  mqtt::PublishView view{m.topic, m.payload, qos, retain, dup, packet_id, v == ProtocolVersion::v5 ? &props : nullptr};
  std::string out;
  mqtt::encode(view, v, out);
  return out;
}

std::string shared(const store::Message& m, ProtocolVersion v, std::uint8_t qos, bool retain, bool dup,
                   std::uint16_t packet_id) {
  shared_publish(m, v == ProtocolVersion::v5, qos > 0);  // the first delivery of a message may encode its own
  const auto* e = shared_publish(m, v == ProtocolVersion::v5, qos > 0);
  REQUIRE(e != nullptr);
  std::string out = "prefix";  // appended after what the output holds already
  mqtt::append_patched_publish(e->bytes, e->packet_id_at, qos, retain, dup, packet_id, out);
  CHECK(out.compare(0, 6, "prefix") == 0);
  return out.substr(6);
}

store::Message sample(std::size_t payload_size, bool v5_properties) {
  store::Message m;
  m.seq = 7;
  m.topic = "sensors/fan/out";
  m.payload.assign(payload_size, 'x');
  for (std::size_t i = 0; i < payload_size; i += 13) m.payload[i] = static_cast<char>(i);
  m.qos = 2;
  if (v5_properties) {
    m.payload_format_indicator = 1;
    m.content_type = "text/plain";
    m.response_topic = "reply/here";
    m.correlation_data = std::string("\x00\x01\x02", 3);
    m.user_properties = {{"k", "v"}, {"k", "w"}};
  }
  return m;
}

}  // namespace

TEST_CASE("shared publish: identical to the per-delivery encoding for every shared variant") {
  // 64 bytes (the fan-out benchmark), and sizes whose remaining length takes 1, 2 and 2 bytes.
  for (std::size_t size : {0u, 64u, 120u, 4000u}) {
    for (bool props : {false, true}) {
      const store::Message m = sample(size, props);
      for (ProtocolVersion v : {ProtocolVersion::v31, ProtocolVersion::v311, ProtocolVersion::v5}) {
        for (std::uint8_t qos : {0, 1, 2}) {
          for (bool retain : {false, true}) {
            for (bool dup : {false, true}) {
              for (std::uint16_t id : {1, 0x00ff, 0x1234, 0xff00, 0xffff}) {
                if (qos == 0 && (dup || id != 1)) continue;
                const std::uint16_t packet_id = qos ? id : 0;
                CAPTURE(size);
                CAPTURE(props);
                CAPTURE(static_cast<int>(v));
                CAPTURE(static_cast<int>(qos));
                CAPTURE(retain);
                CAPTURE(dup);
                CAPTURE(packet_id);
                CHECK(shared(m, v, qos, retain, dup, packet_id) == per_delivery(m, v, qos, retain, dup, packet_id));
              }
            }
          }
        }
      }
    }
  }
}

TEST_CASE("shared publish: one encoding per variant, built once, from the second delivery on") {
  const store::Message m = sample(64, true);
  CHECK(shared_publish(m, false, false) == nullptr);  // delivered once: nothing to share yet
  const auto* v4q0 = shared_publish(m, false, false);
  const auto* v4q1 = shared_publish(m, false, true);
  const auto* v5q0 = shared_publish(m, true, false);
  const auto* v5q1 = shared_publish(m, true, true);
  CHECK(shared_publish(m, false, false) == v4q0);
  CHECK(shared_publish(m, true, true) == v5q1);
  CHECK(v4q0 != v4q1);
  CHECK(v5q0 != v5q1);
  CHECK(v4q0->packet_id_at == 0);
  CHECK(v4q1->packet_id_at == 1 + 1 + 2 + m.topic.size());
  // A copy is another message (the ingest thread copies one to re-sequence it): its own slots.
  store::Message copy = m;
  CHECK(copy.encoded.get(0) == nullptr);
  CHECK(shared_publish(copy, false, false) == nullptr);
  CHECK(shared_publish(copy, false, false) != v4q0);
}

TEST_CASE("shared publish: not shared where the bytes would differ") {
  store::Message m = sample(64, false);
  m.expires_at_ms = store::wall_clock_ms() + 60'000;
  for (int delivery = 0; delivery < 3; ++delivery) {
    CHECK(shared_publish(m, true, false) == nullptr);  // MQTT 5 sends what remains of the interval
    CHECK(shared_publish(m, true, true) == nullptr);
  }
  shared_publish(m, false, false);
  CHECK(shared_publish(m, false, false) != nullptr);  // 3.1.1 carries no interval
  const store::Message large = sample(kMaxSharedPublishBytes + 1, false);
  for (int delivery = 0; delivery < 3; ++delivery) CHECK(shared_publish(large, false, false) == nullptr);
}

TEST_CASE("shared publish: built concurrently by several workers, one encoding wins") {
  // Several threads race for the same empty slot; one is the first delivery
  // (null: encodes its own), every other gets the same published bytes (the
  // losers of the race free theirs). Run under TSan to check the orders.
  for (int round = 0; round < 50; ++round) {
    auto m = std::make_shared<const store::Message>(sample(64, true));
    constexpr int kThreads = 4;
    std::vector<const store::EncodedPublish*> got(kThreads);
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        ready.fetch_add(1);
        while (ready.load() < kThreads) {
        }
        got[t] = shared_publish(*m, true, false);
      });
    for (auto& t : threads) t.join();
    const store::EncodedPublish* winner = nullptr;
    int first = 0;
    for (int t = 0; t < kThreads; ++t) {
      if (!got[t]) {
        ++first;
        continue;
      }
      if (!winner) winner = got[t];
      CHECK(got[t] == winner);
    }
    CHECK(first == 1);
    REQUIRE(winner != nullptr);
    CHECK(winner->bytes == per_delivery(*m, ProtocolVersion::v5, 0, false, false, 0));
  }
}

TEST_CASE("append_patched_publish: refuses an encoding of the other QoS class") {
  const store::Message m = sample(8, false);
  shared_publish(m, false, false);
  const auto* q0 = shared_publish(m, false, false);
  std::string out;
  CHECK_THROWS_AS(mqtt::append_patched_publish(q0->bytes, q0->packet_id_at, 1, false, false, 1, out),
                  std::invalid_argument);
}
