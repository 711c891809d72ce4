#pragma once
// The part of the lookup one gateway holds: the keys of the slots it owns
// (keys.hpp), as the gateways announced them. Nothing here is persisted or
// replicated: a restarted gateway's shard is rebuilt by the others announcing
// their live state again when they see the new member.
//
// Threads: every function locks; called by the RPC server and by the lookup's
// own threads.
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace tidegate::lookup {

// What one gateway tells an owner about itself: its online clients and its
// subscriptions' filters (only those whose keys the owner holds).
struct ClientEntry {
  std::string id;
  std::int64_t since_ms = 0;  // when it connected (wall clock): the newest connection holds the id
};
struct NodeState {
  std::vector<ClientEntry> clients;
  std::vector<std::string> filters;
};

class Shard {
 public:
  // MQTT filter matching (the gateway's topic_matches): the shard matches
  // wildcard filters against topics.
  using Matcher = std::function<bool(std::string_view filter, std::string_view topic)>;
  explicit Shard(Matcher matcher) : matches_(std::move(matcher)) {}

  // Everything `node` holds here is replaced by `state`. Returns the client
  // ids of `state` that another node holds with a newer connection (they
  // stay with that node: `node` must close its older one).
  std::vector<ClientEntry> replace(const std::string& node, const NodeState& state);
  std::vector<ClientEntry> add(const std::string& node, const NodeState& state);
  void remove(const std::string& node, const NodeState& state);
  // A node that left the cluster: its entries go.
  void drop_node(const std::string& node);

  // The nodes with a subscription matching `topic`, from the keys given
  // (those of topic_keys() this shard holds).
  std::set<std::string> nodes_for(std::string_view topic, const std::vector<std::string>& keys) const;
  struct Holder {
    std::string node;
    std::int64_t since_ms = 0;
  };
  // The node holding `client_id` (per key "c:<id>"), if any.
  std::optional<Holder> client_holder(std::string_view client_id) const;
  // `node` claims `client`: it holds it from now on unless another node's
  // connection is newer. Returns the holder before the claim.
  std::optional<Holder> claim(const std::string& node, const ClientEntry& client);

  std::size_t entries() const;

 private:
  std::vector<ClientEntry> add_locked(const std::string& node, const NodeState& state);
  void drop_node_locked(const std::string& node);
  Matcher matches_;
  mutable std::mutex lock_;
  std::map<std::string, Holder, std::less<>> clients_;                                  // client id -> holder
  std::map<std::string, std::set<std::string>, std::less<>> exact_;                     // filter -> nodes
  std::map<std::string, std::map<std::string, std::set<std::string>>, std::less<>> wild_;  // "w:" key -> filter -> nodes
};

}  // namespace tidegate::lookup
