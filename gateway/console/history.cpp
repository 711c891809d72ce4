#include "gateway/console/history.hpp"

namespace tidegate::console {

History::History(std::size_t capacity) : ring_(capacity ? capacity : 1) {}

void History::push(const HistorySample& sample) {
  ring_[next_] = sample;
  next_ = (next_ + 1) % ring_.size();
  if (count_ < ring_.size()) ++count_;
}

std::vector<HistorySample> History::since(std::int64_t since_ms) const {
  std::vector<HistorySample> out;
  std::size_t oldest = (next_ + ring_.size() - count_) % ring_.size();
  for (std::size_t i = 0; i < count_; ++i) {
    const auto& s = ring_[(oldest + i) % ring_.size()];
    if (s.t_ms > since_ms) out.push_back(s);
  }
  return out;
}

}  // namespace tidegate::console
