// The replica's side of a primary's link once the stream flows: what it sends back.
// Shared by the PSYNC feed (repl_master.cc) and the multi-flow links
// (repl_flow_master.cc), which depend on nothing else of each other.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "server/core/asio.h"

namespace darter::server {

class Connection;

// Reads what a replica sends on its link (REPLCONF ACK <n>; anything else is ignored)
// until `stopped()` or the socket fails; then calls on_end. Connection thread.
awaitable<void> ReadReplicaAcks(std::shared_ptr<Connection> conn, std::function<bool()> stopped,
                                std::function<void(int64_t)> on_ack, std::function<void()> on_end);

}  // namespace darter::server
