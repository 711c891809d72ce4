#pragma once
// GET /api/v1/live: the console's live feed as Server-Sent Events. After the
// header it sends the column names once ("columns") and the newest sample,
// then each new history sample as it is taken ("sample", once a second),
// until the browser goes or the gateway stops. A browser that stops reading
// is cut after 10 s of a blocked write. Main thread (a coroutine per feed).
// docs/console.md.
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>

#include "gateway/admin/http_channel.hpp"
#include "gateway/console/history_sampler.hpp"

namespace tidegate::console {

// `decorate` adds the listener's own headers (security) to the feed's.
boost::asio::awaitable<void> serve_live_feed(admin::HttpChannel& channel, const admin::Request& request,
                                             HistorySampler& sampler,
                                             void (*decorate)(boost::beast::http::response_header<>&));

}  // namespace tidegate::console
