#include "gateway/events/streams.hpp"

#include <algorithm>
#include <future>

#include "gateway/ops/log.hpp"

namespace tidegate::events {

void Streams::capture(const StreamConfig& stream) {
  // The queue reference first, durable at once: the ingest thread applies both
  // before any later publish, so nothing the filter matches from here is missed.
  std::promise<void> subscribed;
  auto done = subscribed.get_future();
  ingest_.subscribe(stream_reader_id(stream.name), stream.filter, false,
                    [&subscribed](Ingest::SubscribeResult) { subscribed.set_value(); });
  ingest_.set_durable(stream.filter, true);
  done.get();
}

void Streams::release(const StreamConfig& stream) {
  ingest_.set_durable(stream.filter, false);
  ingest_.unsubscribe(stream_reader_id(stream.name), stream.filter);
  for (const auto& [group, seq] : groups(stream)) {
    Ingest::SessionProgress erase;
    erase.erased_queues.push_back(stream.filter);
    erase.counts_toward_backlog = false;
    ingest_.save_progress(stream_group_id(stream.name, group), std::move(erase));
  }
}

void Streams::start(const std::vector<StreamConfig>& streams) {
  // Groups of streams removed while the gateway was stopped go, so a stream
  // added again later under the same name starts with no groups.
  for (const auto& [reader, queue] : store_.offset_keys_of_readers("$stream/")) {
    const bool configured = std::any_of(streams.begin(), streams.end(), [&](const StreamConfig& s) {
      return reader.starts_with(stream_group_id(s.name, "")) && queue == s.filter;
    });
    if (configured) continue;
    Ingest::SessionProgress erase;
    erase.erased_queues.push_back(queue);
    erase.counts_toward_backlog = false;
    ingest_.save_progress(reader, std::move(erase));
    log::info("streams: the offset of '" + reader + "' on '" + queue + "' is gone: no such stream is configured any more");
  }
  for (const auto& s : streams) {
    capture(s);
    streams_.emplace(s.name, s);
  }
  if (!streams.empty()) log::info("streams: " + std::to_string(streams.size()) + " capturing");
}

void Streams::apply(const std::vector<StreamConfig>& next) {
  std::map<std::string, StreamConfig> wanted;
  for (const auto& s : next) wanted.emplace(s.name, s);
  for (auto it = streams_.begin(); it != streams_.end();) {
    auto w = wanted.find(it->first);
    if (w != wanted.end() && w->second == it->second) {
      ++it;
      continue;
    }
    // Removed, or its filter changed: a stream of another filter is another stream.
    release(it->second);
    log::info("stream '" + it->first + "': " + (w == wanted.end() ? "removed" : "changed") +
              " by reload; its groups' offsets are gone");
    it = streams_.erase(it);
  }
  for (const auto& [name, s] : wanted) {
    if (streams_.count(name)) continue;
    capture(s);
    streams_.emplace(name, s);
    log::info("stream '" + name + "': capturing " + s.filter + " (reload)");
  }
}

const StreamConfig* Streams::find(const std::string& name) const {
  auto it = streams_.find(name);
  return it == streams_.end() ? nullptr : &it->second;
}

std::vector<store::MessagePtr> Streams::read(const StreamConfig& stream, std::uint64_t from_seq, std::size_t max) const {
  return store_.read_queue(stream.filter, from_seq ? from_seq - 1 : 0, max);
}

std::uint64_t Streams::committed(const StreamConfig& stream, const std::string& group) const {
  auto offsets = store_.load_offsets(stream_group_id(stream.name, group));
  auto it = offsets.find(stream.filter);
  return it == offsets.end() ? 0 : it->second;
}

std::vector<std::pair<std::string, std::uint64_t>> Streams::groups(const StreamConfig& stream) const {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  const std::string prefix = stream_group_id(stream.name, "");
  for (const auto& [reader, queue] : store_.offset_keys_of_readers(prefix))
    if (queue == stream.filter) out.emplace_back(reader.substr(prefix.size()), committed(stream, reader.substr(prefix.size())));
  return out;
}

void Streams::commit(const StreamConfig& stream, const std::string& group, std::uint64_t seq, Ingest::Done done) {
  Ingest::SessionProgress progress;
  progress.offsets.emplace_back(stream.filter, seq);
  progress.counts_toward_backlog = false;
  ingest_.save_progress(stream_group_id(stream.name, group), std::move(progress), std::move(done));
}

}  // namespace tidegate::events
