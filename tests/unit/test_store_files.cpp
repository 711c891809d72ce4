#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gateway/pipeline/ingest_error.hpp"
#include "storeclient/lmdb_store.hpp"
#include "storeclient/store_check.hpp"
#include "storeclient/store_full.hpp"
#include "storeclient/store_lock.hpp"

using namespace tidegate::store;
namespace fs = std::filesystem;

namespace {
struct ScratchDir {
  fs::path path = fs::temp_directory_path() / ("tidegate-unit-files-" + std::to_string(::getpid()));
  ScratchDir() { fs::remove_all(path); }
  ~ScratchDir() { fs::remove_all(path); }
};
}  // namespace

TEST_CASE("a data directory is locked by one holder at a time, and named with its PID when refused") {
  ScratchDir dir;
  {
    StoreLock first(dir.path.string());
    try {
      StoreLock second(dir.path.string());
      FAIL("the second lock was granted");
    } catch (const StoreOpenError& e) {
      std::string what = e.what();
      CHECK(what.find(dir.path.string()) != std::string::npos);
      CHECK(what.find("PID " + std::to_string(::getpid())) != std::string::npos);
    }
  }
  StoreLock again(dir.path.string());  // released with its holder
}

TEST_CASE("the store check passes a sound store and refuses a truncated one, naming the file") {
  ScratchDir dir;
  {
    LmdbStore store(StoreOptions{dir.path.string()});
    WriteBatch batch;
    for (int i = 1; i <= 50; ++i)
      batch.sessions.emplace_back("client-" + std::to_string(i), std::string(500, 'r'));
    REQUIRE_FALSE(store.commit(batch));
  }
  auto sound = check_store(dir.path.string());
  CHECK(sound.problem.empty());
  CHECK(sound.entries >= 50);
  fs::resize_file(dir.path / "data.mdb", fs::file_size(dir.path / "data.mdb") / 3);
  auto truncated = check_store(dir.path.string());
  CHECK(truncated.problem.find((dir.path / "data.mdb").string()) != std::string::npos);
  CHECK(truncated.problem.find("truncated") != std::string::npos);
}

TEST_CASE("an empty data.mdb (a first start cut short) passes the check, as LMDB takes it for a new store") {
  ScratchDir dir;
  fs::create_directories(dir.path);
  { std::ofstream(dir.path / "data.mdb"); }
  CHECK(check_store(dir.path.string()).problem.empty());
  LmdbStore store(StoreOptions{dir.path.string()});  // and LMDB opens it
}

TEST_CASE("a full file system counts as a full store") {
  CHECK(is_store_full(make_lmdb_error(MDB_MAP_FULL)));
  CHECK(is_store_full(make_lmdb_error(ENOSPC)));
  CHECK_FALSE(is_store_full(make_lmdb_error(EIO)));
}

TEST_CASE("the ingest thread reports a full store as its own error, and other store errors as they are") {
  using tidegate::IngestError;
  using tidegate::ingest_error_of_commit;
  CHECK(ingest_error_of_commit(make_lmdb_error(MDB_MAP_FULL)) == IngestError::store_full);
  CHECK(ingest_error_of_commit(make_lmdb_error(EDQUOT)) == IngestError::store_full);
  CHECK(ingest_error_of_commit(make_lmdb_error(EIO)) == make_lmdb_error(EIO));
  CHECK_FALSE(ingest_error_of_commit({}));
  CHECK(std::error_code(IngestError::store_full) != IngestError::quota_exceeded);
}
