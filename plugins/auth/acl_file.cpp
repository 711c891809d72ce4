#include "plugins/auth/acl_file.hpp"

#include <algorithm>

#include "plugins/auth/acl_topic.hpp"

namespace tidegate::auth {

namespace {

constexpr std::uint8_t access_none = 0;
constexpr std::uint8_t access_read = static_cast<std::uint8_t>(Access::read);
constexpr std::uint8_t access_write = static_cast<std::uint8_t>(Access::write);

enum class Verdict { allow, deny, undecided };

// mosquitto's loop over one list; deny rules are kept first, so the first match decides.
Verdict scan(std::span<const AclRule> rules, std::string_view topic, std::uint8_t wanted) {
  for (const auto& rule : rules) {
    if (!acl_topic_matches(rule.topic, topic)) continue;
    if (rule.access == access_none) return Verdict::deny;
    if (rule.access & wanted) return Verdict::allow;
  }
  return Verdict::undecided;
}

bool unsafe_identity(std::optional<std::string_view> username, std::string_view client_id) {
  constexpr std::string_view wildcards = "+#";
  return (username && username->find_first_of(wildcards) != std::string_view::npos) ||
         client_id.find_first_of(wildcards) != std::string_view::npos;
}

bool decide(std::span<const AclRule> section, bool file_has_patterns, bool unsafe,
            std::span<const AclRule> patterns, std::string_view topic, Access access) {
  if (!valid_topic_name(topic)) return false;
  const auto wanted = static_cast<std::uint8_t>(access);
  if (const auto v = scan(section, topic, wanted); v != Verdict::undecided) return v == Verdict::allow;
  if (file_has_patterns && unsafe) return false;
  return scan(patterns, topic, wanted) == Verdict::allow;
}

void add_rule(std::vector<AclRule>& list, AclRule rule) {
  if (rule.access == access_none) {
    // Deny rules before all allow rules, as mosquitto prepends them.
    const auto first_allow = std::find_if(list.begin(), list.end(),
                                          [](const AclRule& r) { return r.access != access_none; });
    list.insert(first_allow, std::move(rule));
  } else {
    list.push_back(std::move(rule));
  }
}

bool any_of(std::span<const AclRule> rules, auto&& pred) { return std::any_of(rules.begin(), rules.end(), pred); }

// Substitutes %c and %u left to right, as mosquitto_acl_check_default does.
std::string substitute(std::string_view pattern, std::optional<std::string_view> username,
                       std::string_view client_id) {
  std::string out;
  out.reserve(pattern.size() + client_id.size());
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '%' && i + 1 < pattern.size()) {
      if (pattern[i + 1] == 'c') {
        out += client_id;
        ++i;
        continue;
      }
      if (pattern[i + 1] == 'u' && username) {
        out += *username;
        ++i;
        continue;
      }
    }
    out += pattern[i];
  }
  return out;
}

// The same left-to-right scan as substitute(): does the pattern contain %u / %c?
bool uses(std::string_view pattern, char what) {
  for (std::size_t i = 0; i + 1 < pattern.size(); ++i) {
    if (pattern[i] != '%') continue;
    if (pattern[i + 1] == what) return true;
    if (pattern[i + 1] == 'c' || pattern[i + 1] == 'u') ++i;
  }
  return false;
}

// strtok(…, " "): skips leading spaces, returns the next word and where it ended.
std::string_view next_word(std::string_view line, std::size_t& pos) {
  while (pos < line.size() && line[pos] == ' ') ++pos;
  if (pos >= line.size()) return {};
  const auto start = pos;
  while (pos < line.size() && line[pos] != ' ') ++pos;
  return line.substr(start, pos - start);
}

// strtok(NULL, ""): the text after the delimiter that ended the previous word, if any.
std::optional<std::string_view> rest_of_line(std::string_view line, std::size_t pos) {
  if (pos + 1 >= line.size()) return std::nullopt;
  return line.substr(pos + 1);
}

}  // namespace

// ---------------------------------------------------------------- ClientAcl

bool ClientAcl::allowed(std::string_view topic, Access access) const {
  return decide(section_, file_has_patterns_, unsafe_identity_, patterns_, topic, access);
}

SubscribeScope ClientAcl::subscribe_scope(std::string_view filter) const {
  if (!valid_acl_filter(filter)) return SubscribeScope::none;
  const auto deny = [](const AclRule& r) { return r.access == access_none; };
  const auto reader = [](const AclRule& r) { return (r.access & access_read) != 0; };
  const auto overlaps = [&](const AclRule& r) { return filters_overlap(r.topic, filter); };
  const auto covers = [&](const AclRule& r) { return filter_within(r.topic, filter); };
  const bool patterns_usable = file_has_patterns_ && !unsafe_identity_;

  // none: every topic of the filter is refused by step 1, or passes step 1 undecided
  // and is refused by step 2.
  if (any_of(section_, [&](const AclRule& r) { return deny(r) && covers(r); })) return SubscribeScope::none;
  const bool section_may_grant = any_of(section_, [&](const AclRule& r) { return reader(r) && overlaps(r); });
  if (!section_may_grant) {
    if (!patterns_usable) return SubscribeScope::none;
    if (any_of(patterns_, [&](const AclRule& r) { return deny(r) && covers(r); })) return SubscribeScope::none;
    if (!any_of(patterns_, [&](const AclRule& r) { return reader(r) && overlaps(r); })) return SubscribeScope::none;
  }

  // all: no deny rule of the section touches the filter, and one allow rule (of the
  // section, or a pattern no deny pattern contradicts) contains it whole.
  if (!any_of(section_, [&](const AclRule& r) { return deny(r) && overlaps(r); })) {
    if (any_of(section_, [&](const AclRule& r) { return reader(r) && covers(r); })) return SubscribeScope::all;
    if (patterns_usable && !any_of(patterns_, [&](const AclRule& r) { return deny(r) && overlaps(r); }) &&
        any_of(patterns_, [&](const AclRule& r) { return reader(r) && covers(r); })) {
      return SubscribeScope::all;
    }
  }
  return SubscribeScope::partial;
}

// ---------------------------------------------------------------- AclFile

AclFile AclFile::load(const std::string& path) { return parse(read_auth_file(path), path); }

AclFile AclFile::parse(std::string_view text, std::string_view origin) {
  AclFile file;
  std::vector<AclRule>* section = &file.anonymous_;
  const auto warn = [&](std::size_t number, const std::string& what) {
    file.warnings_.push_back(std::string(origin) + ':' + std::to_string(number) + ": " + what);
  };

  for_each_line(text, [&](std::size_t number, std::string_view line) {
    while (!line.empty() && is_blank(line.back())) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') return;
    std::size_t pos = 0;
    const auto keyword = next_word(line, pos);
    if (keyword.empty()) return;

    if (keyword == "user") {
      const auto rest = rest_of_line(line, pos);
      if (!rest) throw_line_error(origin, number, "'user' without a user name");
      const auto name = trim_blanks(*rest);
      section = &file.users_[std::string(name)];
      return;
    }
    if (keyword != "topic" && keyword != "pattern") {
      throw_line_error(origin, number,
                       "unknown directive '" + std::string(keyword) + "' (expected user, topic or pattern)");
    }
    const bool is_pattern = keyword == "pattern";
    auto access_word = next_word(line, pos);
    if (access_word.empty()) throw_line_error(origin, number, "'" + std::string(keyword) + "' without a topic");
    std::string_view topic;
    std::uint8_t access = access_read | access_write;
    if (const auto rest = rest_of_line(line, pos)) {
      topic = trim_blanks(*rest);
      if (access_word == "read") {
        access = access_read;
      } else if (access_word == "write") {
        access = access_write;
      } else if (access_word == "readwrite") {
        access = access_read | access_write;
      } else if (access_word == "deny") {
        access = access_none;
      } else {
        throw_line_error(origin, number,
                         "invalid access '" + std::string(access_word) +
                             "' (expected read, write, readwrite or deny)");
      }
    } else {
      topic = access_word;  // "topic <t>": readwrite
      if (topic == "read" || topic == "write" || topic == "readwrite" || topic == "deny") {
        warn(number, "'" + std::string(keyword) + " " + std::string(topic) + "' is readwrite access to the topic '" +
                         std::string(topic) + "' (no topic follows the access word)");
      }
    }
    if (!valid_acl_filter(topic)) {
      throw_line_error(origin, number, "invalid ACL topic '" + std::string(topic) + "'");
    }
    if (topic.find('\t') != std::string_view::npos) {
      warn(number, "topic '" + std::string(topic) + "' contains a tab (only spaces separate words)");
    }
    AclRule rule{std::string(topic), access};
    if (is_pattern) {
      if (!uses(topic, 'c') && !uses(topic, 'u')) {
        warn(number, "pattern '" + std::string(topic) + "' contains neither %c nor %u");
      }
      add_rule(file.patterns_, std::move(rule));
    } else {
      add_rule(*section, std::move(rule));
    }
  });
  return file;
}

const std::vector<AclRule>* AclFile::section_for(std::optional<std::string_view> username) const {
  if (!username) return &anonymous_;
  const auto it = users_.find(*username);
  return it == users_.end() ? nullptr : &it->second;
}

std::vector<AclRule> AclFile::substituted_patterns(std::optional<std::string_view> username,
                                                   std::string_view client_id) const {
  std::vector<AclRule> out;
  out.reserve(patterns_.size());
  for (const auto& p : patterns_) {
    if (!username && uses(p.topic, 'u')) continue;
    out.push_back({substitute(p.topic, username, client_id), p.access});
  }
  return out;
}

ClientAcl AclFile::bind(std::optional<std::string_view> username, std::string_view client_id) const {
  ClientAcl acl;
  if (const auto* section = section_for(username)) acl.section_ = *section;
  acl.file_has_patterns_ = !patterns_.empty();
  acl.unsafe_identity_ = unsafe_identity(username, client_id);
  if (acl.file_has_patterns_ && !acl.unsafe_identity_) acl.patterns_ = substituted_patterns(username, client_id);
  return acl;
}

bool AclFile::allowed(std::optional<std::string_view> username, std::string_view client_id, std::string_view topic,
                      Access access) const {
  static const std::vector<AclRule> empty;
  const auto* section = section_for(username);
  if (!section) section = &empty;
  // Patterns are substituted only when the section leaves the topic undecided.
  if (!valid_topic_name(topic)) return false;
  if (const auto v = scan(*section, topic, static_cast<std::uint8_t>(access)); v != Verdict::undecided) {
    return v == Verdict::allow;
  }
  if (patterns_.empty() || unsafe_identity(username, client_id)) return false;
  return scan(substituted_patterns(username, client_id), topic, static_cast<std::uint8_t>(access)) == Verdict::allow;
}

SubscribeScope AclFile::subscribe_scope(std::optional<std::string_view> username, std::string_view client_id,
                                        std::string_view filter) const {
  return bind(username, client_id).subscribe_scope(filter);
}

}  // namespace tidegate::auth
