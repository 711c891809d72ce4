#include "gateway/console/history.hpp"

#include <algorithm>

namespace tidegate::console {

History::History(std::size_t capacity) : ring_(capacity ? capacity : 1) {}

void History::push(HistorySample sample) {
  sample.seq = next_seq_++;
  ring_[next_] = sample;
  next_ = (next_ + 1) % ring_.size();
  if (count_ < ring_.size()) ++count_;
}

std::vector<HistorySample> History::after(std::uint64_t seq) const {
  std::vector<HistorySample> out;
  for (std::size_t back = 0; back < count_ && newest(back).seq > seq; ++back) out.push_back(newest(back));
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<HistorySample> History::since(std::int64_t since_ms) const {
  std::vector<HistorySample> out;
  for (std::size_t back = count_; back-- > 0;)
    if (newest(back).t_ms > since_ms) out.push_back(newest(back));
  return out;
}

}  // namespace tidegate::console
