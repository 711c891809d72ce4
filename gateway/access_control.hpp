#pragma once
// Who may connect, publish, subscribe and read (issue 4 items 3-4): the
// password file, the ACL file (both in mosquitto's formats) and the config's
// acl_deny list. Immutable once built; any thread.
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/codec/reason_code.hpp"
#include "gateway/config.hpp"
#include "plugins/auth/acl_file.hpp"
#include "plugins/auth/password_file.hpp"

namespace tidegate {

// One client's rights, bound at CONNECT to its user name and client id.
class ClientAccess {
 public:
  bool may_publish(std::string_view topic) const;
  // False: the filter can never deliver anything it may read (SUBACK failure).
  bool may_subscribe(std::string_view filter) const;
  // Checked for every message delivered, retained ones included.
  bool may_read(std::string_view topic) const;

 private:
  friend class AccessControl;
  const Config* config_ = nullptr;
  std::optional<auth::ClientAcl> acl_;
};

class AccessControl {
 public:
  // Loads the files the config names; throws ConfigError("key: reason").
  explicit AccessControl(const Config& config);

  // CONNECT: success, or the reason code that refuses it.
  mqtt::ReasonCode authenticate(const std::optional<std::string>& username, const std::optional<std::string>& password,
                                bool from_loopback) const;
  ClientAccess bind(const std::optional<std::string>& username, const std::string& client_id) const;

 private:
  const Config& config_;
  std::optional<auth::PasswordFile> passwords_;
  std::optional<auth::AclFile> acl_;
};

}  // namespace tidegate
