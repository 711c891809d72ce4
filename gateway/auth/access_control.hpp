#pragma once
// Who may connect, publish, subscribe and read (docs/security.md): the
// password file, the ACL file (both in mosquitto's formats) and the config's
// acl_deny list. Immutable once built; any thread.
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/auth/auth_http.hpp"
#include "gateway/codec/reason_code.hpp"
#include "gateway/config/config.hpp"
#include "gateway/auth/plugin_host.hpp"
#include "plugins/auth/acl_file.hpp"
#include "plugins/auth/password_file.hpp"

namespace tidegate {

class AccessControl;

// One client's rights, bound at CONNECT to its user name and client id. It
// keeps the rules it was bound with: a reload applies to later connections.
class ClientAccess {
 public:
  // A bridge's link: its rules are the operator's config, not a client's
  // rights (only $SYS stays closed to publishing).
  static ClientAccess unrestricted() { return ClientAccess{}; }

  bool may_publish(std::string_view topic) const;
  // False: the filter can never deliver anything it may read (SUBACK failure).
  bool may_subscribe(std::string_view filter) const;
  // Checked for every message delivered, retained ones included.
  bool may_read(std::string_view topic) const;

  // Further authorities bound at CONNECT: plugins with an ACL event (asked
  // for each check; any DENY refuses) and the HTTP hook's rules for this
  // client (the first matching rule decides). Every authority may refuse; the
  // config's acl_deny and the acl_file are asked first.
  void add_plugin_checks(const PluginHost* plugins, ClientIdentity client);
  void add_hook_rules(std::vector<HookAclRule> rules);

 private:
  friend class AccessControl;
  bool others_allow(std::string_view topic_or_filter, int access) const;
  std::shared_ptr<const AccessControl> rules_;
  std::optional<auth::ClientAcl> acl_;
  const PluginHost* plugins_ = nullptr;
  std::shared_ptr<const ClientIdentity> identity_;
  std::shared_ptr<const std::vector<HookAclRule>> hook_rules_;
};

class AccessControl : public std::enable_shared_from_this<AccessControl> {
 public:
  // Loads the files the config names; throws ConfigError("key: reason").
  // Keeps its own copy of the settings it uses, so it can be swapped on reload.
  explicit AccessControl(const Config& config);

  // CONNECT: success, or the reason code that refuses it.
  mqtt::ReasonCode authenticate(const std::optional<std::string>& username, const std::optional<std::string>& password,
                                bool from_loopback) const;
  ClientAccess bind(const std::optional<std::string>& username, const std::string& client_id) const;
  const std::vector<AclDenyRule>& acl_deny() const { return acl_deny_; }

 private:
  std::optional<bool> allow_anonymous_;
  std::vector<AclDenyRule> acl_deny_;
  std::optional<auth::PasswordFile> passwords_;
  std::optional<auth::AclFile> acl_;
};

}  // namespace tidegate
