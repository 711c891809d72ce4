#pragma once
// Ending a session (MQTT 4.1): its queue references are released, its stored
// record and offsets erased. Any thread (it only posts to the ingest thread).
#include <memory>

#include "gateway/pipeline/ingest.hpp"
#include "gateway/session/session.hpp"

namespace tidegate {

void end_session(Ingest& ingest, const Session& session);

}  // namespace tidegate
