#include "gateway/cluster/cluster_handover.hpp"

#include <algorithm>
#include <utility>

#include "gateway/cluster/cluster_session_fetch.hpp"
#include "gateway/ops/log.hpp"

namespace tidegate {

SessionHandover::SessionHandover(std::string node, std::shared_ptr<store::JetStreamClient> client,
                                 lookup::Lookup& lookup, Ingest& ingest, cache::QueueCache& cache,
                                 SessionRegistry& registry, std::int64_t timeout_ms, std::size_t max_handover_bytes,
                                 Hooks hooks)
    : env_{std::move(node), *client, lookup, ingest, cache, registry, timeout_ms,
           // Longer than the new gateway can spend after "take": the parts, its
           // store write and "done", at timeout_ms each.
           std::max<std::chrono::milliseconds>(kMinHold, std::chrono::milliseconds(10 * timeout_ms)),
           max_handover_bytes, std::move(hooks), {}},
      server_(env_),
      client_(std::move(client)) {}

SessionHandover::~SessionHandover() { stop(); }

void SessionHandover::start() {
  for (std::size_t i = 0; i < kAskingThreads; ++i) asking_.push_back(std::make_unique<HandoverTaskThread>());
  serving_ = std::make_unique<HandoverTaskThread>([this] { server_.expire(); });
  std::error_code ec;
  request_subscription_ = client_->subscribe(
      handover::request_subject(env_.node),
      [this](std::string_view, std::string_view data, std::string_view reply) {
        serving_->post([this, data = std::string(data), reply = std::string(reply)] { on_request(data, reply); });
      },
      ec);
  if (ec) throw store::StoreOpenError("cluster: cannot subscribe to session handover requests: " + ec.message());
}

void SessionHandover::on_request(std::string data, std::string reply) {
  std::string answer;
  try {
    answer = server_.serve(data);
  } catch (const std::exception& e) {  // a malformed request (wrong types): answered "none"
    log::warn(std::string("cluster: session handover request ignored: ") + e.what());
  }
  if (!reply.empty()) client_->publish(reply, answer);
}

void SessionHandover::stop() {
  // First: no request handler runs after this (libnats waits for a running one).
  if (request_subscription_) client_->unsubscribe(std::exchange(request_subscription_, 0));
  for (auto& thread : asking_) thread->stop();
  if (serving_) serving_->stop();
  // Sessions handed over and not confirmed stay here.
  server_.release_all();
}

void SessionHandover::fetch(const std::string& client_id, std::int64_t connected_ms, Fetched done) {
  auto& thread = *asking_[std::hash<std::string>{}(client_id) % asking_.size()];
  thread.post([this, client_id, connected_ms, done = std::move(done)] {
    FetchResult result;
    try {
      // Undone, when it fails after asking, as the SessionFetch ends.
      result = SessionFetch(env_, client_id, connected_ms).run();
    } catch (const std::exception& e) {  // a malformed reply
      log::warn("cluster: session '" + client_id + "' not taken over: " + e.what());
      result.retry_later = true;
    }
    done(std::move(result));
  });
}

}  // namespace tidegate
