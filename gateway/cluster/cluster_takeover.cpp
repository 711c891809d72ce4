#include "gateway/cluster/cluster_takeover.hpp"

#include <optional>
#include <utility>

#include "gateway/cluster/cluster_notify_codec.hpp"
#include "gateway/ops/log.hpp"
#include "gateway/ops/metrics.hpp"

namespace tidegate {

ClusterTakeovers::ClusterTakeovers(std::string node, store::JetStreamClient& client, lookup::Lookup* lookup,
                                   SessionRegistry& registry, ControlThread& control)
    : node_(std::move(node)), client_(client), lookup_(lookup), registry_(registry), control_(control) {}

void ClusterTakeovers::announce_connect(const std::string& client_id, std::int64_t connected_ms) {
  if (stopped_) return;
  {
    std::lock_guard guard(connections_lock_);
    ++local_connections_[client_id];
  }
  control_.post([this, client_id, connected_ms] { send(client_id, connected_ms); });
}

void ClusterTakeovers::announce_disconnect(const std::string& client_id, bool session_kept) {
  {
    std::lock_guard guard(connections_lock_);
    auto it = local_connections_.find(client_id);
    if (it == local_connections_.end()) return;
    // A takeover here announces the new connection before the old one ends.
    if (--it->second > 0) return;
    local_connections_.erase(it);
  }
  if (lookup_ && !session_kept) lookup_->client_gone(client_id);
}

void ClusterTakeovers::send(const std::string& client_id, std::int64_t connected_ms, const std::string& to) {
  // u8 node length, node, u64 connected_ms, client id.
  std::string data;
  encode_cluster_notify_header(data, node_, static_cast<std::uint64_t>(connected_ms));
  data += client_id;
  std::string subject = to.empty() ? kConnectSubject : connect_subject(to);
  if (lookup_) {
    // The owner of the client's key swaps its holder for us in one step and
    // says who held it: only that gateway needs to hear about it.
    auto previous = lookup_->claim_client(client_id, connected_ms);
    log::debug("cluster: claim of '" + client_id + "': " +
               (!previous ? std::string("lookup cannot say") : !*previous ? std::string("held nowhere else") : "held by " + **previous));
    if (to.empty() && previous && !*previous) return;  // held nowhere else
    if (to.empty() && previous) subject = connect_subject(**previous);
  }
  Metrics::add(subject == kConnectSubject ? broadcast_ : targeted_);
  if (auto ec = client_.publish(subject, data))
    log::warn("cluster: connect of '" + client_id + "' not announced (" + ec.message() +
              "): another gateway may keep an older connection with it");
}

void ClusterTakeovers::on_announced(std::string_view data) {
  ClusterNotifyHeader header;
  if (data.empty() || data.size() < 1 + std::size_t(static_cast<unsigned char>(data[0])) + 8) return;
  std::size_t header_size = 1 + static_cast<unsigned char>(data[0]) + 8;
  decode_cluster_notify(data.substr(0, header_size), header, [](std::uint64_t, bool, std::string_view) {});
  std::string client_id(data.substr(header_size));
  notice(client_id, static_cast<std::int64_t>(header.counter), std::string(header.origin));
}

void ClusterTakeovers::notice(const std::string& client_id, std::int64_t claimed_at, const std::string& origin) {
  std::optional<SessionView> parked;
  if (auto owner = registry_.find(client_id, parked)) {
    // Claims reach the lookup in any order: if ours is the newer connection,
    // claim again and tell the other gateway to close its older one.
    owner->taken_over_elsewhere(claimed_at, origin.empty() || node_ < origin,
                                [this, client_id, origin](std::int64_t connected_ms) {
                                  control_.post([this, client_id, connected_ms, origin] {
                                    send(client_id, connected_ms, origin);
                                  });
                                });
  } else if (parked && registry_.end_parked(client_id)) {
    Metrics::add(ended_);
    if (lookup_) lookup_->client_gone(client_id);
    log::info("session '" + client_id + "' ended: its client connected on " +
              (origin.empty() ? std::string("another gateway") : "gateway '" + origin + "'"));
  }
}

void ClusterTakeovers::fill(ClusterStats& s) const {
  s.takeovers = ended_.load(std::memory_order_relaxed);
  s.takeover_targeted = targeted_.load(std::memory_order_relaxed);
  s.takeover_broadcast = broadcast_.load(std::memory_order_relaxed);
}

}  // namespace tidegate
