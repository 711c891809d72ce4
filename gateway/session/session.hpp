#pragma once
// A device's session (MQTT 4.1): everything that outlives one network
// connection. I/O-free; owned by exactly one thread at a time: the worker of
// the connection it is attached to, or the session registry while offline.
//
// Delivery state: each subscription reads one queue; a QueueCursor keeps the
// last sequence taken from it. Messages sent at QoS 1/2 wait in `inflight`
// until acknowledged. For a persistent session the committed offset of a queue
// is that last sequence taken, and every inflight message has its own record in
// the store (inflight_record.hpp), so after a restart it is resent with its
// packet id (docs/design.md, "Pulling and pushing"; docs/durability.md).
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/container/devector.hpp>

#include "cache/queue_cache.hpp"
#include "gateway/codec/packet.hpp"
#include "storeclient/message.hpp"

namespace tidegate {

inline constexpr std::uint32_t kSessionNeverExpires = 0xFFFFFFFF;

struct SubscriptionOptions {
  std::uint8_t qos = 0;
  bool no_local = false;
  bool retain_as_published = false;
  std::uint8_t retain_handling = 0;
  std::optional<std::uint32_t> subscription_id;
};

struct Subscription {
  std::string filter;
  std::string queue;  // the queue this subscription reads (see Ingest)
  SubscriptionOptions options;
};

// QueueCursor::saved before the first write of a new subscription's offset.
inline constexpr std::uint64_t kNeverSaved = UINT64_MAX;

struct QueueCursor {
  std::uint64_t position = 0;  // last sequence taken from the queue
  std::uint64_t saved = 0;     // last committed offset written to the store
  // Connection-lifetime read-ahead from the cache, and the newest sequence
  // the notify channel announced (UINT64_MAX: unknown, pull to find out).
  boost::container::devector<store::MessagePtr> prefetch;
  std::uint64_t announced = UINT64_MAX;
  cache::QueueCache::ReadMark read_mark;  // counts exactly what a slow reader lost (queue_cache.hpp)
  bool behind_retention_reported = false;
};

// A QoS 1/2 message sent and not yet acknowledged. For a persistent session
// each one is also a record in the store (inflight_record.hpp: packet id,
// sequence, QoS, state), written before its PUBLISH goes out; `resend` is
// this connection's only.
struct InflightMessage {
  std::uint16_t packet_id = 0;
  store::MessagePtr message;
  std::uint8_t qos = 1;
  bool retain = false;
  bool pubrec_received = false;         // QoS 2: now waiting for PUBCOMP
  std::vector<std::string> queues;      // queues whose offsets wait on it
  std::vector<std::uint32_t> subscription_ids;
  bool resend = false;                  // to go out again (DUP) on this connection, within the window
};

// Cluster mode: a message that was waiting for this session on the gateway
// it came from (cluster_handover.hpp), to go out before anything queued here.
struct HandedMessage {
  store::MessagePtr message;
  std::uint8_t qos = 0;  // as the subscriptions give it (the lower of message and subscription)
  bool retain = false;
  std::vector<std::uint32_t> subscription_ids;
};

// The offsets-table key of Session::handed_taken: U+0000 is in no MQTT
// filter, so no queue has this name.
inline const std::string kHandedProgressQueue("\0handed", 7);

// Who a session belongs to (docs/security.md, "Sessions belong to an
// identity"): the user name its client authenticated with (with
// use_identity_as_username, the certificate's), or anonymous, which is an
// identity of its own.
struct SessionIdentity {
  std::optional<std::string> username;  // nullopt: anonymous
  bool operator==(const SessionIdentity&) const = default;
  std::string describe() const { return username ? "user '" + *username + "'" : "anonymous"; }
};

struct PendingWill {
  mqtt::Will will;
  std::int64_t publish_at_ms = 0;  // wall clock; Will Delay Interval applied
};

class Session {
 public:
  Session(std::string client_id, mqtt::ProtocolVersion version) : version(version), client_id_(std::move(client_id)) {}

  const std::string& client_id() const { return client_id_; }
  bool persistent() const { return expiry_interval > 0; }

  // A packet identifier not used by any message in flight to the client.
  std::uint16_t allocate_packet_id();
  InflightMessage* find_inflight(std::uint16_t packet_id);
  // Removes the entry and returns the queues whose committed offset may move.
  std::vector<std::string> erase_inflight(std::uint16_t packet_id);
  // Sequence before the first unacknowledged message of `queue`.
  std::uint64_t committed(const std::string& queue) const;
  // Subscriptions whose queue is `queue` (one, but shared and exact filters may meet).
  const Subscription* subscription_for_queue(const std::string& queue) const;

  mqtt::ProtocolVersion version;
  std::uint32_t expiry_interval = 0;  // seconds; kSessionNeverExpires for 3.1.1 persistent sessions
  // Who created it; nullopt for a record written before sessions recorded
  // their owner (the next client to connect with the id takes it).
  std::optional<SessionIdentity> owner;
  std::map<std::string, Subscription> subscriptions;  // by filter
  std::map<std::string, QueueCursor> cursors;         // by queue
  // devector, not deque: an empty one allocates nothing (a deque allocates
  // 576 bytes when constructed, which every idle session paid three times).
  boost::container::devector<InflightMessage> inflight;  // in send order
  std::set<std::uint16_t> qos2_incoming;              // PUBREC sent, PUBREL awaited
  // Behind pointers, not std::optional: a Will is 560 bytes that most
  // sessions never use.
  std::unique_ptr<mqtt::Will> will;                   // of the current connection
  std::unique_ptr<PendingWill> pending_will;          // set while offline, before Will Delay passes
  boost::container::devector<std::pair<store::MessagePtr, SubscriptionOptions>> retained_pending;  // from SUBSCRIBE
  // Handed over from another gateway, in their order there. Persisted as a
  // list in the record (`handed_json`, written once and copied unchanged into
  // every later record) and a count of those gone out (`handed_taken`, an
  // offset under kHandedProgressQueue, saved with the inflight records of
  // what went out): progress costs one small write, not a new list.
  boost::container::devector<HandedMessage> handed;
  std::string handed_json;        // the persisted list (JSON array); empty: none
  std::uint64_t handed_taken = 0; // entries of that list gone out (no longer in `handed`)
  // Makes the persisted list what `handed` holds now (handed_taken 0).
  void rebase_handed();
  // The stream sequences of what came with the handover (handed and inflight):
  // the same messages reaching this gateway's queues as well go out once.
  // In memory, one per handed message at most, until that duplicate arrives.
  // (Messages reloaded from the store after a restart carry no stream
  // sequence: the duplicates of a handover interrupted by one are not caught.)
  std::set<std::uint64_t> handed_stream_seqs;
  std::int64_t disconnected_at_ms = 0;

  // Traffic of this session since it began (or since the gateway started, for
  // one restored from the store): PUBLISH packets and bytes on the wire, both
  // ways. Counted by the owning worker. These counters are not persisted (a
  // session restored from the store starts from 0); its inflight messages and
  // queue positions are (see the top of this file).
  struct Traffic {
    std::uint64_t messages_in = 0, messages_out = 0, bytes_in = 0, bytes_out = 0;
  } traffic;

 private:
  std::string client_id_;
  std::uint16_t next_packet_id_ = 1;
};

// The persisted form of a session (the `sessions` table value): JSON, so a
// future schema can add fields and old records stay readable. Offsets are
// stored separately, per queue, and so are inflight records (inflight_record.hpp).
std::string encode_session_record(const Session& session);
// Returns nullopt for a record it cannot read (logged by the caller).
std::optional<Session> decode_session_record(const std::string& client_id, const std::string& record);

}  // namespace tidegate
