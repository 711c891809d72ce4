#pragma once
// The shared store of cluster mode (docs/cluster.md): one
// JetStream stream on a NATS server or cluster, reached through libnats.
//
// Messages are stored under the subject of their topic (subject_codec.hpp);
// the stream sequence a message gets is its offset everywhere in the cluster.
// The stream value is the message's store encoding (message_codec.hpp), so a
// message read back is exactly the one appended.
//
// Threads: libnats runs its own threads. append()'s completion and the
// handlers given to subscribe() run on them: they must only hand work to
// their owner (post to an executor or a queue) and return. read()/read_next()
// block the calling thread for one request to the server (at most
// request_timeout_ms); never call them on a gateway worker.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <thread>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "storeclient/message.hpp"

// libnats types, kept out of every includer's namespace.
struct __natsConnection;
struct __natsMsg;
struct __jsCtx;
struct __natsSubscription;

namespace tidegate::store {

struct JetStreamOptions {
  std::vector<std::string> servers;      // nats://host:port, at least one
  std::string connection_name;           // shown by the server (the node id)
  std::string stream = "TIDEGATE";
  std::string subject_prefix = "tg.m";   // stored topics are <prefix>.<levels>.%
  int replicas = 1;                      // copies the JetStream cluster keeps (1, 3 or 5)
  std::int64_t max_bytes = -1;           // stream limit; the oldest go first (-1: none)
  std::int64_t max_age_ms = 0;           // 0: kept until max_bytes
  std::int64_t request_timeout_ms = 5000;  // connect, each append's ack, each read
  std::int64_t max_pending_appends = 4096; // appends not yet acknowledged; beyond, append() fails
  std::string origin;                    // stored with each append (header Tg-Node): the node id
  // Runs on a libnats thread after the connection to the servers came back
  // (core NATS messages sent meanwhile were not received).
  std::function<void()> on_reconnected;
};

// A message read back from the stream, with the node that appended it.
struct StoredMessage {
  Message message;     // seq: the stream sequence
  std::string origin;  // JetStreamOptions::origin of the appending gateway
};

// libnats statuses (natsStatus) as std::error_code.
const std::error_category& nats_category();
// A request nobody listens for (the server says so at once).
bool is_no_responders(const std::error_code& ec);

class JetStreamClient {
 public:
  // Runs on a libnats thread: the stream sequence, or the error that kept the
  // message from being stored (then it was not acknowledged and must not be).
  using Appended = std::function<void(std::error_code, std::uint64_t seq)>;
  // Runs on a libnats thread with a core NATS message (notify, lookup RPC).
  using Handler = std::function<void(std::string_view subject, std::string_view data, std::string_view reply)>;

  // Connects and creates (or updates) the stream; throws StoreOpenError
  // naming the servers and the reason.
  explicit JetStreamClient(JetStreamOptions options);
  ~JetStreamClient();
  JetStreamClient(const JetStreamClient&) = delete;
  JetStreamClient& operator=(const JetStreamClient&) = delete;

  // Any thread. `done` runs exactly once, possibly before append() returns.
  void append(const Message& message, Appended done);
  // Any thread but a libnats one; blocks for one request (two when a replica
  // does not have it yet and the leader is asked). nullopt with no error: no
  // such message (removed by the stream limits, or never stored).
  std::optional<StoredMessage> read(std::uint64_t seq, std::error_code& ec);
  // Many messages by sequence in one round trip (the direct-get requests are
  // pipelined). Per sequence, in order: the message, or nullopt when it was
  // not found or not answered in time (read() those one by one: it also asks
  // the leader). `ec`: the requests could not be sent at all.
  std::vector<std::optional<StoredMessage>> read_many(const std::vector<std::uint64_t>& seqs, std::error_code& ec);
  // The first message at or after `from_seq` whose subject matches
  // `filter_subject` (a NATS filter). Served by any replica: the newest
  // messages may be missing from it (use read() for those).
  std::optional<StoredMessage> read_next(const std::string& filter_subject, std::uint64_t from_seq,
                                         std::error_code& ec);
  // The stream's last sequence (0: empty).
  std::uint64_t last_sequence(std::error_code& ec);

  // Core NATS, not stored: notify events and requests between gateways.
  std::error_code publish(const std::string& subject, std::string_view data);
  std::error_code subscribe(const std::string& subject, Handler handler);
  // The same, returning an id for unsubscribe() (0 with ec set on failure).
  std::uint64_t subscribe(const std::string& subject, Handler handler, std::error_code& ec);
  // Blocks for the reply (at most timeout_ms); the reply's data.
  std::optional<std::string> request(const std::string& subject, std::string_view data, std::int64_t timeout_ms,
                                     std::error_code& ec);

  // Shared subscriptions: a durable push consumer `name` delivering the
  // messages of `filter_subject` to `deliver_subject`, one message to one
  // member of the queue group `name` (whichever gateway it is on). A message
  // not acknowledged within ack_wait_ms is delivered again (to any member).
  // An existing consumer is reused as it is: a group whose members were all
  // away gets what was published meanwhile (bounded by the stream's limits).
  std::error_code ensure_group_consumer(const std::string& name, const std::string& filter_subject,
                                        const std::string& deliver_subject, std::int64_t ack_wait_ms,
                                        std::int64_t max_ack_pending);
  // A core queue subscription; returns an id for unsubscribe() (0: failed, see ec).
  std::uint64_t queue_subscribe(const std::string& subject, const std::string& queue, Handler handler,
                                std::error_code& ec);
  void unsubscribe(std::uint64_t id);
  // Answers a message a consumer delivered (its reply subject): done with
  // it; deliver it again (after a second, to any member); never again.
  void ack(const std::string& reply);
  void nak(const std::string& reply);
  void term(const std::string& reply);
  static constexpr std::int64_t kGroupMaxDeliver = 20;

  bool connected() const;
  // The largest message the server takes (its max_payload), 1 MB if unknown.
  std::size_t max_payload() const;
  const JetStreamOptions& options() const { return options_; }
  std::size_t pending_appends() const;

 private:
  struct Callbacks;  // the libnats callbacks (jetstream_client.cpp)
  friend struct Callbacks;
  void finish_append(const void* key, std::error_code ec, std::uint64_t seq);
  void ensure_stream();
  std::optional<StoredMessage> direct_get(std::uint64_t seq, const char* next_by_subject, std::error_code& ec);

  JetStreamOptions options_;
  __natsConnection* connection_ = nullptr;
  __jsCtx* js_ = nullptr;
  // Appends in flight by their libnats message (the ack handler gets it back).
  // An append JetStream could not take yet (no stream leader: an election
  // after a server was lost) is sent again, with the same message id (the
  // stream drops a copy it already has), until request_timeout_ms from its
  // first send has passed; only then is it refused.
  struct Pending {
    Appended done;
    std::string msg_id;
    std::chrono::steady_clock::time_point give_up;
  };
  struct Retry {
    __natsMsg* msg;
    std::chrono::steady_clock::time_point due;
  };
  bool schedule_retry(__natsMsg* msg, int status);  // a libnats thread; false: give up
  void retry_loop();
  std::error_code send(__natsMsg*& msg, const std::string& msg_id);
  mutable std::mutex pending_lock_;
  std::unordered_map<const void*, Pending> pending_;
  std::uint64_t next_msg_id_ = 0;  // under pending_lock_
  std::string msg_id_prefix_;      // origin and start time: unique across restarts
  std::condition_variable retry_ready_;
  std::vector<Retry> retries_;     // under pending_lock_
  bool stopping_ = false;          // under pending_lock_
  std::thread retry_thread_;
  struct Subscription;
  std::error_code add_subscription(const std::string& subject, const char* queue, Handler handler,
                                   std::uint64_t* id);
  std::mutex subscriptions_lock_;
  std::uint64_t next_subscription_id_ = 1;
  std::unordered_map<std::uint64_t, std::unique_ptr<Subscription>> subscriptions_;
};

}  // namespace tidegate::store
