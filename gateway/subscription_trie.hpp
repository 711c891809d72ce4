#pragma once
// A trie of topic filters split at '/', with values at the node where a filter
// ends. match() walks exact, '+' and '#' branches, honouring the '$' rule.
//
// Not thread-safe: each owner (the ingest thread's live-queue trie) keeps its own.
#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/topic_match.hpp"

namespace tidegate {

template <typename Value>
class SubscriptionTrie {
 public:
  void insert(std::string_view filter, Value value) { node_for(filter).values.push_back(std::move(value)); }

  // Removes one value equal to `value` under `filter`; prunes empty branches.
  bool erase(std::string_view filter, const Value& value) {
    auto levels = split_levels(filter);
    return erase_at(root_, levels, 0, value);
  }

  template <typename Visitor>  // void(const Value&)
  void match(std::string_view topic, Visitor&& visit) const {
    auto levels = split_levels(topic);
    bool dollar = !topic.empty() && topic[0] == '$';
    match_at(root_, levels, 0, dollar, visit);
  }

  bool empty() const { return root_.children.empty() && root_.values.empty(); }

 private:
  struct Node {
    std::unordered_map<std::string, std::unique_ptr<Node>> children;
    std::vector<Value> values;
  };

  Node& node_for(std::string_view filter) {
    Node* n = &root_;
    for (auto level : split_levels(filter)) {
      auto& child = n->children[std::string(level)];
      if (!child) child = std::make_unique<Node>();
      n = child.get();
    }
    return *n;
  }

  bool erase_at(Node& n, const std::vector<std::string_view>& levels, std::size_t i, const Value& value) {
    if (i == levels.size()) {
      auto it = std::find(n.values.begin(), n.values.end(), value);
      if (it == n.values.end()) return false;
      n.values.erase(it);
      return true;
    }
    auto child = n.children.find(std::string(levels[i]));
    if (child == n.children.end()) return false;
    bool erased = erase_at(*child->second, levels, i + 1, value);
    if (erased && child->second->children.empty() && child->second->values.empty()) n.children.erase(child);
    return erased;
  }

  template <typename Visitor>
  static void match_at(const Node& n, const std::vector<std::string_view>& levels, std::size_t i, bool dollar,
                       Visitor& visit) {
    // '#' matches this level and everything below, including the parent itself.
    if (auto hash = n.children.find("#"); hash != n.children.end() && !(dollar && i == 0))
      for (const auto& v : hash->second->values) visit(v);
    if (i == levels.size()) {
      for (const auto& v : n.values) visit(v);
      return;
    }
    if (auto exact = n.children.find(std::string(levels[i])); exact != n.children.end())
      match_at(*exact->second, levels, i + 1, dollar, visit);
    if (auto plus = n.children.find("+"); plus != n.children.end() && !(dollar && i == 0))
      match_at(*plus->second, levels, i + 1, dollar, visit);
  }

  Node root_;
};

}  // namespace tidegate
