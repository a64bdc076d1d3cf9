// One HTTP request on a socket of its own (--metrics-port, darter-migrate's
// --status-port): reads the request head (at most kMaxHttpHead bytes, within
// kHttpRequestTimeout, which also bounds the answer's write), answers it, closes.
//
// Thread-safety: runs on the socket's executor; `answer` is called there.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "server/core/asio.h"
#include "server/core/http_request.h"

namespace darter::server {

inline constexpr std::chrono::seconds kHttpRequestTimeout{10};

// The whole response (HttpResponse) to a GET of `path` (query string removed).
using HttpGetHandler = std::function<awaitable<std::string>(std::string path)>;

// A request that is not an HTTP/1.x GET gets 405 (another method) or 400; a head over
// kMaxHttpHead gets 431.
awaitable<void> ServeOneHttpRequest(asio::ip::tcp::socket socket, HttpGetHandler answer);

}  // namespace darter::server
