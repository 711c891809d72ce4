#include "gateway/events/events_engine.hpp"

#include <boost/asio/post.hpp>
#include <future>
#include <set>
#include <unistd.h>

#include "gateway/events/republish_sink.hpp"
#include "gateway/events/webhook_sink.hpp"
#include "gateway/net/tls_context.hpp"
#include "gateway/ops/log.hpp"

namespace tidegate::events {

namespace asio = boost::asio;

std::string default_node_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0 || !name[0]) return "tidegate";
  return name;
}

EventsEngine::EventsEngine(Ingest& ingest, const cache::QueueCache& cache, const store::LmdbStore& store, std::string node)
    : ingest_(ingest), cache_(cache), store_(store), node_(std::move(node)), work_(asio::make_work_guard(io_)) {
  thread_ = std::thread([this] { io_.run(); });
  asio::post(io_, [this] { refresh_backlogs(); });
}

void EventsEngine::refresh_backlogs() {
  for (const auto& [queue, reader] : by_queue_)
    reader->counters().backlog = store_.count_queue(queue, reader->committed(), kBacklogCountCap);
  backlog_timer_.expires_after(std::chrono::seconds(1));
  backlog_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) refresh_backlogs();
  });
}

EventsEngine::~EventsEngine() {
  work_.reset();
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

void EventsEngine::run_on_thread(std::function<void()> f) {
  std::promise<void> done;
  auto finished = done.get_future();
  asio::post(io_, [&] {
    f();
    done.set_value();
  });
  finished.get();
}

std::shared_ptr<EventsEngine::Plan> EventsEngine::plan(const std::vector<RuleConfig>& rules) const {
  auto p = std::make_shared<Plan>();
  p->rules = rules;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    auto& contexts = p->tls[rules[i].name];
    for (std::size_t a = 0; a < rules[i].actions.size(); ++a) {
      const auto& action = rules[i].actions[a];
      std::shared_ptr<asio::ssl::context> tls;
      if (action.webhook && action.webhook->tls)
        tls = make_bridge_tls_context(*action.webhook->tls, "rules[" + std::to_string(i) + "].actions[" +
                                                                std::to_string(a) + "].webhook.tls");
      contexts.push_back(std::move(tls));
    }
  }
  return p;
}

EventsEngine::Running EventsEngine::start_rule(const RuleConfig& rule,
                                               const std::vector<std::shared_ptr<asio::ssl::context>>& tls,
                                               const std::map<std::size_t, std::uint64_t>& resume, bool paused) {
  Running running{rule, {}, {}, tls};
  const std::string origin = "$rule/" + rule.name;
  for (std::size_t a = 0; a < rule.actions.size(); ++a) {
    ReaderPlace place{action_reader_id(rule.name, a), origin, rule.from, 0};
    std::promise<std::uint64_t> subscribed;
    auto start_after = subscribed.get_future();
    ingest_.subscribe(place.reader_id, rule.from, false,
                      [&subscribed](Ingest::SubscribeResult r) { subscribed.set_value(r.start_after); });
    place.committed = start_after.get();
    if (auto it = resume.find(a); it != resume.end()) {
      place.committed = it->second;
    } else {
      auto stored = store_.load_offsets(place.reader_id);
      if (auto s = stored.find(place.queue); s != stored.end()) {
        place.committed = s->second;
        place.stored = true;
      }
    }
    auto counters = std::make_shared<ActionCounters>();
    auto reader = std::make_shared<ActionReader>(io_, ingest_, cache_, place, rule.where, counters);
    std::weak_ptr<ActionReader> weak = reader;
    auto finished = [weak](std::uint64_t seq) {
      if (auto r = weak.lock()) r->finished(seq);
    };
    const auto& action = rule.actions[a];
    run_on_thread([&] {
      if (action.webhook) {
        EventSource source{node_, action.webhook->source.value_or("tidegate://" + node_), action.webhook->type};
        reader->set_sink(std::make_unique<WebhookSink>(io_, ingest_, *action.webhook, tls[a], std::move(source), origin,
                                                       counters, finished));
      } else {
        reader->set_sink(std::make_unique<RepublishSink>(io_, ingest_, *action.republish, origin, counters, finished));
      }
      by_queue_.emplace(place.queue, reader);
      if (paused) reader->set_paused(true);
      reader->start();
    });
    running.readers.push_back(std::move(reader));
    running.counters.push_back(std::move(counters));
  }
  return running;
}

void EventsEngine::stop_rule(Running& running, std::size_t forget_from) {
  run_on_thread([&] {
    for (auto& reader : running.readers) {
      reader->stop();
      for (auto [it, end] = by_queue_.equal_range(reader->queue()); it != end; ++it)
        if (it->second == reader) {
          by_queue_.erase(it);
          break;
        }
    }
  });
  for (std::size_t a = 0; a < running.readers.size(); ++a) {
    const auto& reader = running.readers[a];
    if (a >= forget_from) {
      Ingest::SessionProgress erase;
      erase.erased_queues.push_back(reader->queue());
      erase.counts_toward_backlog = false;
      ingest_.save_progress(reader->reader_id(), std::move(erase));
    }
    ingest_.unsubscribe(reader->reader_id(), running.config.from);
  }
}

void EventsEngine::start(std::shared_ptr<Plan> plan) {
  // Offsets of rules (or actions) removed while the gateway was stopped go,
  // so a rule added again later under the same name starts anew.
  std::set<std::pair<std::string, std::string>> configured;
  for (const auto& rule : plan->rules)
    for (std::size_t a = 0; a < rule.actions.size(); ++a) configured.emplace(action_reader_id(rule.name, a), rule.from);
  for (auto& [reader, queue] : store_.offset_keys_of_readers("$rule/")) {
    if (configured.count({reader, queue})) continue;
    Ingest::SessionProgress erase;
    erase.erased_queues.push_back(queue);
    erase.counts_toward_backlog = false;
    ingest_.save_progress(reader, std::move(erase));
    log::info("rules: the offset of '" + reader + "' on '" + queue + "' is gone: no such rule is configured any more");
  }
  for (const auto& rule : plan->rules) {
    auto running = start_rule(rule, plan->tls[rule.name], {});
    std::lock_guard guard(lock_);
    rules_.emplace(rule.name, std::move(running));
  }
  if (!plan->rules.empty()) log::info("rules: " + std::to_string(plan->rules.size()) + " running (node " + node_ + ")");
}

void EventsEngine::apply(std::shared_ptr<Plan> plan) {
  std::map<std::string, const RuleConfig*> next;
  for (const auto& r : plan->rules) next[r.name] = &r;
  std::vector<std::string> names;
  {
    std::lock_guard guard(lock_);
    for (const auto& [name, running] : rules_) names.push_back(name);
  }
  for (const auto& name : names) {
    auto it = next.find(name);
    Running old;
    {
      std::lock_guard guard(lock_);
      auto r = rules_.find(name);
      if (it != next.end() && r->second.config == *it->second) continue;  // unchanged: left alone
      old = std::move(r->second);
      rules_.erase(r);
    }
    if (it == next.end()) {
      stop_rule(old, 0);
      log::info("rule '" + name + "': removed by reload; its offsets are gone");
      continue;
    }
    // Changed: the new readers take a queue reference before the old ones
    // give theirs up, and go on from where the old ones finished when they
    // read the same filter.
    const RuleConfig& rule = *it->second;
    std::map<std::size_t, std::uint64_t> resume;
    bool paused = !old.readers.empty() && old.readers.front()->paused();
    if (rule.from == old.config.from) {
      run_on_thread([&] {
        for (auto& reader : old.readers) reader->stop();
      });
      for (std::size_t a = 0; a < old.readers.size() && a < rule.actions.size(); ++a) resume[a] = old.readers[a]->committed();
    }
    auto running = start_rule(rule, plan->tls[name], resume, paused);
    stop_rule(old, rule.from == old.config.from ? rule.actions.size() : 0);
    {
      std::lock_guard guard(lock_);
      rules_.emplace(name, std::move(running));
    }
    log::info("rule '" + name + "': changed by reload; " +
              (resume.empty() ? "reads from now on" : "goes on from its committed offsets"));
  }
  for (const auto& rule : plan->rules) {
    {
      std::lock_guard guard(lock_);
      if (rules_.count(rule.name)) continue;
    }
    auto running = start_rule(rule, plan->tls[rule.name], {});
    std::lock_guard guard(lock_);
    rules_.emplace(rule.name, std::move(running));
    log::info("rule '" + rule.name + "': started by reload");
  }
}

void EventsEngine::stop() {
  std::map<std::string, Running> all;
  {
    std::lock_guard guard(lock_);
    all.swap(rules_);
  }
  run_on_thread([&] {
    for (auto& [name, running] : all)
      for (auto& reader : running.readers) reader->stop();
    by_queue_.clear();
    backlog_timer_.cancel();
  });
  work_.reset();
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

Ingest::Notify EventsEngine::notifier() {
  return [this](std::shared_ptr<const QueueEvents> events) {
    asio::post(io_, [this, events] {
      for (const auto& e : *events)
        for (auto [it, end] = by_queue_.equal_range(e.queue); it != end; ++it) it->second->wake();
    });
  };
}

Ingest::RetentionListener EventsEngine::retention_listener() {
  return [this](const std::vector<std::pair<std::string, std::uint64_t>>& removed) {
    // At most a few thousand entries a second, sorted out on the events thread.
    asio::post(io_, [this, removed] {
      std::map<std::string, std::vector<std::uint64_t>> by_queue;
      for (const auto& [queue, seq] : removed)
        if (by_queue_.count(queue)) by_queue[queue].push_back(seq);
      for (const auto& [queue, seqs] : by_queue)
        for (auto [it, end] = by_queue_.equal_range(queue); it != end; ++it) it->second->removed_by_retention(seqs);
    });
  };
}

std::vector<ActionStatus> EventsEngine::status() const {
  std::vector<ActionStatus> out;
  std::lock_guard guard(lock_);
  for (const auto& [name, running] : rules_)
    for (std::size_t a = 0; a < running.readers.size(); ++a) {
      const auto& action = running.config.actions[a];
      ActionStatus s;
      s.rule = name;
      s.index = a;
      s.kind = action.kind();
      s.target = action.webhook ? action.webhook->url : action.republish->topic.text();
      s.from = running.config.from;
      s.paused = running.readers[a]->paused();
      s.committed = running.readers[a]->committed();
      s.unfinished = running.readers[a]->unfinished();
      s.counters = running.counters[a];
      out.push_back(std::move(s));
    }
  return out;
}

bool EventsEngine::replay(const std::string& name, std::uint64_t from_seq) {
  Running old;
  {
    std::lock_guard guard(lock_);
    auto it = rules_.find(name);
    if (it == rules_.end()) return false;
    old = std::move(it->second);
    rules_.erase(it);
  }
  const bool paused = !old.readers.empty() && old.readers.front()->paused();
  run_on_thread([&] {
    for (auto& reader : old.readers) reader->stop();
  });
  std::map<std::size_t, std::uint64_t> resume;
  for (std::size_t a = 0; a < old.readers.size(); ++a) resume[a] = from_seq ? from_seq - 1 : 0;
  // The new readers take their queue references before the old ones give theirs up.
  auto running = start_rule(old.config, old.tls, resume, paused);
  stop_rule(old, old.readers.size());
  // The new starting point is in the store before the caller hears of it: a
  // crash right after the answer still replays.
  std::promise<void> stored;
  auto written = stored.get_future();
  ingest_.sync([&stored] { stored.set_value(); });
  written.get();
  std::lock_guard guard(lock_);
  rules_.emplace(name, std::move(running));
  return true;
}

bool EventsEngine::set_paused(const std::string& rule, bool paused) {
  std::vector<std::shared_ptr<ActionReader>> readers;
  {
    std::lock_guard guard(lock_);
    auto it = rules_.find(rule);
    if (it == rules_.end()) return false;
    readers = it->second.readers;
  }
  // Marked now (a replay or reload right after keeps it), woken on the events thread.
  for (const auto& r : readers) r->mark_paused(paused);
  asio::post(io_, [readers] {
    for (const auto& r : readers) r->wake();
  });
  return true;
}

}  // namespace tidegate::events
