// What core reports to the features above it without depending on them (admin/: the
// slowlog, the latency monitor, CLIENT PAUSE, the metrics page). Each feature installs its
// function when its family registers, before the server serves, and never changes it
// afterwards; a hook not installed costs a null check.
//
// Thread-safety: installed once at start-up, read by every thread after.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

#include "server/core/asio.h"
#include "store/command_table.h"

namespace darter::server {

class Server;

struct ObserverHooks {
  // A command ran for `duration_us` (the slowlog).
  void (*slow_command)(const store::CommandSpec& spec, store::ArgList args, int64_t duration_us,
                       std::string_view client_addr, std::string_view client_name) = nullptr;
  // An event lasted `latency_ms` (the latency monitor: "command", "expire-cycle", ...).
  void (*latency_event)(std::string_view event, int64_t latency_ms) = nullptr;
  // Whether the dataset must stay as it is (CLIENT PAUSE): no active expiry or eviction.
  bool (*dataset_frozen)() = nullptr;
  // The whole HTTP response to a GET of `path` that arrived on a client port
  // (http_request.h); `authorized`: the client would be authenticated without AUTH.
  // Null: HTTP is not recognised and the bytes go to the RESP parser.
  awaitable<std::string> (*http_get)(Server& server, std::string path, bool authorized) = nullptr;
};

ObserverHooks& GetObserverHooks();

}  // namespace darter::server
