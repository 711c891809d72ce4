#pragma once
// Outbound delivery of a session over its connection, for both roles (a
// device, a bridge's link): pulling from the queues the session reads, merging
// them by sequence, the inflight window, acknowledgements and resends, and
// the committed offset of a persistent session with the bytes held behind it
// (docs/design.md, "Pulling and pushing"). Worker thread only.
//
// Part of its ConnectionDriver (a member of it, with a reference back): it
// sends through the driver's output and reads the driver's session.
// Files: session_delivery.cpp (pull, merge, send), delivery_acks.cpp
// (acknowledgements, resends, progress and held bytes).
#include <boost/container/devector.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "gateway/codec/packet.hpp"
#include "gateway/pipeline/ingest.hpp"
#include "gateway/session/session.hpp"
#include "storeclient/message.hpp"

namespace tidegate {

class ConnectionDriver;

class SessionDelivery {
 public:
  explicit SessionDelivery(ConnectionDriver& connection) : c_(connection) {}

  void on_queue_event(const std::string& queue, std::uint64_t last_seq);
  // A delivery pass soon (posted: the worker's other connections go first).
  void schedule();
  void handle_ack(const mqtt::PubResponse& ack);
  // At CONNACK: unacknowledged PUBLISH (DUP) and PUBREL go out again.
  void resend_inflight();
  // Persistent sessions: writes changed queue positions and inflight records
  // in one transaction; PUBLISH bytes held behind it go out once it commits.
  void flush_progress();
  // The queue's position changed: written by the next flush_progress().
  void mark_dirty(const std::string& queue) { dirty_offsets_.push_back(queue); }
  // What the next flush_progress() writes besides the offsets.
  Ingest::SessionProgress& progress() { return progress_; }
  // Held bytes are never sent (the connection ends): the inflight entries go out again on reconnect.
  void drop_held() {
    held_.clear();
    hold_chunks_.clear();
    chunked_bytes_ = 0;
  }
  std::size_t held_bytes() const { return held_.size(); }

 private:
  void deliver();
  // Retained messages from SUBSCRIBE, then those handed over (cluster): true when one was taken.
  bool deliver_retained(bool& more);
  bool deliver_handed(bool& more);
  bool deliver_one();
  // Pulls from the cache into each cursor's prefetch; the lowest sequence
  // waiting (UINT64_MAX: none).
  std::uint64_t pull();
  bool may_read(const store::Message& message);  // false: counted as dropped_total{reason="acl"}
  bool send_message(const store::MessagePtr& message, std::uint8_t qos, bool retain,
                    std::vector<std::string> queues, std::vector<std::uint32_t> subscription_ids);
  // The bytes shared by every delivery of the message (shared_publish.hpp); false when not shareable.
  bool send_shared(const store::MessagePtr& message, std::uint8_t qos, bool retain, std::vector<std::string>& queues,
                   std::vector<std::uint32_t>& subscription_ids, bool& sent);
  // The inflight entry (QoS 1/2) and the counters of one delivery; its packet id (0 for QoS 0).
  std::uint16_t track(const store::MessagePtr& message, std::uint8_t qos, bool retain,
                      std::vector<std::string> queues, std::vector<std::uint32_t> subscription_ids);
  bool resend_within_window();
  // One inflight entry again; false when the connection closed meanwhile.
  using InflightIterator = boost::container::devector<InflightMessage>::iterator;
  bool resend(InflightIterator& it, std::size_t& on_wire, std::int64_t now);
  void release_held();
  std::size_t window() const;

  ConnectionDriver& c_;
  bool scheduled_ = false;
  std::vector<std::string> dirty_offsets_;
  std::vector<const std::string*> matched_queues_;  // deliver_one's scratch, kept for its capacity
  Ingest::SessionProgress progress_;
  // PUBLISH bytes of a persistent session waiting for their inflight records
  // to commit, so a crash can never resend a message under another packet id.
  std::string held_;
  boost::container::devector<std::size_t> hold_chunks_;  // bytes released by each pending commit, in order
  std::size_t chunked_bytes_ = 0;
};

}  // namespace tidegate
