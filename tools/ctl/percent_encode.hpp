#pragma once
// Percent-encoding of path segments and query values (RFC 3986 2.1): every
// byte other than the unreserved characters is encoded, so a topic's '/'
// becomes %2F and stays one path segment.
#include <string>
#include <string_view>

namespace tidegate::ctl {

std::string percent_encode(std::string_view text);

}  // namespace tidegate::ctl
