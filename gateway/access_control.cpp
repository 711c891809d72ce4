#include "gateway/access_control.hpp"

#include "gateway/log.hpp"
#include "gateway/topic_match.hpp"

namespace tidegate {

namespace {
// acl_deny: a topic (or a filter, read as text) that lies inside a denied filter.
bool denied_by_config(const std::vector<AclDenyRule>& rules, std::string_view name, bool subscribe) {
  for (const auto& rule : rules) {
    if (subscribe ? !rule.subscribe : !rule.publish) continue;
    if (topic_matches(rule.filter, name)) return true;
  }
  return false;
}
}  // namespace

bool ClientAccess::may_publish(std::string_view topic) const {
  if (topic.starts_with("$SYS/") || topic == "$SYS") return false;  // the gateway's own topics
  if (!rules_) return true;
  if (denied_by_config(rules_->acl_deny(), topic, false)) return false;
  return !acl_ || acl_->allowed(topic, auth::Access::write);
}

bool ClientAccess::may_subscribe(std::string_view filter) const {
  if (!rules_) return true;
  if (denied_by_config(rules_->acl_deny(), filter, true)) return false;
  if (!acl_) return true;
  SharedFilter shared = parse_shared(filter);
  return acl_->subscribe_scope(shared.filter) != auth::SubscribeScope::none;
}

bool ClientAccess::may_read(std::string_view topic) const {
  if (!rules_) return true;
  if (denied_by_config(rules_->acl_deny(), topic, true)) return false;
  return !acl_ || acl_->allowed(topic, auth::Access::read);
}

AccessControl::AccessControl(const Config& config)
    : allow_anonymous_(config.allow_anonymous), acl_deny_(config.acl_deny) {
  try {
    if (config.password_file) passwords_ = auth::PasswordFile::load(*config.password_file);
  } catch (const auth::AuthFileError& e) {
    throw ConfigError(std::string("password_file: ") + e.what());
  }
  try {
    if (config.acl_file) {
      acl_ = auth::AclFile::load(*config.acl_file);
      for (const auto& w : acl_->warnings()) log::warn("acl_file: " + w);
    }
  } catch (const auth::AuthFileError& e) {
    throw ConfigError(std::string("acl_file: ") + e.what());
  }
}

mqtt::ReasonCode AccessControl::authenticate(const std::optional<std::string>& username,
                                             const std::optional<std::string>& password, bool from_loopback) const {
  if (username && passwords_) {
    // A user name is checked against the password file; no password never passes.
    if (!password || !passwords_->verify(*username, *password)) return mqtt::ReasonCode::bad_user_name_or_password;
    return mqtt::ReasonCode::success;
  }
  // Anonymous (or no password file to check a name against): allow_anonymous
  // decides; unset means loopback only (DESIGN §6).
  return allow_anonymous_.value_or(from_loopback) ? mqtt::ReasonCode::success
                                                         : mqtt::ReasonCode::not_authorized;
}

ClientAccess AccessControl::bind(const std::optional<std::string>& username, const std::string& client_id) const {
  ClientAccess access;
  access.rules_ = shared_from_this();
  if (acl_) {
    std::optional<std::string_view> name;
    if (username) name = *username;
    access.acl_ = acl_->bind(name, client_id);
  }
  return access;
}

}  // namespace tidegate
