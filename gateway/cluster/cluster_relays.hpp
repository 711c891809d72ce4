#pragma once
// Cluster mode: sessions this gateway handed to another one, for the hold of
// their handover (docs/cluster.md, "Sessions across gateways"). A message
// for such a session's filters that reaches this gateway after its snapshot
// (a notify still on its way, a catch-up, a settling read) must reach the
// gateway the session went to as well; this registry says which gateways.
//
// Threads: add() runs on the handover's serving thread, end() on any thread,
// targets() on the fetch thread; one lock.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway/pipeline/subscription_trie.hpp"

namespace tidegate {

class MovedSessionRelays {
 public:
  using Clock = std::chrono::steady_clock;
  // Beyond, a new move replaces the relay that ends soonest (logged).
  static constexpr std::size_t kMaxRelays = 65536;

  // `client_id`'s session goes to gateway `to`: for `hold`, messages
  // matching `filters` (shared ones excluded: their group's consumer serves
  // them) go there too; `to`'s own messages only up to `own_up_to` (the later
  // ones are in its queues already). Replaces an earlier relay of the client.
  void add(const std::string& client_id, const std::string& to, std::vector<std::string> filters,
           std::uint64_t own_up_to, std::chrono::milliseconds hold);
  // The session stays here after all.
  void end(const std::string& client_id);
  // The gateways a message (its topic, stream sequence and appending
  // gateway) must be passed on to.
  std::set<std::string> targets(const std::string& topic, std::uint64_t seq, const std::string& origin);

 private:
  struct Relay {
    std::string to;
    std::vector<std::string> filters;
    std::uint64_t own_up_to = 0;
    Clock::time_point until;
  };
  void drop_locked(const std::string& client_id);
  void expire_locked(Clock::time_point now);  // at most once a second

  std::mutex lock_;
  std::unordered_map<std::string, Relay> relays_;  // by client id
  SubscriptionTrie<std::string> filters_;          // filter -> client id
  Clock::time_point next_expiry_{};
};

}  // namespace tidegate
