#include "lookup/shard.hpp"

#include "lookup/keys.hpp"

namespace tidegate::lookup {

std::vector<ClientEntry> Shard::add_locked(const std::string& node, const NodeState& state) {
  std::vector<ClientEntry> superseded;
  for (const auto& c : state.clients) {
    auto [it, added] = clients_.try_emplace(c.id, Holder{node, c.since_ms});
    if (added || it->second.node == node || it->second.since_ms <= c.since_ms)
      it->second = Holder{node, c.since_ms};
    else
      superseded.push_back({c.id, it->second.since_ms});
  }
  for (const auto& f : state.filters) {
    if (has_wildcard(f))
      wild_[route_key(f)][f].insert(node);
    else
      exact_[f].insert(node);
  }
  return superseded;
}

std::vector<ClientEntry> Shard::add(const std::string& node, const NodeState& state) {
  std::lock_guard guard(lock_);
  return add_locked(node, state);
}

std::optional<Shard::Holder> Shard::claim(const std::string& node, const ClientEntry& client) {
  std::lock_guard guard(lock_);
  std::optional<Holder> previous;
  if (auto it = clients_.find(client.id); it != clients_.end()) previous = it->second;
  add_locked(node, NodeState{{client}, {}});
  return previous;
}

void Shard::remove(const std::string& node, const NodeState& state) {
  std::lock_guard guard(lock_);
  for (const auto& c : state.clients)
    if (auto it = clients_.find(c.id); it != clients_.end() && it->second.node == node) clients_.erase(it);
  for (const auto& f : state.filters) {
    if (has_wildcard(f)) {
      auto key = wild_.find(route_key(f));
      if (key == wild_.end()) continue;
      if (auto it = key->second.find(f); it != key->second.end()) {
        it->second.erase(node);
        if (it->second.empty()) key->second.erase(it);
      }
      if (key->second.empty()) wild_.erase(key);
    } else if (auto it = exact_.find(f); it != exact_.end()) {
      it->second.erase(node);
      if (it->second.empty()) exact_.erase(it);
    }
  }
}

void Shard::drop_node(const std::string& node) {
  std::lock_guard guard(lock_);
  drop_node_locked(node);
}

void Shard::drop_node_locked(const std::string& node) {
  std::erase_if(clients_, [&](const auto& kv) { return kv.second.node == node; });
  for (auto it = exact_.begin(); it != exact_.end();) {
    it->second.erase(node);
    it = it->second.empty() ? exact_.erase(it) : std::next(it);
  }
  for (auto key = wild_.begin(); key != wild_.end();) {
    for (auto it = key->second.begin(); it != key->second.end();) {
      it->second.erase(node);
      it = it->second.empty() ? key->second.erase(it) : std::next(it);
    }
    key = key->second.empty() ? wild_.erase(key) : std::next(key);
  }
}

std::vector<ClientEntry> Shard::replace(const std::string& node, const NodeState& state) {
  std::lock_guard guard(lock_);  // one step: a query never sees the node half gone
  drop_node_locked(node);
  return add_locked(node, state);
}

std::set<std::string> Shard::nodes_for(std::string_view topic, const std::vector<std::string>& keys) const {
  std::lock_guard guard(lock_);
  std::set<std::string> out;
  for (const auto& key : keys) {
    if (key.starts_with("t:")) {
      if (auto it = exact_.find(std::string_view(key).substr(2)); it != exact_.end())
        out.insert(it->second.begin(), it->second.end());
    } else if (auto it = wild_.find(key); it != wild_.end()) {
      for (const auto& [filter, nodes] : it->second)
        if (matches_(filter, topic)) out.insert(nodes.begin(), nodes.end());
    }
  }
  return out;
}

std::optional<Shard::Holder> Shard::client_holder(std::string_view client_id) const {
  std::lock_guard guard(lock_);
  auto it = clients_.find(client_id);
  if (it == clients_.end()) return std::nullopt;
  return it->second;
}

std::size_t Shard::entries() const {
  std::lock_guard guard(lock_);
  std::size_t n = clients_.size() + exact_.size();
  for (const auto& [key, filters] : wild_) n += filters.size();
  return n;
}

}  // namespace tidegate::lookup
