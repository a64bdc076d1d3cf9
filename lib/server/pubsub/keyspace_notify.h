// Keyspace notifications' delivery: the store's KeyspaceEventSink, publishing each
// enabled event as Redis's notify.c does, on __keyspace@<db>__:<key> (message: the
// event, when K is enabled) and then __keyevent@<db>__:<event> (message: the key, when
// E is enabled), through the ordinary pub/sub delivery (PublishMessage).
//
// Runs on the shard thread that fired the event; PublishMessage posts one batch per
// destination thread, so a subscriber sees one shard's events in firing order, and
// events of commands that followed one another in the order of those commands.
#pragma once

namespace darter::server {

class Server;

// Makes `server`'s pub/sub the store's keyspace event sink (process-wide). Called by
// Server::Start before clients connect; RemoveKeyspaceNotifier undoes it on shutdown.
void InstallKeyspaceNotifier(Server& server);
void RemoveKeyspaceNotifier(Server& server);

}  // namespace darter::server
