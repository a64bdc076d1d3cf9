// Pub/sub commands (Redis's pubsub.c): SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE,
// PUBLISH, PUBSUB, and 7.0's SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH; plus what the
// connection and server code ask of pub/sub. The subscription registry is
// pubsub_registry.h; delivery across threads is described in pubsub_family.cc.
//
// Thread-safety: every function taking a Connection runs on that connection's thread.
#pragma once

#include <string>
#include <string_view>

#include "store/command_table.h"

namespace darter::server {

class Connection;
class Server;

// Adds this family's rows to the command table. Called once, before threads start.
void RegisterPubSubFamily(store::CommandTable& table);

// PUBLISH (shard=false) / SPUBLISH (shard=true) of `payload` on `channel`, from any shard
// thread (a script, keyspace notifications): delivers to every subscriber and returns
// their number.
size_t PublishMessage(Server& server, bool shard, std::string_view channel, std::string_view payload);

// True while the connection is subscribed to any channel, pattern or shard channel.
bool InSubscribedMode(const Connection& conn);
// RESP2 subscribed mode admits only (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PING, QUIT and
// RESET: Redis's error for any other command, or "" when `spec` may run.
std::string SubscribedModeError(const Connection& conn, const store::CommandSpec& spec, store::ArgList args);
// Removes every subscription of the connection (it is closing, or RESET); messages in
// flight to it are dropped.
void DropSubscriptions(Connection& conn);
// " sub=<n> psub=<n> ssub=<n>" for CLIENT LIST / CLIENT INFO.
std::string PubSubClientFields(const Connection& conn);
// CLIENT LIST/KILL TYPE: whether the connection is of `type` (lower case: normal, master,
// replica, slave, pubsub). Subscribed connections are "pubsub", not "normal".
bool ClientTypeIs(const Connection& conn, std::string_view type);
// INFO stats lines: pubsub_channels, pubsub_patterns, pubsubshard_channels.
std::string PubSubInfoStats(Server& server);

}  // namespace darter::server
