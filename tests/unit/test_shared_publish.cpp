// A PUBLISH encoded once and shared by deliveries (gateway/pipeline/shared_publish.hpp,
// mqtt::append_patched_publish): byte for byte what a per-delivery encoding
// gives, for every variant that is shared; and the memory of the shared bytes
// counted and bounded (store::EncodingBudget, max_shared_publish_bytes).
#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gateway/codec/encoder.hpp"
#include "gateway/pipeline/message_builder.hpp"
#include "gateway/pipeline/shared_publish.hpp"

namespace {

using namespace tidegate;
using mqtt::ProtocolVersion;

// For the tests of the bytes: a budget that never refuses.
const auto no_limit = std::make_shared<store::EncodingBudget>(SIZE_MAX);

std::string per_delivery(const store::Message& m, ProtocolVersion v, std::uint8_t qos, bool retain, bool dup,
                         std::uint16_t packet_id) {
  // What SessionDelivery::send_message encodes without sharing (v5: properties from the message).
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
  shared_publish(m, v == ProtocolVersion::v5, qos > 0, no_limit);  // the first delivery of a message may encode its own
  const auto* e = shared_publish(m, v == ProtocolVersion::v5, qos > 0, no_limit);
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
  CHECK(shared_publish(m, false, false, no_limit) == nullptr);  // delivered once: nothing to share yet
  const auto* v4q0 = shared_publish(m, false, false, no_limit);
  const auto* v4q1 = shared_publish(m, false, true, no_limit);
  const auto* v5q0 = shared_publish(m, true, false, no_limit);
  const auto* v5q1 = shared_publish(m, true, true, no_limit);
  CHECK(shared_publish(m, false, false, no_limit) == v4q0);
  CHECK(shared_publish(m, true, true, no_limit) == v5q1);
  CHECK(v4q0 != v4q1);
  CHECK(v5q0 != v5q1);
  CHECK(v4q0->packet_id_at == 0);
  CHECK(v4q1->packet_id_at == 1 + 1 + 2 + m.topic.size());
  // A copy is another message (the ingest thread copies one to re-sequence it): its own slots.
  store::Message copy = m;
  CHECK(copy.encoded.get(0) == nullptr);
  CHECK(shared_publish(copy, false, false, no_limit) == nullptr);
  CHECK(shared_publish(copy, false, false, no_limit) != v4q0);
}

TEST_CASE("shared publish: not shared where the bytes would differ") {
  store::Message m = sample(64, false);
  m.expires_at_ms = store::wall_clock_ms() + 60'000;
  for (int delivery = 0; delivery < 3; ++delivery) {
    CHECK(shared_publish(m, true, false, no_limit) == nullptr);  // MQTT 5 sends what remains of the interval
    CHECK(shared_publish(m, true, true, no_limit) == nullptr);
  }
  shared_publish(m, false, false, no_limit);
  CHECK(shared_publish(m, false, false, no_limit) != nullptr);  // 3.1.1 carries no interval
  const store::Message large = sample(kMaxSharedPublishBytes + 1, false);
  for (int delivery = 0; delivery < 3; ++delivery) CHECK(shared_publish(large, false, false, no_limit) == nullptr);
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
        got[t] = shared_publish(*m, true, false, no_limit);
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
  shared_publish(m, false, false, no_limit);
  const auto* q0 = shared_publish(m, false, false, no_limit);
  std::string out;
  CHECK_THROWS_AS(mqtt::append_patched_publish(q0->bytes, q0->packet_id_at, 1, false, false, 1, out),
                  std::invalid_argument);
}

TEST_CASE("shared publish: the bytes are charged to the budget and given back with the message") {
  auto budget = std::make_shared<store::EncodingBudget>(1 << 20);
  auto m = std::make_shared<const store::Message>(sample(64, true));
  shared_publish(*m, false, false, budget);  // first delivery: nothing built, nothing charged
  CHECK(budget->bytes() == 0);
  const auto* v4q0 = shared_publish(*m, false, false, budget);
  REQUIRE(v4q0 != nullptr);
  const std::size_t one = budget->bytes();
  CHECK(one >= v4q0->bytes.size());  // at least the packet, plus its bookkeeping
  CHECK(one == v4q0->charged);
  shared_publish(*m, false, false, budget);  // built already: not charged again
  CHECK(budget->bytes() == one);
  const auto* v5q1 = shared_publish(*m, true, true, budget);
  REQUIRE(v5q1 != nullptr);
  CHECK(budget->bytes() == one + v5q1->charged);
  // Freed with the last MessagePtr (the queue cache, a retained topic or an
  // inflight entry dropping it): the budget is back where it was.
  m.reset();
  CHECK(budget->bytes() == 0);
  CHECK(budget->refused() == 0);
}

TEST_CASE("shared publish: at the limit a delivery encodes its own bytes, counted") {
  const store::Message probe = sample(64, false);
  shared_publish(probe, false, false, no_limit);
  const std::size_t one = shared_publish(probe, false, false, no_limit)->charged;

  // Room for exactly two encodings.
  auto budget = std::make_shared<store::EncodingBudget>(2 * one);
  std::vector<std::shared_ptr<const store::Message>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_shared<const store::Message>(sample(64, false)));
    shared_publish(*held.back(), false, false, budget);
  }
  CHECK(shared_publish(*held[0], false, false, budget) != nullptr);
  CHECK(shared_publish(*held[1], false, false, budget) != nullptr);
  CHECK(budget->bytes() == 2 * one);
  // The third would pass the limit: null (the caller encodes per delivery),
  // for each of its deliveries, each counted; what is held stays within the limit.
  CHECK(shared_publish(*held[2], false, false, budget) == nullptr);
  CHECK(shared_publish(*held[2], false, false, budget) == nullptr);
  CHECK(budget->refused() == 2);
  CHECK(budget->bytes() == 2 * one);
  // Built slots are still served at the limit: their bytes are held already.
  CHECK(shared_publish(*held[0], false, false, budget) != nullptr);
  // A message freed makes room for the next one.
  held.erase(held.begin());
  CHECK(budget->bytes() == one);
  CHECK(shared_publish(*held[1], false, false, budget) != nullptr);
  CHECK(budget->bytes() == 2 * one);

  // 0: nothing is shared.
  budget->set_limit(0);
  auto m = std::make_shared<const store::Message>(sample(64, false));
  shared_publish(*m, false, false, budget);
  CHECK(shared_publish(*m, false, false, budget) == nullptr);
}

TEST_CASE("shared publish: the copy that loses a race gives its charge back") {
  // Several workers build the same slot at once: all but the winner free their
  // copy, and the budget holds exactly the winner's bytes.
  auto budget = std::make_shared<store::EncodingBudget>(1 << 20);
  for (int round = 0; round < 50; ++round) {
    auto m = std::make_shared<const store::Message>(sample(64, true));
    shared_publish(*m, true, false, budget);  // the first delivery
    constexpr int kThreads = 4;
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    std::vector<const store::EncodedPublish*> got(kThreads);
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        ready.fetch_add(1);
        while (ready.load() < kThreads) {
        }
        got[t] = shared_publish(*m, true, false, budget);
      });
    for (auto& t : threads) t.join();
    REQUIRE(got[0] != nullptr);
    CHECK(budget->bytes() == got[0]->charged);
    m.reset();
    CHECK(budget->bytes() == 0);
  }
}
