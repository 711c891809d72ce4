#pragma once
// Where a rule's action takes the messages its reader matched: a webhook or
// a republish. The reader hands them over in order; the sink says when each
// is finished (delivered, dead-lettered or dropped, never silently) so the
// reader can move its committed offset over the finished prefix
// (docs/events.md, "Delivery"). Events thread only.
#include <cstddef>
#include <cstdint>
#include <functional>

#include "storeclient/message.hpp"

namespace tidegate::events {

class ActionSink {
 public:
  using Finished = std::function<void(std::uint64_t seq)>;
  virtual ~ActionSink() = default;
  virtual void take(store::MessagePtr message) = 0;
  // No new work; what is under way may still call Finished until it notices.
  virtual void stop() = 0;
  // A reader never hands over more than this many unfinished messages.
  virtual std::size_t window() const = 0;
};

}  // namespace tidegate::events
