#pragma once
// A rule's republish action (docs/events.md, "Republish"): each matched
// message is published again under the topic (and payload) its templates
// make, as a publish of the gateway's own, once the previous one is stored,
// so the output keeps the input's order. Its publisher is the rule
// ("$rule/<name>"), which the rule's readers skip: a rule never triggers
// itself through its own output. Events thread only.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <memory>

#include "gateway/events/action_counters.hpp"
#include "gateway/events/action_sink.hpp"
#include "gateway/events/rule_config.hpp"
#include "gateway/pipeline/ingest.hpp"

namespace tidegate::events {

class RepublishSink final : public ActionSink {
 public:
  RepublishSink(boost::asio::io_context& io, Ingest& ingest, RepublishConfig config, std::string origin,
                std::shared_ptr<ActionCounters> counters, Finished finished);
  ~RepublishSink() override;
  void take(store::MessagePtr message) override;
  void stop() override;
  std::size_t window() const override { return 256; }

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace tidegate::events
