#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "cache/queue_cache.hpp"
#include "storeclient/lmdb_store.hpp"
#include "storeclient/message_codec.hpp"

using namespace tidegate::store;
namespace fs = std::filesystem;

namespace {
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("tidegate-unit-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    fs::remove_all(path);
  }
  ~TempDir() { fs::remove_all(path); }
  static int& counter() {
    static int c = 0;
    return c;
  }
};

MessagePtr make(std::uint64_t seq, std::string topic, std::string payload, std::uint8_t qos = 1) {
  auto m = std::make_shared<Message>();
  m->seq = seq;
  m->topic = std::move(topic);
  m->payload = std::move(payload);
  m->qos = qos;
  return m;
}
}  // namespace

TEST_CASE("message encoding round-trips every field and rejects corruption") {
  Message m;
  m.seq = 42;
  m.topic = "a/b";
  m.payload = std::string("\0bin\xff", 5);
  m.qos = 2;
  m.retain = true;
  m.origin_client_id = "dev1";
  m.created_ms = 1700000000000;
  m.expires_at_ms = 1700000060000;
  m.payload_format_indicator = 1;
  m.content_type = "text/plain";
  m.response_topic = "resp/1";
  m.correlation_data = std::string("\x01\x02", 2);
  m.user_properties = {{"k1", "v1"}, {"k1", "v2"}, {"a", ""}};
  std::string bytes;
  encode_message(m, bytes);
  auto back = decode_message(bytes);
  REQUIRE(back);
  CHECK(back->seq == 42);
  CHECK(back->payload == m.payload);
  CHECK(back->retain);
  CHECK(back->qos == 2);
  CHECK(back->expires_at_ms == m.expires_at_ms);
  CHECK(back->correlation_data == m.correlation_data);
  CHECK(back->user_properties == m.user_properties);
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) CHECK_FALSE(decode_message(bytes.substr(0, cut)));
  CHECK_FALSE(decode_message(bytes + "x"));
}

TEST_CASE("store persists messages, queue index, retained, sessions and offsets across reopen") {
  TempDir dir;
  {
    LmdbStore store({dir.path.string()});
    WriteBatch b;
    b.appends.push_back({make(1, "a/b", "one"), {"a/b", "a/#"}});
    b.appends.push_back({make(2, "a/c", "two"), {"a/#"}});
    b.retained.emplace_back("a/b", make(1, "a/b", "one"));
    b.sessions.emplace_back("dev1", std::string("record"));
    b.offsets.push_back({"dev1", "a/#", 1});
    b.inflight.push_back({"dev1", 7, std::string("rec7")});
    b.inflight.push_back({"dev1", 300, std::string("rec300")});
    b.inflight.push_back({"dev10", 7, std::string("other client")});
    REQUIRE_FALSE(store.commit(b));
  }
  LmdbStore store({dir.path.string()});
  auto q = store.read_queue("a/#", 0, 10);
  REQUIRE(q.size() == 2);
  CHECK(q[0]->payload == "one");
  CHECK(q[1]->payload == "two");
  CHECK(store.read_queue("a/#", 1, 10).size() == 1);
  CHECK(store.read_queue("a/b", 0, 10).size() == 1);
  CHECK(store.read_queue("a/", 0, 10).empty());  // a prefix of a queue name is another queue
  CHECK(store.load_retained().size() == 1);
  CHECK(store.load_sessions().size() == 1);
  CHECK(store.load_offsets("dev1").at("a/#") == 1);
  CHECK(store.max_sequence() == 2);
  auto inflight = store.load_inflight("dev1");
  REQUIRE(inflight.size() == 2);
  CHECK(inflight[0] == std::pair<std::uint16_t, std::string>{7, "rec7"});
  CHECK(inflight[1].first == 300);
  REQUIRE(store.read_message(2));
  CHECK(store.read_message(2)->payload == "two");
  CHECK_FALSE(store.read_message(99));

  WriteBatch drop;
  drop.dropped_queues.push_back("a/#");
  drop.sessions.emplace_back("dev1", std::nullopt);  // ends the session: offsets go too
  drop.retained.emplace_back("a/b", nullptr);
  REQUIRE_FALSE(store.commit(drop));
  CHECK(store.read_queue("a/#", 0, 10).empty());
  CHECK(store.read_queue("a/b", 0, 10).size() == 1);
  CHECK(store.load_offsets("dev1").empty());
  CHECK(store.load_inflight("dev1").empty());
  CHECK(store.load_inflight("dev10").size() == 1);
  CHECK(store.load_retained().empty());
}

TEST_CASE("last_in_queue: the newest entry of one queue, not of its neighbours") {
  TempDir dir;
  LmdbStore store({dir.path.string()});
  CHECK(store.last_in_queue("a") == 0);  // an empty store
  WriteBatch b;
  b.appends.push_back({make(1, "a", "1"), {"a", "a/#"}});
  b.appends.push_back({make(2, "a/x", "2"), {"a/#"}});
  // Keys sort by name length, then name: a, b, ab, a/#.
  b.appends.push_back({make(3, "ab", "3"), {"ab"}});
  b.appends.push_back({make(4, "b", "4"), {"b"}});
  b.appends.push_back({make(300, "a", "5"), {"a"}});  // a sequence above 255: big-endian order
  REQUIRE_FALSE(store.commit(b));
  CHECK(store.last_in_queue("a") == 300);
  CHECK(store.last_in_queue("a/#") == 2);  // the last key of the table
  CHECK(store.last_in_queue("ab") == 3);
  CHECK(store.last_in_queue("b") == 4);
  CHECK(store.last_in_queue("") == 0);      // sorts before every queue
  CHECK(store.last_in_queue("c") == 0);     // between b and ab
  CHECK(store.last_in_queue("zzzz") == 0);  // after every queue
  CHECK(store.last_in_queue("a/") == 0);  // a prefix of a queue name is another queue
  WriteBatch drop;
  drop.dropped_queues.push_back("a");
  REQUIRE_FALSE(store.commit(drop));
  CHECK(store.last_in_queue("a") == 0);
  CHECK(store.last_in_queue("a/#") == 2);

  // Dropped and subscribed again within one group commit: the new entry stays.
  WriteBatch again;
  again.dropped_queues.push_back("b");
  again.appends.push_back({make(301, "b", "6"), {"b"}});
  REQUIRE_FALSE(store.commit(again));
  auto b_entries = store.read_queue("b", 0, 10);
  REQUIRE(b_entries.size() == 1);
  CHECK(b_entries[0]->seq == 301);
}

TEST_CASE("appends out of sequence order are stored too (the ascending fast path falls back)") {
  TempDir dir;
  LmdbStore store({dir.path.string()});
  WriteBatch first;
  first.appends.push_back({make(10, "t", "ten"), {"q", "p"}});  // "p" after "q": out of order within a message
  REQUIRE_FALSE(store.commit(first));
  WriteBatch older;
  older.appends.push_back({make(5, "t", "five"), {"q"}});  // below the newest stored sequence
  older.appends.push_back({make(11, "t", "eleven"), {"q"}});
  REQUIRE_FALSE(store.commit(older));
  auto q = store.read_queue("q", 0, 10);
  REQUIRE(q.size() == 3);
  CHECK(q[0]->seq == 5);
  CHECK(q[0]->payload == "five");
  CHECK(q[1]->seq == 10);
  CHECK(q[2]->seq == 11);
  auto p = store.read_queue("p", 0, 10);
  REQUIRE(p.size() == 1);
  CHECK(p[0]->payload == "ten");
  // Retention removes by message_queues: every index entry goes with its message.
  WriteBatch removal;
  removal.delete_oldest = 3;
  REQUIRE_FALSE(store.commit(removal));
  CHECK(store.read_queue("q", 0, 10).empty());
  CHECK(store.read_queue("p", 0, 10).empty());
}

TEST_CASE("store grows its map instead of failing when full") {
  TempDir dir;
  LmdbStore store({dir.path.string(), Durability::os, std::size_t(1) << 20});
  std::string big(64 * 1024, 'x');
  for (std::uint64_t i = 1; i <= 64; ++i) {  // 4 MiB into a 1 MiB map
    WriteBatch b;
    b.appends.push_back({make(i, "t", big), {"t"}});
    REQUIRE_FALSE(store.commit(b));
  }
  CHECK(store.map_bytes() > (std::size_t(1) << 20));
  CHECK(store.read_queue("t", 0, 100).size() == 64);
}

TEST_CASE("store refuses a data directory of another schema version") {
  TempDir dir;
  { LmdbStore store({dir.path.string()}); }
  {
    // Rewrite the schema version as a future build would.
    MDB_env* env;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 8);
    REQUIRE(mdb_env_open(env, dir.path.c_str(), 0, 0640) == 0);
    MDB_txn* txn;
    mdb_txn_begin(env, nullptr, 0, &txn);
    MDB_dbi meta;
    mdb_dbi_open(txn, "meta", 0, &meta);
    std::string key = "schema_version", value = "999";
    MDB_val k{key.size(), key.data()}, v{value.size(), value.data()};
    mdb_put(txn, meta, &k, &v, 0);
    mdb_txn_commit(txn);
    mdb_env_close(env);
  }
  CHECK_THROWS_AS(LmdbStore({dir.path.string()}), StoreOpenError);
}

TEST_CASE("store refuses a corrupt file with a clear error") {
  TempDir dir;
  fs::create_directories(dir.path);
  std::ofstream(dir.path / "data.mdb") << std::string(8192, 'z');
  try {
    LmdbStore store({dir.path.string()});
    FAIL("opened a corrupt store");
  } catch (const StoreOpenError& e) {
    CHECK(std::string(e.what()).find(dir.path.string()) != std::string::npos);
  }
}

TEST_CASE("queue cache serves its tail and reads older persisted entries through the store") {
  TempDir dir;
  LmdbStore store({dir.path.string()});
  tidegate::cache::QueueCache cache(store, 4);
  cache.create_queue("q", 0);
  WriteBatch b;
  for (std::uint64_t seq = 1; seq <= 10; ++seq) {
    auto m = make(seq, "q", "m" + std::to_string(seq), seq % 2 ? 1 : 0);  // odd ones persisted
    if (m->qos) b.appends.push_back({m, {"q"}});
    cache.append("q", m);
  }
  REQUIRE_FALSE(store.commit(b));
  auto stats = cache.stats();
  CHECK(stats.entries == 4);  // bounded tail: 7..10

  // Tail hit: no store involved, pointers shared.
  auto tail = cache.pull("q", 8, 10);
  REQUIRE(tail.size() == 2);
  CHECK(tail[0]->seq == 9);
  // Older than the tail: persisted entries (odd) from the store, then the tail.
  // Evicted QoS 0 entries (2, 4, 6) exist nowhere else: the reader is told
  // how many it stepped over, exactly once each.
  std::uint64_t skipped = 0, gone_upto = 0;
  auto old = cache.pull("q", 0, 100, &skipped, &gone_upto);
  std::vector<std::uint64_t> seqs;
  for (auto& m : old) seqs.push_back(m->seq);
  CHECK(seqs == std::vector<std::uint64_t>{1, 3, 5});
  CHECK(skipped == 2);
  CHECK(gone_upto == 0);  // stored entries came back: the reader moves as it takes them
  auto rest = cache.pull("q", 5, 100, &skipped, &gone_upto);
  seqs.clear();
  for (auto& m : rest) seqs.push_back(m->seq);
  CHECK(seqs == std::vector<std::uint64_t>{7, 8, 9, 10});
  CHECK(skipped == 3);
  CHECK(gone_upto == 6);  // nothing stored after 5 before the tail: 6 is gone
  cache.pull("q", 8, 100, &skipped);
  CHECK(skipped == 3);  // within the tail nothing is lost
  CHECK(cache.pull("unknown", 0, 10).empty());
}

// A queue "q" with a four-entry cache over a store; append() stores QoS 1/2
// messages first, as the ingest thread does.
struct SmallCache {
  TempDir dir;
  LmdbStore store{{dir.path.string()}};
  tidegate::cache::QueueCache cache{store, 4};
  std::uint64_t seq = 0;
  SmallCache() { cache.create_queue("q", 0); }
  void append(std::uint8_t qos) {
    ++seq;
    auto m = make(seq, "q", "m" + std::to_string(seq), qos);
    if (qos) {
      WriteBatch b;
      b.appends.push_back({m, {"q"}});
      REQUIRE_FALSE(store.commit(b));
    }
    cache.append("q", m);
  }
};

TEST_CASE("queue cache counts exactly what a reader with a mark lost, beyond the eviction marks") {
  SmallCache q;
  auto& cache = q.cache;
  auto& seq = q.seq;
  auto append = [&](std::uint8_t qos) { q.append(qos); };
  append(0);
  append(0);
  tidegate::cache::QueueCache::ReadMark mark;
  std::uint64_t skipped = 0, gone_upto = 0;
  auto first = cache.pull("q", 0, 1, &skipped, &gone_upto, &mark);
  REQUIRE(first.size() == 1);
  CHECK(mark.seq == 1);
  // The reader stalls at 1 while 20,000 QoS 0 messages and one stored QoS 1
  // message pass: far more than the 8,192 eviction marks remember.
  for (int i = 0; i < 10000; ++i) append(0);
  append(1);
  const std::uint64_t stored = seq;
  for (int i = 0; i < 10000; ++i) append(0);
  auto stored_part = cache.pull("q", 1, 100, &skipped, &gone_upto, &mark);
  REQUIRE(stored_part.size() == 1);
  CHECK(stored_part[0]->seq == stored);
  auto rest = cache.pull("q", stored, 100, &skipped, &gone_upto, &mark);
  REQUIRE(rest.size() == 4);  // the cached tail
  // Everything between 1 and the tail was lost but the stored message:
  // 1 (seq 2) + 10,000 + 10,000 - 4 still cached.
  CHECK(skipped == 1 + 10000 + 10000 - 4);
  CHECK(rest.back()->seq == seq);
  CHECK(mark.seq == seq);
  // Without a mark the count is a lower bound: the eviction marks kept
  // (9,996 were lost after the stored message).
  std::uint64_t bounded = 0;
  cache.pull("q", stored, 100, &bounded);
  CHECK(bounded == 8192);
}

TEST_CASE("queue cache: what a reader lost before a stored message that was evicted last is counted") {
  SmallCache q;
  auto& cache = q.cache;
  auto append = [&](std::uint8_t qos) { q.append(qos); };
  append(0);
  tidegate::cache::QueueCache::ReadMark mark;
  std::uint64_t skipped = 0, gone_upto = 0;
  REQUIRE(cache.pull("q", 0, 10, &skipped, &gone_upto, &mark).size() == 1);
  for (int i = 0; i < 10000; ++i) append(0);
  append(1);  // the last one evicted: the tail starts right after it
  for (int i = 0; i < 4; ++i) append(0);
  auto stored = cache.pull("q", 1, 100, &skipped, &gone_upto, &mark);
  REQUIRE(stored.size() == 1);
  auto tail = cache.pull("q", stored[0]->seq, 100, &skipped, &gone_upto, &mark);
  CHECK(tail.size() == 4);
  CHECK(skipped == 10000);
}

TEST_CASE("retention removes the oldest messages with their index entries, by count and by age") {
  TempDir dir;
  LmdbStore store({dir.path.string()});
  WriteBatch b;
  for (std::uint64_t seq = 1; seq <= 10; ++seq) {
    auto m = std::make_shared<Message>();
    m->seq = seq;
    m->topic = "t";
    m->payload = "p";
    m->qos = 1;
    m->created_ms = seq <= 5 ? 1000 : 9000;  // five old, five young
    b.appends.push_back({m, {"q1", "q2"}});
  }
  REQUIRE_FALSE(store.commit(b));
  CHECK(store.usage().messages == 10);

  WriteBatch by_count;
  by_count.delete_oldest = 2;
  REQUIRE_FALSE(store.commit(by_count));
  CHECK(store.last_removed() == 2);
  CHECK(store.retention_floor() == 2);
  CHECK(store.read_queue("q1", 0, 100).front()->seq == 3);
  CHECK(store.read_queue("q2", 0, 100).size() == 8);

  WriteBatch by_age;
  by_age.delete_oldest = 100;
  by_age.delete_created_before_ms = 5000;  // stops at the first young message
  REQUIRE_FALSE(store.commit(by_age));
  CHECK(store.last_removed() == 3);
  CHECK(store.retention_floor() == 5);
  auto usage = store.usage();
  CHECK(usage.messages == 5);
  CHECK(usage.oldest_seq == 6);
  CHECK(usage.oldest_created_ms == 9000);
}

TEST_CASE("retention floor survives a reopen") {
  TempDir dir;
  {
    LmdbStore store({dir.path.string()});
    WriteBatch b;
    b.appends.push_back({make(1, "t", "x"), {"q"}});
    b.appends.push_back({make(2, "t", "y"), {"q"}});
    REQUIRE_FALSE(store.commit(b));
    WriteBatch r;
    r.delete_oldest = 1;
    REQUIRE_FALSE(store.commit(r));
  }
  LmdbStore store({dir.path.string()});
  CHECK(store.retention_floor() == 1);
}

TEST_CASE("a capped store refuses a commit instead of growing past its cap") {
  TempDir dir;
  LmdbStore store({dir.path.string(), Durability::os, std::size_t(1) << 20, std::size_t(1) << 20});
  std::string big(64 * 1024, 'x');
  std::error_code ec;
  std::uint64_t seq = 0;
  while (!ec && seq < 100) {
    WriteBatch b;
    b.appends.push_back({make(++seq, "t", big), {"t"}});
    ec = store.commit(b);
  }
  REQUIRE(ec);
  CHECK(ec.value() == MDB_MAP_FULL);
  CHECK(store.map_bytes() == (std::size_t(1) << 20));
  // Everything committed before the refusal is still there.
  CHECK(store.read_queue("t", 0, 200).size() == seq - 1);
}

TEST_CASE("first_sequence_since finds the first message that arrived at or after a time, across gaps") {
  TempDir dir;
  LmdbStore store(StoreOptions{dir.path.string()});
  CHECK(store.first_sequence_since(0) == 0);  // an empty store
  WriteBatch b;
  // Sequences with gaps (QoS 0 messages are never stored), arriving 10 ms apart.
  for (std::uint64_t seq : {3, 4, 7, 8, 9, 15, 20}) {
    auto m = std::const_pointer_cast<Message>(make(seq, "t", "x"));
    m->created_ms = 1000 + static_cast<std::int64_t>(seq) * 10;
    b.appends.push_back({m, {"t"}});
  }
  REQUIRE_FALSE(store.commit(b));
  CHECK(store.first_sequence_since(0) == 3);
  CHECK(store.first_sequence_since(1030) == 3);
  CHECK(store.first_sequence_since(1031) == 4);
  CHECK(store.first_sequence_since(1041) == 7);  // 5 and 6 were never stored
  CHECK(store.first_sequence_since(1091) == 15);
  CHECK(store.first_sequence_since(1200) == 20);
  CHECK(store.first_sequence_since(1201) == 21);  // none: one past the newest
}
