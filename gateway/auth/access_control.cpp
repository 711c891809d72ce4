#include "gateway/auth/access_control.hpp"

#include "gateway/ops/log.hpp"
#include "gateway/pipeline/topic_match.hpp"

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

void ClientAccess::add_plugin_checks(const PluginHost* plugins, ClientIdentity client) {
  if (!plugins || !plugins->checks_acl()) return;
  plugins_ = plugins;
  identity_ = std::make_shared<const ClientIdentity>(std::move(client));
}

void ClientAccess::add_hook_rules(std::vector<HookAclRule> rules) {
  hook_rules_ = std::make_shared<const std::vector<HookAclRule>>(std::move(rules));
}

bool ClientAccess::others_allow(std::string_view name, int access) const {
  if (plugins_ && plugins_->acl_check(*identity_, name, access) == TIDEGATE_DENY) return false;
  if (hook_rules_)
    for (const auto& rule : *hook_rules_)
      if ((rule.access & access) && topic_matches(rule.filter, name)) return rule.allow;
  return true;
}

bool ClientAccess::may_publish(std::string_view topic) const {
  if (topic.starts_with("$SYS/") || topic == "$SYS") return false;  // the gateway's own topics
  if (!rules_) return true;
  if (denied_by_config(rules_->acl_deny(), topic, false)) return false;
  if (acl_ && !acl_->allowed(topic, auth::Access::write)) return false;
  return others_allow(topic, TIDEGATE_ACCESS_PUBLISH);
}

bool ClientAccess::may_subscribe(std::string_view filter) const {
  if (!rules_) return true;
  if (denied_by_config(rules_->acl_deny(), filter, true)) return false;
  SharedFilter shared = parse_shared(filter);
  if (acl_ && acl_->subscribe_scope(shared.filter) == auth::SubscribeScope::none) return false;
  // A filter is matched against the rules as if it were a topic: "a/#" in a
  // rule covers the filter "a/+", "a/b" does not.
  return others_allow(shared.filter, TIDEGATE_ACCESS_SUBSCRIBE);
}

bool ClientAccess::may_read(std::string_view topic) const {
  if (!rules_) return true;
  if (denied_by_config(rules_->acl_deny(), topic, true)) return false;
  if (acl_ && !acl_->allowed(topic, auth::Access::read)) return false;
  return others_allow(topic, TIDEGATE_ACCESS_READ);
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
  // decides; unset means loopback only (docs/security.md, "Anonymous clients").
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
