// CLIENT TRACKING / CACHING / GETREDIR / TRACKINGINFO (client-side caching,
// docs/client-tracking.md), the INFO fields, and the end of a tracking client.
#pragma once

#include <string>

#include "store/command_table.h"

namespace darter::server {

class Connection;
class Server;

// CLIENT subcommand handlers (args[0] = CLIENT, args[1] = the subcommand; arity checked).
void ClientTrackingCommand(store::ConnectionContext& c);
void ClientCachingCommand(store::ConnectionContext& c);
void ClientGetRedirCommand(store::ConnectionContext& c);
void ClientTrackingInfoCommand(store::ConnectionContext& c);

// Turns tracking off for `conn` (CLIENT TRACKING off, RESET, the connection's end):
// its BCAST prefixes leave every shard; its keys stay in the tables and go lazily (a
// message to a client that is gone or no longer tracks is dropped), as in Redis.
void DisableTracking(Connection& conn);

// INFO: tracking_clients (Clients section) and the tracking_total_* lines (Stats).
int64_t TrackingClientCount(Server& server);
std::string TrackingInfoStats(Server& server);

}  // namespace darter::server
