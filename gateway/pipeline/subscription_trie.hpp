#pragma once
// A trie of topic filters split at '/', with values at the node where a filter
// ends. match() walks exact, '+' and '#' branches, honouring the '$' rule.
//
// Not thread-safe: each owner (the ingest thread's live-queue trie) keeps its own.
//
// match() runs for every publish on the ingest thread, so it walks the topic
// in place: no vector of levels and no std::string per lookup (the child maps
// take string_view keys directly).
#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/pipeline/topic_match.hpp"

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
    bool dollar = !topic.empty() && topic[0] == '$';
    match_at(root_, topic, 0, true, dollar, visit);
  }

  bool empty() const { return root_.empty(); }

 private:
  // Heterogeneous lookup: find() with a string_view builds no std::string.
  struct LevelHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // '+' and '#' children have their own slots: every match consults both at
  // every level, and a pointer test is cheaper than hashing "+" and "#".
  struct Node {
    std::unordered_map<std::string, std::unique_ptr<Node>, LevelHash, std::equal_to<>> children;  // exact levels
    std::unique_ptr<Node> plus, hash;
    std::vector<Value> values;
    bool empty() const { return children.empty() && !plus && !hash && values.empty(); }
  };

  static std::unique_ptr<Node>* slot(Node& n, std::string_view level) {
    if (level == "+") return &n.plus;
    if (level == "#") return &n.hash;
    auto it = n.children.find(level);
    return it == n.children.end() ? nullptr : &it->second;
  }

  Node& node_for(std::string_view filter) {
    Node* n = &root_;
    for (auto level : split_levels(filter)) {
      std::unique_ptr<Node>* child = slot(*n, level);
      if (!child) child = &n->children[std::string(level)];
      if (!*child) *child = std::make_unique<Node>();
      n = child->get();
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
    std::unique_ptr<Node>* child = slot(n, levels[i]);
    if (!child || !*child) return false;
    bool erased = erase_at(**child, levels, i + 1, value);
    if (erased && (*child)->empty()) {
      if (child == &n.plus || child == &n.hash)
        child->reset();
      else
        n.children.erase(n.children.find(levels[i]));
    }
    return erased;
  }

  // `rest`: the topic from the level this node's children match; `more`:
  // whether such a level exists (false once the topic's last level is consumed;
  // "a/" has an empty last level, so emptiness alone cannot say it).
  template <typename Visitor>
  static void match_at(const Node& n, std::string_view rest, std::size_t depth, bool more, bool dollar,
                       Visitor& visit) {
    // MQTT-4.7.2-1: wildcards at the first level do not match '$' topics.
    const bool wild = !(dollar && depth == 0);
    // '#' matches this level and everything below, including the parent itself.
    if (n.hash && wild)
      for (const auto& v : n.hash->values) visit(v);
    if (!more) {
      for (const auto& v : n.values) visit(v);
      return;
    }
    std::size_t slash = rest.find('/');
    std::string_view level = rest.substr(0, slash);
    std::string_view next = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    bool next_more = slash != std::string_view::npos;
    if (!n.children.empty())
      if (auto exact = n.children.find(level); exact != n.children.end())
        match_at(*exact->second, next, depth + 1, next_more, dollar, visit);
    if (n.plus && wild) match_at(*n.plus, next, depth + 1, next_more, dollar, visit);
  }

  Node root_;
};

}  // namespace tidegate
