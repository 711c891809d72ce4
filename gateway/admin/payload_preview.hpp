#pragma once
// A short, safe look at a payload for the admin API's listings (retained
// messages): text as it is when it is UTF-8 without control characters
// (except tab and newline), otherwise "hex:" and its first bytes. At most
// about 64 characters, with "…" when cut. Pure, any thread.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace tidegate::admin {

std::string payload_preview(std::string_view payload);

// A whole payload for one look (the console's retained view): {"encoding":
// "text", "data": the text} when it is UTF-8 (control characters allowed),
// else {"encoding": "base64", "data": ...}; the first kPayloadViewBytes only.
inline constexpr std::size_t kPayloadViewBytes = 64 * 1024;
nlohmann::json payload_view(std::string_view payload);

}  // namespace tidegate::admin
