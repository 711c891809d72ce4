// Ingest::publish_now: QoS 0 publishes applied on the calling worker thread.
#include <doctest/doctest.h>

#include <filesystem>
#include <future>
#include <mutex>
#include <thread>
#include <unistd.h>

#include "cache/queue_cache.hpp"
#include "gateway/pipeline/ingest.hpp"
#include "storeclient/lmdb_store.hpp"

using namespace tidegate;
namespace fs = std::filesystem;

namespace {

struct IngestFixture {
  fs::path dir = fs::temp_directory_path() / ("tidegate-unit-direct-" + std::to_string(::getpid()));
  std::unique_ptr<store::LmdbStore> store;
  std::unique_ptr<cache::QueueCache> cache;
  std::unique_ptr<Ingest> ingest;
  std::mutex lock;
  std::vector<std::pair<QueueEvent, std::thread::id>> events;

  IngestFixture() {
    fs::remove_all(dir);
    store = std::make_unique<store::LmdbStore>(store::StoreOptions{dir.string()});
    cache = std::make_unique<cache::QueueCache>(*store, 64);
    ingest = std::make_unique<Ingest>(*store, *cache);
    ingest->start({[this](std::shared_ptr<const QueueEvents> batch) {
      std::lock_guard guard(lock);
      for (const auto& e : *batch) events.emplace_back(e, std::this_thread::get_id());
    }});
  }
  ~IngestFixture() {
    ingest->stop();
    ingest.reset();
    cache.reset();
    store.reset();
    fs::remove_all(dir);
  }
  std::string subscribe(const std::string& filter) {
    std::promise<std::string> queue;
    ingest->subscribe("c1", filter, false, [&](Ingest::SubscribeResult r) { queue.set_value(r.queue); });
    return queue.get_future().get();
  }
  static Ingest::PublishRequest request(std::string topic, std::uint8_t qos, bool retain = false) {
    auto m = std::make_shared<store::Message>();
    m->topic = std::move(topic);
    m->payload = "x";
    m->qos = qos;
    m->retain = retain;
    return {std::move(m), std::nullopt, {}, {}, false};
  }
  // publish_now declines while the ingest thread is still finishing the
  // subscribe's batch: it is a try, so the test tries until it may.
  bool publish_now_when_idle(std::vector<Ingest::PublishRequest>& requests) {
    for (int i = 0; i < 100000; ++i) {
      if (ingest->publish_now(requests)) return true;
      std::this_thread::yield();
    }
    return false;
  }
};

}  // namespace

TEST_CASE("QoS 0 publishes are applied, in order, on the calling thread") {
  IngestFixture f;
  const auto queue = f.subscribe("t/#");
  const auto before = f.ingest->visible_seq();
  std::vector<Ingest::PublishRequest> requests;
  requests.push_back(IngestFixture::request("t/a", 0));
  requests.push_back(IngestFixture::request("t/b", 0));
  REQUIRE(f.publish_now_when_idle(requests));

  // Visible and announced before publish_now returned, by this thread.
  CHECK(f.ingest->visible_seq() == before + 2);
  auto got = f.cache->pull(queue, before, 10);
  REQUIRE(got.size() == 2);
  CHECK(got[0]->topic == "t/a");
  CHECK(got[1]->topic == "t/b");
  CHECK(got[1]->seq == got[0]->seq + 1);
  std::lock_guard guard(f.lock);
  REQUIRE_FALSE(f.events.empty());
  CHECK(f.events.back().first.queue == queue);
  CHECK(f.events.back().first.last_seq == got[1]->seq);
  CHECK(f.events.back().second == std::this_thread::get_id());
  CHECK(f.ingest->stats().published == 2);
}

TEST_CASE("publish_now declines anything durable or retained, and applies none of the batch") {
  IngestFixture f;
  const auto queue = f.subscribe("t/#");
  for (auto [qos, retain] : {std::pair{1, false}, std::pair{0, true}}) {
    // Let the ingest thread go idle first, so only the request can be the reason.
    std::vector<Ingest::PublishRequest> idle_probe;
    idle_probe.push_back(IngestFixture::request("t/probe", 0));
    REQUIRE(f.publish_now_when_idle(idle_probe));
    const auto before = f.ingest->visible_seq();
    std::vector<Ingest::PublishRequest> requests;
    requests.push_back(IngestFixture::request("t/first", 0));
    requests.push_back(IngestFixture::request("t/second", static_cast<std::uint8_t>(qos), retain));
    CHECK_FALSE(f.ingest->publish_now(requests));
    CHECK(f.ingest->visible_seq() == before);
    CHECK(f.cache->pull(queue, before, 10).empty());
  }
}
