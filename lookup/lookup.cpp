#include "lookup/lookup.hpp"

#include "lookup/keys.hpp"

#include <algorithm>
#include <utility>

namespace tidegate::lookup {

using json = nlohmann::json;

namespace {
json clients_json(const std::vector<ClientEntry>& clients) {
  json out = json::array();
  for (const auto& c : clients) out.push_back(json::array({c.id, c.since_ms}));
  return out;
}
std::vector<ClientEntry> clients_from(const json& j) {
  std::vector<ClientEntry> out;
  for (const auto& c : j) out.push_back({c.at(0).get<std::string>(), c.at(1).get<std::int64_t>()});
  return out;
}
}  // namespace

Lookup::Lookup(LookupOptions options, Shard::Matcher matcher, Publish publish, Superseded superseded)
    : options_(std::move(options)),
      incarnation_(static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count())),
      shard_(std::move(matcher)),
      publish_(std::move(publish)),
      superseded_(std::move(superseded)),
      server_(options_.bind, options_.port, [this](const json& request) { return handle(request); }) {
  if (options_.advertise.empty()) options_.advertise = options_.bind;
  std::lock_guard guard(lock_);
  rebuild_table_locked();
}

Lookup::~Lookup() { stop(); }

void Lookup::start() {
  {
    std::lock_guard guard(lock_);
    started_ = Clock::now();
  }
  server_.start();
  ticker_ = std::thread([this] { tick(); });
}

void Lookup::stop() {
  {
    std::lock_guard guard(lock_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_one();
  settled_.notify_all();
  if (ticker_.joinable()) ticker_.join();
  server_.stop();
}

void Lookup::rebuild_table_locked() {
  std::vector<Member> members{{options_.node, incarnation_}};
  for (const auto& [node, peer] : peers_) members.push_back({node, peer.incarnation});
  table_ = SlotTable(std::move(members));
  ++counters_.epoch_changes;
  // Every owner of the new table needs this gateway's state (for its keys).
  dirty_owners_.clear();
  for (const auto& m : table_.members()) dirty_owners_.insert(m.node);
  wake_.notify_one();
}

std::string Lookup::heartbeat_locked() const {
  return json{{"node", options_.node},
              {"host", options_.advertise},
              {"port", server_.port()},
              {"incarnation", incarnation_},
              {"epoch", table_.epoch()},
              {"complete", dirty_owners_.empty()}}
      .dump();
}

void Lookup::on_heartbeat(std::string_view payload) {
  json hb;
  try {
    hb = json::parse(payload);
  } catch (const std::exception&) {
    return;
  }
  if (!hb.is_object() || !hb.contains("node") || !hb["node"].is_string()) return;
  std::string node = hb["node"];
  if (node == options_.node) return;
  std::lock_guard guard(lock_);
  auto [it, added] = peers_.try_emplace(node);
  Peer& p = it->second;
  std::uint64_t incarnation = hb.value("incarnation", std::uint64_t{0});
  bool restarted = !added && p.incarnation != incarnation;
  if (restarted) shard_.drop_node(node);  // what its previous life announced
  p.host = hb.value("host", std::string());
  p.port = hb.value("port", std::uint16_t{0});
  p.incarnation = incarnation;
  std::uint64_t epoch = hb.value("epoch", std::uint64_t{0});
  if (!added && epoch != p.epoch) {
    // Its view changed (it lost or found a member, maybe us): owners may have
    // dropped what we told them while we were out of their view. Tell again.
    for (const auto& m : table_.members()) dirty_owners_.insert(m.node);
    wake_.notify_one();
  }
  p.epoch = epoch;
  p.complete = hb.value("complete", false);
  p.heard = Clock::now();
  if (added || restarted) rebuild_table_locked();
  settled_.notify_all();
}

bool Lookup::visible_locked() const {
  if (started_ == Clock::time_point{} || Clock::now() - started_ < options_.member_timeout) return false;
  if (!dirty_owners_.empty()) return false;
  for (const auto& [node, p] : peers_)
    if (p.epoch != table_.epoch()) return false;
  return true;
}

bool Lookup::stable_locked() const {
  if (!visible_locked()) return false;
  for (const auto& [node, p] : peers_)
    if (!p.complete) return false;
  return true;
}

NodeState Lookup::state_for_owner_locked(const std::string& owner) const {
  NodeState s;
  for (const auto& [id, since] : local_clients_)
    if (table_.owner_of(client_key(id)) == owner) s.clients.push_back({id, since});
  for (const auto& f : local_filters_)
    if (table_.owner_of(route_key(f)) == owner) s.filters.push_back(f);
  return s;
}

std::string Lookup::key_of(const Change& c) const { return c.client ? client_key(c.value) : route_key(c.value); }

std::optional<json> Lookup::ask(const std::string& owner, const json& request) {
  if (owner == options_.node) return handle(request);
  std::string host;
  std::uint16_t port = 0;
  {
    std::lock_guard guard(lock_);
    auto it = peers_.find(owner);
    if (it == peers_.end()) return std::nullopt;
    host = it->second.host;
    port = it->second.port;
  }
  std::string error;
  return rpc_call(host, port, request, options_.rpc_timeout, error);
}

json Lookup::handle(const json& request) {
  const std::string op = request.value("op", std::string());
  const std::string node = request.value("node", std::string());
  auto state_of = [&] {
    NodeState s;
    if (request.contains("clients")) s.clients = clients_from(request["clients"]);
    if (request.contains("filters")) s.filters = request["filters"].get<std::vector<std::string>>();
    return s;
  };
  std::uint64_t epoch = 0;
  {
    std::lock_guard guard(lock_);
    epoch = table_.epoch();
  }
  if (op == "replace") return {{"ok", true}, {"superseded", clients_json(shard_.replace(node, state_of()))}};
  if (op == "add") return {{"ok", true}, {"superseded", clients_json(shard_.add(node, state_of()))}};
  if (op == "remove") {
    shard_.remove(node, state_of());
    return {{"ok", true}};
  }
  if (op == "claim") {
    // One step at the owner: the previous holder and the new one.
    ClientEntry client{request.value("client", std::string()), request.value("since", std::int64_t{0})};
    auto previous = shard_.claim(node, client);
    json answer{{"ok", request.value("epoch", std::uint64_t{0}) == epoch}, {"reason", "epoch"}};
    answer["previous"] = previous ? json(previous->node) : json(nullptr);
    return answer;
  }
  if (op == "holder") {
    if (request.value("epoch", std::uint64_t{0}) != epoch) return {{"ok", false}, {"reason", "epoch"}};
    auto holder = shard_.client_holder(request.value("client", std::string()));
    return {{"ok", true}, {"holder", holder ? json(holder->node) : json(nullptr)}};
  }
  if (op == "query") {
    if (request.value("epoch", std::uint64_t{0}) != epoch) return {{"ok", false}, {"reason", "epoch"}};
    json nodes = json::array();
    for (const auto& t : request.at("topics")) {
      auto found = shard_.nodes_for(t.at("topic").get<std::string>(), t.at("keys").get<std::vector<std::string>>());
      nodes.push_back(found);
    }
    return {{"ok", true}, {"nodes", nodes}};
  }
  return {{"ok", false}, {"reason", "unknown op '" + op + "'"}};
}

bool Lookup::route_added(const std::string& filter) {
  std::string owner;
  {
    std::lock_guard guard(lock_);
    local_filters_.insert(filter);
    ++state_generation_;
    owner = table_.owner_of(route_key(filter));
    if (dirty_owners_.count(owner)) return false;  // its full announcement will carry it
  }
  auto answer = ask(owner, json{{"op", "add"}, {"node", options_.node}, {"filters", {filter}}});
  if (answer && answer->value("ok", false)) return true;
  std::lock_guard guard(lock_);
  dirty_owners_.insert(owner);
  wake_.notify_one();
  return false;
}

void Lookup::route_removed(const std::string& filter) {
  std::lock_guard guard(lock_);
  local_filters_.erase(filter);
  ++state_generation_;
  changes_.push_back({false, false, filter});
  wake_.notify_one();
}

void Lookup::note_client(const std::string& client_id, std::int64_t since_ms) {
  std::lock_guard guard(lock_);
  local_clients_.emplace(client_id, since_ms);
  ++state_generation_;
}

void Lookup::client_gone(const std::string& client_id) {
  std::lock_guard guard(lock_);
  local_clients_.erase(client_id);
  ++state_generation_;
  changes_.push_back({false, true, client_id});
  wake_.notify_one();
}

std::optional<std::optional<std::string>> Lookup::claim_client(const std::string& client_id, std::int64_t since_ms) {
  std::string owner;
  std::uint64_t epoch = 0;
  bool stable = false;
  {
    std::lock_guard guard(lock_);
    local_clients_[client_id] = since_ms;
    ++state_generation_;
    owner = table_.owner_of(client_key(client_id));
    epoch = table_.epoch();
    stable = stable_locked();
  }
  auto answer = ask(owner, json{{"op", "claim"}, {"node", options_.node}, {"client", client_id}, {"since", since_ms},
                                {"epoch", epoch}});
  std::lock_guard guard(lock_);
  if (!answer) {
    dirty_owners_.insert(owner);  // the claim is in this gateway's next full announcement
    wake_.notify_one();
  } else if (!stable) {
    ++counters_.fallback_unstable;
    return std::nullopt;
  }
  return gateway_named_locked(answer, "previous");
}

bool Lookup::answer_usable_locked(const std::optional<json>& answer) {
  if (!answer) {
    ++counters_.fallback_unreachable;
    return false;
  }
  if (!answer->value("ok", false)) {
    ++counters_.fallback_epoch;
    return false;
  }
  return true;
}

std::optional<std::optional<std::string>> Lookup::gateway_named_locked(const std::optional<json>& answer,
                                                                       const char* field) {
  if (!answer_usable_locked(answer)) return std::nullopt;
  ++counters_.answered;
  const json node = answer->value(field, json());
  if (node.is_string() && node.get<std::string>() != options_.node) return std::optional<std::string>(node.get<std::string>());
  return std::optional<std::string>();
}

bool Lookup::state_visible() const {
  std::lock_guard guard(lock_);
  return visible_locked();
}

std::optional<std::optional<std::string>> Lookup::holder_of(const std::string& client_id,
                                                            std::chrono::milliseconds settle_wait) {
  const auto deadline = Clock::now() + settle_wait;
  for (;;) {
    std::string owner;
    std::uint64_t epoch = 0;
    {
      std::unique_lock guard(lock_);
      // Re-checked at every heartbeat and round of announcements, and at
      // least every 50 ms (stability also comes with time: member_timeout
      // after start, or once a member that stopped answering is gone).
      while (!stable_locked() && !stopping_ && Clock::now() < deadline)
        settled_.wait_until(guard, std::min(deadline, Clock::now() + std::chrono::milliseconds(50)));
      if (!stable_locked()) {
        ++counters_.fallback_unstable;
        return std::nullopt;
      }
      owner = table_.owner_of(client_key(client_id));
      epoch = table_.epoch();
    }
    auto answer = ask(owner, json{{"op", "holder"}, {"client", client_id}, {"epoch", epoch}});
    std::unique_lock guard(lock_);
    // An owner that does not answer (it died and is not yet gone from the
    // members) or is on another epoch: ask again until the members settle.
    // The answer (or the fallback) is counted once, for the last try.
    const bool usable = answer && answer->value("ok", false);
    if (usable || stopping_ || Clock::now() >= deadline) return gateway_named_locked(answer, "holder");
    settled_.wait_until(guard, std::min(deadline, Clock::now() + std::chrono::milliseconds(50)));
  }
}

std::optional<std::map<std::string, std::set<std::string>>> Lookup::nodes_for(const std::vector<std::string>& topics) {
  std::map<std::string, json> requests;  // owner -> its part of the question
  {
    std::lock_guard guard(lock_);
    if (!stable_locked()) {
      ++counters_.fallback_unstable;
      return std::nullopt;
    }
    for (const auto& topic : topics) {
      std::map<std::string, std::vector<std::string>> keys_by_owner;
      for (auto& key : topic_keys(topic)) keys_by_owner[table_.owner_of(key)].push_back(std::move(key));
      for (auto& [owner, keys] : keys_by_owner) {
        auto& r = requests[owner];
        if (r.is_null()) r = json{{"op", "query"}, {"epoch", table_.epoch()}, {"topics", json::array()}};
        r["topics"].push_back(json{{"topic", topic}, {"keys", keys}});
      }
    }
  }
  std::map<std::string, std::set<std::string>> out;
  for (const auto& topic : topics) out[topic];
  for (const auto& [owner, request] : requests) {
    auto answer = ask(owner, request);
    std::lock_guard guard(lock_);
    if (!answer_usable_locked(answer)) return std::nullopt;
    const auto& asked = request["topics"];
    const auto& nodes = (*answer)["nodes"];
    for (std::size_t i = 0; i < asked.size() && i < nodes.size(); ++i)
      for (const auto& n : nodes[i]) out[asked[i]["topic"].get<std::string>()].insert(n.get<std::string>());
  }
  std::lock_guard guard(lock_);
  ++counters_.answered;
  return out;
}

void Lookup::tick() {
  std::unique_lock guard(lock_);
  auto next_heartbeat = Clock::now();
  while (!stopping_) {
    auto now = Clock::now();
    // Members not heard for member_timeout are gone, with what they announced.
    std::vector<std::string> lost;
    for (auto it = peers_.begin(); it != peers_.end();) {
      if (now - it->second.heard > options_.member_timeout) {
        lost.push_back(it->first);
        it = peers_.erase(it);
      } else {
        ++it;
      }
    }
    for (const auto& node : lost) shard_.drop_node(node);
    if (!lost.empty()) rebuild_table_locked();

    // Full announcements to the owners that need them, then single changes.
    std::vector<std::pair<std::string, json>> announcements;
    for (const auto& owner : dirty_owners_) {
      auto s = state_for_owner_locked(owner);
      announcements.emplace_back(owner, json{{"op", "replace"}, {"node", options_.node},
                                             {"clients", clients_json(s.clients)}, {"filters", s.filters}});
    }
    auto changes = std::exchange(changes_, {});
    std::uint64_t epoch = table_.epoch();
    std::uint64_t generation = state_generation_;
    guard.unlock();
    for (const auto& [owner, request] : announcements) {
      heartbeat_if_due(next_heartbeat);
      auto answer = ask(owner, request);
      if (answer && answer->value("ok", false)) {
        {
          std::lock_guard relock(lock_);
          if (table_.epoch() == epoch && state_generation_ == generation) dirty_owners_.erase(owner);
        }
        // Clients that connected elsewhere after they connected here.
        if (answer->contains("superseded") && superseded_)
          for (const auto& c : clients_from((*answer)["superseded"])) superseded_(c.id, c.since_ms);
      }
    }
    for (const auto& c : changes) {
      heartbeat_if_due(next_heartbeat);
      std::string owner;
      {
        std::lock_guard relock(lock_);
        owner = table_.owner_of(key_of(c));
        if (dirty_owners_.count(owner)) continue;  // the full announcement covers it
        // Removed, then added again before this went out: the add was sent
        // directly, and this older remove must not overtake it.
        bool back = c.client ? local_clients_.count(c.value) > 0 : local_filters_.count(c.value) > 0;
        if (!c.add && back) continue;
      }
      json request{{"op", c.add ? "add" : "remove"}, {"node", options_.node}};
      if (c.client)
        request["clients"] = clients_json({{c.value, 0}});
      else
        request["filters"] = json::array({c.value});
      auto answer = ask(owner, request);
      if (!answer || !answer->value("ok", false)) {
        std::lock_guard relock(lock_);
        dirty_owners_.insert(owner);
      }
    }
    heartbeat_if_due(next_heartbeat);
    guard.lock();
    settled_.notify_all();
    if (stopping_) break;
    // Wake for the next heartbeat, or at once for new work.
    wake_.wait_until(guard, next_heartbeat, [this] { return stopping_ || !changes_.empty() || !dirty_owners_.empty(); });
    // A failing owner is retried at the heartbeat's pace, not in a busy loop.
    if (!dirty_owners_.empty() && changes_.empty() && Clock::now() < next_heartbeat)
      wake_.wait_until(guard, std::min(next_heartbeat, Clock::now() + std::chrono::milliseconds(50)));
  }
}

void Lookup::heartbeat_if_due(Clock::time_point& next) {
  // Also between announcements: a few unreachable owners (each up to
  // rpc_timeout) must not make this gateway look gone to the others.
  if (Clock::now() < next) return;
  std::string hb;
  {
    std::lock_guard guard(lock_);
    hb = heartbeat_locked();
  }
  publish_(hb);
  next = Clock::now() + options_.heartbeat;
}

LookupStats Lookup::stats() const {
  std::lock_guard guard(lock_);
  LookupStats s = counters_;
  s.epoch = table_.epoch();
  s.members.push_back(options_.node + "@" + options_.advertise + ":" + std::to_string(server_.port()));
  for (const auto& [node, p] : peers_) s.members.push_back(node + "@" + p.host + ":" + std::to_string(p.port));
  std::sort(s.members.begin(), s.members.end());
  s.stable = stable_locked();
  s.complete = dirty_owners_.empty();
  s.slots_owned = table_.slots_owned_by(options_.node);
  s.entries = shard_.entries();
  return s;
}

std::string Lookup::owner_of(std::string_view key) const {
  std::lock_guard guard(lock_);
  return table_.owner_of(key);
}

}  // namespace tidegate::lookup
