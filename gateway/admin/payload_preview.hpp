#pragma once
// A short, safe look at a payload for the admin API's listings (retained
// messages): text as it is when it is UTF-8 without control characters
// (except tab and newline), otherwise "hex:" and its first bytes. At most
// about 64 characters, with "…" when cut. Pure, any thread.
#include <string>
#include <string_view>

namespace tidegate::admin {

std::string payload_preview(std::string_view payload);

}  // namespace tidegate::admin
