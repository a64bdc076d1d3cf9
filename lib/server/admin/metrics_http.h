// The metrics page (docs/metrics.md): GET /metrics answers every INFO figure in
// Prometheus's text format (prometheus_text.h). It is reached two ways:
// - on the client ports, when a connection's first line is an HTTP GET (the rule is in
//   core/http_request.h; core calls ObserverHooks::http_get, set by InstallMetricsHttp);
//   there the page is served only to a client that needs no password (the default user
//   has none), others get 403;
// - on --metrics-port, a listener of its own on the bind addresses that speaks only
//   HTTP and always serves.
//
// Thread-safety: both run on a shard thread's loop (the connection's).
#pragma once

#include <string>

#include "server/core/asio.h"

namespace darter::server {

class Server;

// The whole HTTP response to a GET of `path`: /metrics (200, or 403 when not
// `authorized`), anything else 404.
awaitable<std::string> MetricsHttpGet(Server& srv, std::string path, bool authorized);

// Sets ObserverHooks::http_get. Called once before the server serves.
void InstallMetricsHttp();

// One connection of --metrics-port: one request, answered, then closed
// (ServeOneHttpRequest, core/http_session.h).
awaitable<void> ServeMetricsPortClient(Server& srv, asio::ip::tcp::socket socket);

}  // namespace darter::server
