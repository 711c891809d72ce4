#pragma once
// How the admin API shows sessions and times as JSON (docs/operations.md has
// the fields). Pure functions; called on the main thread.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "gateway/session/session_registry.hpp"

namespace tidegate::admin {

// ISO 8601 UTC with milliseconds; null when absent.
nlohmann::json iso_time(std::optional<std::int64_t> ms);

template <typename T>
nlohmann::json optional_json(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

// A shared subscription member's queue is "$share/g/f" + NUL + client id.
std::string display_queue(const std::string& queue);
nlohmann::json subscription_json(const SessionView::Sub& s);
// `details`: subscriptions, queues, inflight and counters too; `newest_seq`
// gives each queue's lag.
nlohmann::json session_json(const SessionView& v, bool details, std::uint64_t newest_seq);

}  // namespace tidegate::admin
