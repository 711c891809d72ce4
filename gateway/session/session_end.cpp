#include "gateway/session/session_end.hpp"

namespace tidegate {

void end_session(Ingest& ingest, const Session& session) {
  for (const auto& [filter, sub] : session.subscriptions) ingest.unsubscribe(session.client_id(), filter);
  ingest.save_session(session.client_id(), std::nullopt);
}

}  // namespace tidegate
