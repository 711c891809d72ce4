#include "storeclient/jetstream_client.hpp"

#include <nats/nats.h>

#include <cstring>

#include "storeclient/lmdb_store.hpp"  // StoreOpenError
#include "storeclient/message_codec.hpp"
#include "storeclient/subject_codec.hpp"

namespace tidegate::store {

namespace {

class NatsCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "nats"; }
  std::string message(int value) const override { return natsStatus_GetText(static_cast<natsStatus>(value)); }
};

std::error_code make_nats_error(natsStatus s) { return {static_cast<int>(s), nats_category()}; }

// The error text libnats keeps for this thread: the server's reason, when there is one.
std::string last_error_text(natsStatus s) {
  const char* text = nats_GetLastError(nullptr);
  std::string out = natsStatus_GetText(s);
  if (text && *text && out != text) out += std::string(": ") + text;
  return out;
}

}  // namespace

const std::error_category& nats_category() {
  static NatsCategory category;
  return category;
}

bool is_no_responders(const std::error_code& ec) {
  return ec.category() == nats_category() && ec.value() == static_cast<int>(NATS_NO_RESPONDERS);
}

struct JetStreamClient::Subscription {
  JetStreamClient::Handler handler;
  natsSubscription* sub = nullptr;
  ~Subscription() {
    if (sub) {
      natsSubscription_Unsubscribe(sub);
      natsSubscription_Destroy(sub);
    }
  }
};

struct JetStreamClient::Callbacks {
  static void on_ack(jsCtx*, natsMsg* msg, jsPubAck* ack, jsPubAckErr* err, void* closure) {
    auto* self = static_cast<JetStreamClient*>(closure);
    if (ack) {
      self->finish_append(msg, {}, ack->Sequence);
    } else {
      natsStatus status = err ? err->Err : NATS_ERR;
      if (self->schedule_retry(msg, status)) return;  // the message is the retry queue's now
      self->finish_append(msg, make_nats_error(status), 0);
    }
    natsMsg_Destroy(msg);
  }
  static void on_reconnected(natsConnection*, void* closure) {
    auto* self = static_cast<JetStreamClient*>(closure);
    if (self->options_.on_reconnected) self->options_.on_reconnected();
  }
  static void on_message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto* s = static_cast<Subscription*>(closure);
    const char* reply = natsMsg_GetReply(msg);
    s->handler(natsMsg_GetSubject(msg),
               std::string_view(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg))),
               reply ? std::string_view(reply) : std::string_view());
    natsMsg_Destroy(msg);
  }
};

JetStreamClient::JetStreamClient(JetStreamOptions options) : options_(std::move(options)) {
  std::string where;
  for (const auto& s : options_.servers) where += (where.empty() ? "" : ",") + s;
  auto fail = [&](const std::string& what, natsStatus s) {
    throw StoreOpenError("cluster store at " + where + ": " + what + ": " + last_error_text(s));
  };
  natsOptions* opts = nullptr;
  if (natsOptions_Create(&opts) != NATS_OK) fail("options", NATS_NO_MEMORY);
  std::vector<const char*> urls;
  for (const auto& s : options_.servers) urls.push_back(s.c_str());
  natsOptions_SetServers(opts, urls.data(), static_cast<int>(urls.size()));
  natsOptions_SetName(opts, options_.connection_name.c_str());
  natsOptions_SetTimeout(opts, options_.request_timeout_ms);
  // Our own notify events must not come back to us.
  natsOptions_SetNoEcho(opts, true);
  // Reconnect for ever, across the servers of a NATS cluster; appends made
  // while disconnected fail at their ack timeout and are refused to devices.
  natsOptions_SetMaxReconnect(opts, -1);
  natsOptions_SetReconnectWait(opts, 250);
  natsOptions_SetReconnectedCB(opts, &Callbacks::on_reconnected, this);
  natsStatus s = natsConnection_Connect(&connection_, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) fail("connect", s);

  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = options_.request_timeout_ms;
  jo.PublishAsync.MaxPending = options_.max_pending_appends;
  jo.PublishAsync.AckHandler = reinterpret_cast<jsPubAckHandler>(&Callbacks::on_ack);
  jo.PublishAsync.AckHandlerClosure = this;
  jo.PublishAsync.StallWait = 1;  // never hold the caller: a full window is a refusal
  s = natsConnection_JetStream(&js_, connection_, &jo);
  if (s != NATS_OK) fail("JetStream context", s);
  // A JetStream cluster that has just elected its leader can time out the
  // first stream request: a few tries before giving up.
  for (int attempt = 1;; ++attempt) {
    try {
      ensure_stream();
      break;
    } catch (const StoreOpenError&) {
      if (attempt == 3) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  }
  msg_id_prefix_ = options_.origin + "-" +
                   std::to_string(std::chrono::system_clock::now().time_since_epoch().count()) + "-";
  retry_thread_ = std::thread([this] { retry_loop(); });
}

JetStreamClient::~JetStreamClient() {
  {
    std::lock_guard guard(pending_lock_);
    stopping_ = true;
  }
  retry_ready_.notify_one();
  if (retry_thread_.joinable()) retry_thread_.join();
  {
    std::lock_guard guard(subscriptions_lock_);
    subscriptions_.clear();
  }
  if (js_) jsCtx_Destroy(js_);
  if (connection_) {
    natsConnection_Close(connection_);
    natsConnection_Destroy(connection_);
  }
}

void JetStreamClient::ensure_stream() {
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  std::string subjects = options_.subject_prefix + ".>";
  const char* subject_list[] = {subjects.c_str()};
  cfg.Name = options_.stream.c_str();
  cfg.Subjects = subject_list;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  cfg.Replicas = options_.replicas;
  cfg.MaxBytes = options_.max_bytes;
  cfg.MaxAge = options_.max_age_ms * 1000000;  // nanoseconds
  cfg.Discard = js_DiscardOld;
  cfg.AllowDirect = true;  // reads by sequence and by subject without the stream leader
  jsErrCode code = static_cast<jsErrCode>(0);
  jsStreamInfo* info = nullptr;
  natsStatus s = js_AddStream(&info, js_, &cfg, nullptr, &code);
  if (s != NATS_OK && code == JSStreamNameExistErr) s = js_UpdateStream(&info, js_, &cfg, nullptr, &code);
  if (info) jsStreamInfo_Destroy(info);
  if (s != NATS_OK) {
    throw StoreOpenError("cluster store: stream '" + options_.stream + "' cannot be created or updated: " +
                         last_error_text(s) + (code ? " (JetStream error " + std::to_string(code) + ")" : ""));
  }
}

void JetStreamClient::append(const Message& message, Appended done) {
  std::string subject = topic_to_subject(options_.subject_prefix, message.topic);
  std::string value;
  encode_message(message, value);
  natsMsg* msg = nullptr;
  natsStatus s = natsMsg_Create(&msg, subject.c_str(), nullptr, value.data(), static_cast<int>(value.size()));
  if (s != NATS_OK) return done(make_nats_error(s), 0);
  if (!options_.origin.empty()) natsMsgHeader_Set(msg, "Tg-Node", options_.origin.c_str());
  std::string msg_id;
  {
    // Registered before the publish: the ack may come before it returns.
    std::lock_guard guard(pending_lock_);
    msg_id = msg_id_prefix_ + std::to_string(++next_msg_id_);
    pending_.emplace(msg, Pending{std::move(done), msg_id,
                                  std::chrono::steady_clock::now() +
                                      std::chrono::milliseconds(options_.request_timeout_ms)});
  }
  natsMsg* key = msg;
  if (auto ec = send(msg, msg_id)) {
    // Not sent: the library did not take the message, and no ack will come.
    natsMsg_Destroy(msg);
    finish_append(key, ec, 0);
  }
}

std::error_code JetStreamClient::send(natsMsg*& msg, const std::string& msg_id) {
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = options_.request_timeout_ms;
  po.MsgId = msg_id.c_str();
  natsStatus s = js_PublishMsgAsync(js_, &msg, &po);
  return s == NATS_OK ? std::error_code{} : make_nats_error(s);
}

bool JetStreamClient::schedule_retry(natsMsg* msg, int status) {
  // Only "nobody took it": the stream has no leader for a moment. A timeout
  // already used the whole budget, and a refusal by the stream is final.
  if (status != NATS_NO_RESPONDERS) return false;
  std::lock_guard guard(pending_lock_);
  auto it = pending_.find(msg);
  if (it == pending_.end() || stopping_) return false;
  auto due = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
  if (due >= it->second.give_up) return false;
  retries_.push_back({msg, due});
  retry_ready_.notify_one();
  return true;
}

void JetStreamClient::retry_loop() {
  std::unique_lock guard(pending_lock_);
  for (;;) {
    if (stopping_) break;
    if (retries_.empty()) {
      retry_ready_.wait(guard);
      continue;
    }
    auto due = retries_.front().due;
    if (std::chrono::steady_clock::now() < due) {
      retry_ready_.wait_until(guard, due);
      continue;
    }
    Retry r = retries_.front();
    retries_.erase(retries_.begin());
    auto it = pending_.find(r.msg);
    std::string msg_id = it == pending_.end() ? std::string() : it->second.msg_id;
    guard.unlock();
    natsMsg* msg = r.msg;
    if (auto ec = send(msg, msg_id)) {
      natsMsg_Destroy(msg);
      finish_append(r.msg, ec, 0);
    }
    guard.lock();
  }
  // Stopping: what waits for a retry is refused.
  auto left = std::move(retries_);
  guard.unlock();
  for (auto& r : left) {
    finish_append(r.msg, make_nats_error(NATS_CONNECTION_CLOSED), 0);
    natsMsg_Destroy(r.msg);
  }
}

void JetStreamClient::finish_append(const void* key, std::error_code ec, std::uint64_t seq) {
  Appended done;
  {
    std::lock_guard guard(pending_lock_);
    auto it = pending_.find(key);
    if (it == pending_.end()) return;
    done = std::move(it->second.done);
    pending_.erase(it);
  }
  done(ec, seq);
}

std::size_t JetStreamClient::pending_appends() const {
  std::lock_guard guard(pending_lock_);
  return pending_.size();
}

std::optional<StoredMessage> JetStreamClient::direct_get(std::uint64_t seq, const char* next_by_subject,
                                                         std::error_code& ec) {
  ec.clear();
  jsDirectGetMsgOptions dg;
  jsDirectGetMsgOptions_Init(&dg);
  dg.Sequence = seq;
  dg.NextBySubject = next_by_subject;
  natsMsg* msg = nullptr;
  natsStatus s = js_DirectGetMsg(&msg, js_, options_.stream.c_str(), nullptr, &dg);
  if (s == NATS_NOT_FOUND) return std::nullopt;
  if (s != NATS_OK) {
    ec = make_nats_error(s);
    return std::nullopt;
  }
  std::optional<Message> m =
      decode_message(std::string_view(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg))));
  std::optional<StoredMessage> out;
  if (m) {
    out.emplace();
    out->message = std::move(*m);
    const char* value = nullptr;
    out->message.seq = natsMsgHeader_Get(msg, "Nats-Sequence", &value) == NATS_OK && value
                           ? std::strtoull(value, nullptr, 10)
                           : seq;
    if (natsMsgHeader_Get(msg, "Tg-Node", &value) == NATS_OK && value) out->origin = value;
  } else {
    ec = make_nats_error(NATS_PROTOCOL_ERROR);  // not a value this gateway wrote
  }
  natsMsg_Destroy(msg);
  return out;
}

std::optional<StoredMessage> JetStreamClient::read(std::uint64_t seq, std::error_code& ec) {
  auto out = direct_get(seq, nullptr, ec);
  if (out || ec) return out;
  // Direct reads may be answered by a replica that has not applied the
  // message yet: ask the stream leader before calling it gone.
  natsMsg* msg = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetMsg(&msg, js_, options_.stream.c_str(), seq, nullptr, &code);
  if (s == NATS_NOT_FOUND || code == JSNoMessageFoundErr) return std::nullopt;
  if (s != NATS_OK) {
    ec = make_nats_error(s);
    return std::nullopt;
  }
  std::optional<Message> m =
      decode_message(std::string_view(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg))));
  if (m) {
    out.emplace();
    out->message = std::move(*m);
    out->message.seq = seq;
    const char* value = nullptr;
    if (natsMsgHeader_Get(msg, "Tg-Node", &value) == NATS_OK && value) out->origin = value;
  } else {
    ec = make_nats_error(NATS_PROTOCOL_ERROR);
  }
  natsMsg_Destroy(msg);
  return out;
}

std::vector<std::optional<StoredMessage>> JetStreamClient::read_many(const std::vector<std::uint64_t>& seqs,
                                                                    std::error_code& ec) {
  ec.clear();
  std::vector<std::optional<StoredMessage>> out(seqs.size());
  if (seqs.empty()) return out;
  natsInbox* inbox = nullptr;
  natsStatus s = natsInbox_Create(&inbox);
  if (s != NATS_OK) {
    ec = make_nats_error(s);
    return out;
  }
  const std::string reply_prefix = std::string(inbox) + ".";
  natsInbox_Destroy(inbox);
  natsSubscription* sub = nullptr;
  s = natsConnection_SubscribeSync(&sub, connection_, (reply_prefix + "*").c_str());
  if (s != NATS_OK) {
    ec = make_nats_error(s);
    return out;
  }
  const std::string subject = "$JS.API.DIRECT.GET." + options_.stream;
  std::size_t sent = 0;
  for (std::size_t i = 0; i < seqs.size() && s == NATS_OK; ++i, ++sent) {
    std::string request = "{\"seq\":" + std::to_string(seqs[i]) + "}";
    s = natsConnection_PublishRequest(connection_, subject.c_str(), (reply_prefix + std::to_string(i)).c_str(),
                                      request.data(), static_cast<int>(request.size()));
  }
  if (s != NATS_OK && sent == 0) ec = make_nats_error(s);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.request_timeout_ms);
  for (std::size_t answered = 0; answered < sent;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    natsMsg* msg = nullptr;
    if (natsSubscription_NextMsg(&msg, sub, left.count()) != NATS_OK) break;
    ++answered;
    std::string_view reply = natsMsg_GetSubject(msg);
    std::size_t index = std::strtoull(std::string(reply.substr(reply_prefix.size())).c_str(), nullptr, 10);
    const char* value = nullptr;
    // A found message carries its sequence; "not found" (404) does not.
    if (index < out.size() && natsMsgHeader_Get(msg, "Nats-Sequence", &value) == NATS_OK && value) {
      auto m = decode_message(
          std::string_view(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg))));
      if (m) {
        out[index].emplace();
        out[index]->message = std::move(*m);
        out[index]->message.seq = std::strtoull(value, nullptr, 10);
        if (natsMsgHeader_Get(msg, "Tg-Node", &value) == NATS_OK && value) out[index]->origin = value;
      }
    }
    natsMsg_Destroy(msg);
  }
  natsSubscription_Unsubscribe(sub);
  natsSubscription_Destroy(sub);
  return out;
}

std::optional<StoredMessage> JetStreamClient::read_next(const std::string& filter_subject, std::uint64_t from_seq,
                                                        std::error_code& ec) {
  return direct_get(from_seq, filter_subject.c_str(), ec);
}

std::uint64_t JetStreamClient::last_sequence(std::error_code& ec) {
  ec.clear();
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&info, js_, options_.stream.c_str(), nullptr, &code);
  if (s != NATS_OK) {
    ec = make_nats_error(s);
    return 0;
  }
  std::uint64_t last = info->State.LastSeq;
  jsStreamInfo_Destroy(info);
  return last;
}

std::error_code JetStreamClient::publish(const std::string& subject, std::string_view data) {
  natsStatus s = natsConnection_Publish(connection_, subject.c_str(), data.data(), static_cast<int>(data.size()));
  return s == NATS_OK ? std::error_code{} : make_nats_error(s);
}

std::error_code JetStreamClient::add_subscription(const std::string& subject, const char* queue, Handler handler,
                                                  std::uint64_t* id) {
  auto sub = std::make_unique<Subscription>();
  sub->handler = std::move(handler);
  natsStatus s = queue ? natsConnection_QueueSubscribe(&sub->sub, connection_, subject.c_str(), queue,
                                                       &Callbacks::on_message, sub.get())
                       : natsConnection_Subscribe(&sub->sub, connection_, subject.c_str(), &Callbacks::on_message,
                                                  sub.get());
  if (s != NATS_OK) return make_nats_error(s);
  // Notify bursts must not be dropped by the client's default pending limit
  // (65,536 messages): a dropped event is a message nobody fetches.
  natsSubscription_SetPendingLimits(sub->sub, -1, 256 << 20);
  {
    std::lock_guard guard(subscriptions_lock_);
    std::uint64_t key = next_subscription_id_++;
    if (id) *id = key;
    subscriptions_.emplace(key, std::move(sub));
  }
  // Registered at the server before this returns: nothing published after
  // it can miss us. If the link drops meanwhile, libnats sends the
  // subscription again on reconnect, and the reconnect itself is a loss point
  // the callers catch up from; only a closed connection is an error.
  s = natsConnection_FlushTimeout(connection_, options_.request_timeout_ms);
  if (s == NATS_OK || natsConnection_Status(connection_) != NATS_CONN_STATUS_CLOSED) return {};
  return make_nats_error(s);
}

std::error_code JetStreamClient::subscribe(const std::string& subject, Handler handler) {
  return add_subscription(subject, nullptr, std::move(handler), nullptr);
}

std::uint64_t JetStreamClient::subscribe(const std::string& subject, Handler handler, std::error_code& ec) {
  std::uint64_t id = 0;
  ec = add_subscription(subject, nullptr, std::move(handler), &id);
  return ec ? 0 : id;
}

std::uint64_t JetStreamClient::queue_subscribe(const std::string& subject, const std::string& queue, Handler handler,
                                               std::error_code& ec) {
  std::uint64_t id = 0;
  ec = add_subscription(subject, queue.c_str(), std::move(handler), &id);
  return ec ? 0 : id;
}

void JetStreamClient::unsubscribe(std::uint64_t id) {
  std::unique_ptr<Subscription> sub;
  {
    std::lock_guard guard(subscriptions_lock_);
    auto it = subscriptions_.find(id);
    if (it == subscriptions_.end()) return;
    sub = std::move(it->second);
    subscriptions_.erase(it);
  }
  // ~Subscription unsubscribes; libnats waits for a running handler of it.
}

void JetStreamClient::ack(const std::string& reply) {
  if (!reply.empty()) natsConnection_Publish(connection_, reply.c_str(), "+ACK", 4);
}

void JetStreamClient::nak(const std::string& reply) {
  // Again after a second, not at once: a refusal that persists must not spin.
  static const std::string delayed = "-NAK {\"delay\": 1000000000}";
  if (!reply.empty()) natsConnection_Publish(connection_, reply.c_str(), delayed.data(), static_cast<int>(delayed.size()));
}

void JetStreamClient::term(const std::string& reply) {
  if (!reply.empty()) natsConnection_Publish(connection_, reply.c_str(), "+TERM", 5);
}

std::error_code JetStreamClient::ensure_group_consumer(const std::string& name, const std::string& filter_subject,
                                                       const std::string& deliver_subject, std::int64_t ack_wait_ms,
                                                       std::int64_t max_ack_pending) {
  jsErrCode code = static_cast<jsErrCode>(0);
  jsConsumerInfo* info = nullptr;
  natsStatus s = js_GetConsumerInfo(&info, js_, options_.stream.c_str(), name.c_str(), nullptr, &code);
  if (s == NATS_OK) {
    // Reused as it is, bound or not: what it holds (messages a gateway
    // received and never acknowledged, or published while every member was
    // away) belongs to the group.
    jsConsumerInfo_Destroy(info);
    return {};
  }
  jsConsumerConfig cc;
  jsConsumerConfig_Init(&cc);
  cc.Durable = name.c_str();
  cc.FilterSubject = filter_subject.c_str();
  cc.DeliverSubject = deliver_subject.c_str();
  cc.DeliverGroup = name.c_str();
  cc.DeliverPolicy = js_DeliverNew;
  cc.AckPolicy = js_AckExplicit;
  cc.AckWait = ack_wait_ms * 1000000;  // nanoseconds
  cc.MaxAckPending = max_ack_pending;
  // A message no gateway can take (say, a `$` topic the NATS filter matches
  // but the MQTT filter does not) is given up after this many deliveries.
  cc.MaxDeliver = kGroupMaxDeliver;
  cc.Replicas = options_.replicas;
  info = nullptr;
  s = js_AddConsumer(&info, js_, options_.stream.c_str(), &cc, nullptr, &code);
  if (info) jsConsumerInfo_Destroy(info);
  // Another gateway may have created it at the same moment: same config, fine.
  if (s != NATS_OK && code != JSConsumerNameExistErr && code != JSConsumerExistingActiveErr) return make_nats_error(s);
  return {};
}

std::optional<std::string> JetStreamClient::request(const std::string& subject, std::string_view data,
                                                    std::int64_t timeout_ms, std::error_code& ec) {
  ec.clear();
  natsMsg* reply = nullptr;
  natsStatus s = natsConnection_Request(&reply, connection_, subject.c_str(), data.data(),
                                        static_cast<int>(data.size()), timeout_ms);
  if (s != NATS_OK) {
    ec = make_nats_error(s);
    return std::nullopt;
  }
  std::string out(natsMsg_GetData(reply), static_cast<std::size_t>(natsMsg_GetDataLength(reply)));
  natsMsg_Destroy(reply);
  return out;
}

bool JetStreamClient::connected() const { return natsConnection_Status(connection_) == NATS_CONN_STATUS_CONNECTED; }

std::size_t JetStreamClient::max_payload() const {
  std::int64_t n = natsConnection_GetMaxPayload(connection_);
  return n > 0 ? static_cast<std::size_t>(n) : std::size_t(1) << 20;
}

}  // namespace tidegate::store
