#pragma once
// What cluster mode reports (Cluster::stats(), gateway/cluster/cluster.hpp): /metrics and the admin API.
#include <cstddef>
#include <cstdint>
#include <string>

#include "lookup/lookup.hpp"

namespace tidegate {

struct ClusterStats {
  std::string node;
  std::uint64_t appended = 0;        // messages JetStream acknowledged
  std::uint64_t append_errors = 0;   // refused or not acknowledged in time: not acknowledged to the client
  std::uint64_t events_sent = 0;     // notify messages published (one per batch)
  std::uint64_t events_received = 0; // message events from other gateways
  std::uint64_t fetched = 0;         // of those, read from the stream (a local filter matched, or retained)
  std::uint64_t skipped = 0;         // of those, no live filter here: not read
  std::uint64_t fetch_errors = 0;    // could not be read (store unreachable): lost for this node's subscribers
  std::uint64_t catch_ups = 0;          // stream scans after a lost notify (gap or reconnect)
  std::uint64_t caught_up = 0;          // messages those scans delivered
  std::uint64_t takeovers = 0;          // parked sessions ended because their client connected elsewhere
  std::uint64_t settle_reads = 0;       // stream reads for routes that went live here while the lookup settled
  std::uint64_t settled = 0;            // messages those reads delivered (a notify the lookup sent elsewhere)
  std::size_t settling = 0;             // routes still waiting for the lookup to show them everywhere
  std::uint64_t relayed = 0;            // events passed on to the gateway a session moved to
  std::uint64_t group_received = 0;    // shared-group messages JetStream gave this gateway
  std::uint64_t group_redelivered = 0; // of those, handed back (no member here any more)
  std::uint64_t group_errors = 0;      // group consumers that could not be set up (retried each second)
  std::size_t groups = 0;              // shared groups with members here
  std::size_t fetch_backlog = 0;      // events waiting for the fetch thread
  std::uint64_t notify_targeted = 0;   // notify messages sent to the gateways the lookup named
  std::uint64_t notify_broadcast = 0;  // notify messages sent to every gateway (lookup off or unable to answer)
  std::uint64_t takeover_targeted = 0;  // takeovers sent to the gateway the lookup named
  std::uint64_t takeover_broadcast = 0;
  // Persistent sessions moved between gateways (cluster_handover.hpp).
  std::uint64_t sessions_fetched = 0;   // taken over from another gateway
  std::uint64_t sessions_handed = 0;    // given to another gateway (confirmed)
  std::uint64_t sessions_returned = 0;  // given, never confirmed: parked here again
  std::uint64_t session_fetch_failures = 0;  // asked for and not received (the client starts a new one)
  bool lookup_enabled = false;
  lookup::LookupStats lookup;
  std::size_t pending_appends = 0;   // appends awaiting JetStream's ack
  bool connected = false;
};

}  // namespace tidegate
