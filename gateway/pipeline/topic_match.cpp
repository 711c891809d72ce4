#include "gateway/pipeline/topic_match.hpp"

namespace tidegate {

std::vector<std::string_view> split_levels(std::string_view topic) {
  std::vector<std::string_view> levels;
  std::size_t start = 0;
  for (;;) {
    std::size_t slash = topic.find('/', start);
    if (slash == std::string_view::npos) {
      levels.push_back(topic.substr(start));
      return levels;
    }
    levels.push_back(topic.substr(start, slash - start));
    start = slash + 1;
  }
}

bool topic_matches(std::string_view filter, std::string_view topic) {
  if (!topic.empty() && topic[0] == '$' && !filter.empty() && (filter[0] == '+' || filter[0] == '#'))
    return false;
  auto f = split_levels(filter);
  auto t = split_levels(topic);
  std::size_t i = 0;
  for (; i < f.size(); ++i) {
    if (f[i] == "#") return true;  // also matches the parent level (MQTT-4.7.1-2)
    if (i >= t.size()) return false;
    if (f[i] != "+" && f[i] != t[i]) return false;
  }
  return i == t.size();
}

SharedFilter parse_shared(std::string_view filter) {
  constexpr std::string_view prefix = "$share/";
  if (!filter.starts_with(prefix)) return {{}, filter};
  std::string_view rest = filter.substr(prefix.size());
  std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return {{}, filter};
  return {rest.substr(0, slash), rest.substr(slash + 1)};
}

}  // namespace tidegate
