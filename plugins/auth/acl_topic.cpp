#include "plugins/auth/acl_topic.hpp"

#include <cstddef>

namespace tidegate::auth {

namespace {

// Walks the '/'-separated levels of a non-empty string.
class Levels {
 public:
  explicit Levels(std::string_view s) : s_(s) {}
  bool done() const { return done_; }
  std::string_view next() {
    const auto slash = s_.find('/', pos_);
    std::string_view level;
    if (slash == std::string_view::npos) {
      level = s_.substr(pos_);
      done_ = true;
    } else {
      level = s_.substr(pos_, slash - pos_);
      pos_ = slash + 1;
    }
    return level;
  }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
  bool done_ = false;
};

bool dollar(std::string_view s) { return !s.empty() && s.front() == '$'; }

// Both arguments already valid.
bool matches_valid(std::string_view filter, std::string_view topic) {
  if (dollar(filter) != dollar(topic)) return false;
  Levels f(filter), t(topic);
  while (!f.done()) {
    const auto fl = f.next();
    if (fl == "#") return true;
    if (t.done()) return false;
    const auto tl = t.next();
    if (fl != "+" && fl != tl) return false;
  }
  return t.done();
}

}  // namespace

bool valid_acl_filter(std::string_view filter) {
  if (filter.empty() || filter.size() > 65535) return false;
  for (std::size_t i = 0; i < filter.size(); ++i) {
    const char c = filter[i];
    if (c != '+' && c != '#') continue;
    if (i > 0 && filter[i - 1] != '/') return false;
    if (c == '+' && i + 1 < filter.size() && filter[i + 1] != '/') return false;
    if (c == '#' && i + 1 != filter.size()) return false;
  }
  return true;
}

bool valid_topic_name(std::string_view topic) {
  return !topic.empty() && topic.find_first_of("+#") == std::string_view::npos;
}

bool acl_topic_matches(std::string_view filter, std::string_view topic) {
  return valid_acl_filter(filter) && valid_topic_name(topic) && matches_valid(filter, topic);
}

bool filters_overlap(std::string_view a, std::string_view b) {
  if (!valid_acl_filter(a) || !valid_acl_filter(b)) return false;
  // '$' topics are matched only by '$' filters, whose first level is a literal.
  if (dollar(a) != dollar(b)) return false;
  Levels x(a), y(b);
  bool first_level_empty = false;
  for (std::size_t i = 0;; ++i) {
    const bool x_ended = x.done(), y_ended = y.done();
    if (x_ended && y_ended) return true;
    const auto xl = x_ended ? std::string_view() : x.next();
    const auto yl = y_ended ? std::string_view() : y.next();
    if ((!x_ended && xl == "#") || (!y_ended && yl == "#")) {
      // '#' also matches its parent, but "/#" against a one-level filter would
      // share only the empty string, which is no topic name.
      return !((x_ended || y_ended) && i == 1 && first_level_empty);
    }
    if (x_ended || y_ended) return false;
    if (xl != "+" && yl != "+" && xl != yl) return false;
    if (i == 0) first_level_empty = xl.empty() || yl.empty();
  }
}

bool filter_within(std::string_view acl_topic, std::string_view filter) {
  if (!valid_acl_filter(acl_topic) || !valid_acl_filter(filter)) return false;
  if (dollar(acl_topic) != dollar(filter)) return false;
  Levels outer(acl_topic), inner(filter);
  bool first_level_empty = false;
  for (std::size_t i = 0;; ++i) {
    if (outer.done()) return inner.done();
    const auto ol = outer.next();
    if (ol == "#") return true;
    if (inner.done()) return false;
    const auto il = inner.next();
    if (il == "#") {
      // The inner '#' stands for "one or more levels" where its parent is no topic
      // name (at the start, or after an empty first level); "+/#" covers exactly that.
      const bool at_least_one_level = i == 0 || (i == 1 && first_level_empty);
      return at_least_one_level && ol == "+" && !outer.done() && outer.next() == "#";
    }
    if (il == "+" ? ol != "+" : (ol != "+" && ol != il)) return false;
    if (i == 0) first_level_empty = il.empty();
  }
}

}  // namespace tidegate::auth
