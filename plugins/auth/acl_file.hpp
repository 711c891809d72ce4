// mosquitto's acl_file, read and evaluated as mosquitto 2.0 does
// (src/security_default.c: aclfile__parse, mosquitto_acl_check_default).
//
// Syntax, one directive per line:
//   user <name>                             following topic lines belong to <name>
//   topic [read|write|readwrite|deny] <t>   a rule for the current section
//   pattern [read|write|readwrite|deny] <t> a rule for every client; %c -> client id,
//                                           %u -> user name
// Topic lines before the first user line form the anonymous section: they apply only
// to clients that gave no user name. A client with a user name gets only its own
// section (none if unlisted), never the anonymous one. Several "user x" blocks merge.
// Without an access word the rule is readwrite -- also when the single word is itself
// an access word: "topic read" is readwrite on the topic "read" (mosquitto's parser;
// reported in warnings()). Words are separated by spaces only, not tabs; the topic is
// the rest of the line with surrounding whitespace trimmed and may contain spaces.
// Lines starting with '#' (first column) and blank lines are skipped. Anything else is
// an error: load/parse throw AuthFileError("origin:line: reason").
//
// Evaluation of a topic name T for access A (read or write):
//  1. The client's section: if any deny rule matches T, refused; else if any rule with
//     A matches T, allowed. (deny beats allow within a list, whatever the file order.)
//  2. Only when step 1 decided nothing, and only if the file has pattern lines: a user
//     name or client id containing '+' or '#' is refused outright. Then the patterns,
//     with %c/%u substituted, the same way (deny first). A pattern using %u is skipped
//     for a client without a user name. A client id containing '/' spans several
//     levels (mosquitto 2.0 allows it).
//  3. Otherwise refused -- an empty file refuses everything.
// So a user's "topic read x" is not overridden by a "pattern deny x", while a user's
// "topic deny x" wins over any pattern.
//
// Topic names vs filters -- what to call when (mosquitto 2.0 behaviour):
//  - PUBLISH (and a Will at the time it is published): allowed(topic, write).
//  - Delivery of each message to each subscriber, retained messages sent on SUBSCRIBE
//    included: allowed(message topic, read). This is the check that protects data.
//  - SUBSCRIBE: mosquitto's acl_file grants every filter ("FIXME - implement ACL
//    subscription strings") and relies on the per-message read check; a client may
//    subscribe to "#" and receives only what it may read. allowed() is therefore not
//    defined for filters: given a filter (containing '+' or '#') it returns false.
//    subscribe_scope() classifies a filter against the rules for a broker that wants
//    more: `none` (it can never deliver anything: SUBACK 0x87 is then a tidegate-only
//    tightening), `all` (every topic it matches is readable: the per-message check may
//    be skipped for it), `partial` (check each message). Example: with "topic read
//    a/b/#", the filter "a/b/+" is `all`, "a/#" is `partial` (a/b/x readable, a/c not)
//    and "c/#" is `none`. The classification is conservative: `none` and `all` are
//    only claimed when certain (rule unions are not combined), so `partial` is always
//    a correct answer. For "$share/<group>/<filter>" pass <filter>.
//
// Thread use: an AclFile is immutable after parse; const members may run on any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "plugins/auth/auth_file.hpp"

namespace tidegate::auth {

enum class Access : std::uint8_t { read = 1, write = 2 };

enum class SubscribeScope : std::uint8_t { none, partial, all };

struct AclRule {
  std::string topic;
  std::uint8_t access = 0;  // bit set of Access; 0 = deny
};

// The rules of one client (its section plus its substituted patterns), computed once
// at CONNECT and kept by the connection. Self-contained: it copies what it needs, so it
// stays valid after the AclFile is reloaded or destroyed (bind again to apply a
// reload, as mosquitto re-applies ACLs to connected clients). A default-constructed
// ClientAcl refuses everything.
class ClientAcl {
 public:
  bool allowed(std::string_view topic, Access access) const;
  SubscribeScope subscribe_scope(std::string_view filter) const;

 private:
  friend class AclFile;
  std::vector<AclRule> section_;   // deny rules first
  std::vector<AclRule> patterns_;  // substituted, deny rules first
  bool file_has_patterns_ = false;
  bool unsafe_identity_ = false;   // '+' or '#' in user name or client id
};

class AclFile {
 public:
  static AclFile load(const std::string& path);
  static AclFile parse(std::string_view text, std::string_view origin);

  // username: nullopt for a client that sent no user name (anonymous section); an
  // empty user name is a user name. client_id: the id in use, the broker-assigned one
  // for a client that sent an empty id.
  ClientAcl bind(std::optional<std::string_view> username, std::string_view client_id) const;

  // One-off forms of bind(...).allowed(...) / .subscribe_scope(...); allowed() does not
  // copy the section, only substitutes the patterns (as mosquitto does per check).
  bool allowed(std::optional<std::string_view> username, std::string_view client_id, std::string_view topic,
               Access access) const;
  SubscribeScope subscribe_scope(std::optional<std::string_view> username, std::string_view client_id,
                                 std::string_view filter) const;

  // Lines mosquitto accepts but that are probably not what was meant, as
  // "origin:line: text" (pattern without %c/%u, topic containing a tab, ...).
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  const std::vector<AclRule>* section_for(std::optional<std::string_view> username) const;
  std::vector<AclRule> substituted_patterns(std::optional<std::string_view> username,
                                            std::string_view client_id) const;

  std::vector<AclRule> anonymous_;
  std::map<std::string, std::vector<AclRule>, std::less<>> users_;
  std::vector<AclRule> patterns_;
  std::vector<std::string> warnings_;
};

}  // namespace tidegate::auth
