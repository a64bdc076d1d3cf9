// INFO's text, for INFO itself and for the metrics page (metrics_http.h), which renders
// the same figures in Prometheus's format: one gathering, no second bookkeeping.
//
// Thread-safety: CollectInfo runs on any shard thread's loop and visits every shard thread.
#pragma once

#include <string>
#include <vector>

#include "server/core/asio.h"

namespace darter::server {

class Server;

// The INFO text for `sections` (lower-cased INFO arguments: none for the default set,
// "everything" for all), as INFO answers it.
awaitable<std::string> CollectInfo(Server& srv, std::vector<std::string> sections);

}  // namespace darter::server
