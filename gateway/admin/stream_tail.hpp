#pragma once
// GET /api/v1/streams/NAME/tail: a stream's messages as Server-Sent Events
// (docs/events.md, "Reading a stream"), each one "id: SEQ", "event: message"
// and its JSON, from `from_seq` or `from_time`, from the event after a
// reconnecting client's Last-Event-ID, or else from the next message on,
// until the client goes or the gateway stops. It looks at the store every
// 50 ms while nothing is new and sends a comment every 15 s so proxies keep
// the connection. Counted against admin.max_live_streams with the console's
// live feeds. Main thread (a coroutine per tail).
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http/message.hpp>

#include "gateway/admin/http_channel.hpp"
#include "gateway/events/streams.hpp"
#include "storeclient/lmdb_store.hpp"

namespace tidegate::admin {

// The answer when the request is bad (unknown stream, bad parameters):
// written here; the caller closes the connection either way.
// `stopping`: the gateway is shutting down (the tail ends within 50 ms).
boost::asio::awaitable<void> serve_stream_tail(boost::asio::io_context& io, HttpChannel& channel,
                                               const Request& request, const events::Streams* streams,
                                               const store::LmdbStore& store, const std::atomic<bool>& stopping,
                                               void (*decorate)(boost::beast::http::response_header<>&));

}  // namespace tidegate::admin
