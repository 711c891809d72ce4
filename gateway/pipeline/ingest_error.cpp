#include "gateway/pipeline/ingest_error.hpp"

#include <string>

#include "storeclient/store_full.hpp"

namespace tidegate {

namespace {
class IngestCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ingest"; }
  std::string message(int value) const override {
    switch (static_cast<IngestError>(value)) {
      case IngestError::quota_exceeded: return "quota exceeded";
      case IngestError::store_full: return "the store is full";
    }
    return "ingest error " + std::to_string(value);
  }
};
}  // namespace

const std::error_category& ingest_category() {
  static const IngestCategory category;
  return category;
}

std::error_code ingest_error_of_commit(std::error_code store_error) {
  if (store::is_store_full(store_error)) return IngestError::store_full;
  return store_error;
}

}  // namespace tidegate
