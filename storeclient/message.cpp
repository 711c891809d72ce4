#include "storeclient/message.hpp"

#include <chrono>

namespace tidegate::store {

EncodedPublishSlots::~EncodedPublishSlots() {
  for (auto& s : slots_) delete s.load(std::memory_order_acquire);
}

const EncodedPublish* EncodedPublishSlots::install(std::size_t slot, std::unique_ptr<EncodedPublish> built) const {
  const EncodedPublish* expected = nullptr;
  // acq_rel: release publishes the bytes; on failure `expected` is the winner's, acquired.
  if (slots_[slot].compare_exchange_strong(expected, built.get(), std::memory_order_acq_rel,
                                           std::memory_order_acquire))
    return built.release();
  return expected;  // `built` is freed here
}

bool EncodingBudget::try_charge(std::size_t n) {
  const std::size_t limit = limit_.load(std::memory_order_relaxed);
  std::size_t held = bytes_.load(std::memory_order_relaxed);
  do {
    if (n > limit || held > limit - n) {
      refused_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
  } while (!bytes_.compare_exchange_weak(held, held + n, std::memory_order_relaxed));
  return true;
}

std::size_t Message::footprint() const {
  std::size_t n = sizeof(Message) + topic.size() + payload.size() + origin_client_id.size();
  if (content_type) n += content_type->size();
  if (response_topic) n += response_topic->size();
  if (correlation_data) n += correlation_data->size();
  for (const auto& p : user_properties) n += sizeof(UserProperty) + p.key.size() + p.value.size();
  return n;
}

std::int64_t wall_clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace tidegate::store
