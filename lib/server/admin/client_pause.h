// CLIENT PAUSE timeout [WRITE|ALL] and CLIENT UNPAUSE (Redis 6.2 / 7.0).
//
// While a pause is in effect, a client's command that it holds back waits (it does not
// fail): ALL holds back every command, WRITE the commands that may change the dataset
// or reach the replication stream (write commands, and Redis's may-replicate ones:
// EVAL, EVALSHA, FCALL, PUBLISH, SPUBLISH, PFCOUNT, SCRIPT LOAD/FLUSH, FUNCTION
// LOAD/DELETE/FLUSH/RESTORE, and EXEC of a block holding any of them). Reads go on.
// The primary's stream on a replica, replicas' feeds and MONITOR clients are never
// paused. Pauses combine as in Redis: the most restrictive mode and the latest end win;
// CLIENT UNPAUSE ends every pause at once.
//
// A waiting client's connection keeps reading its input (a disconnect ends the wait and
// the command is dropped; pipelined requests wait behind it in order). While a pause is
// in effect the shards' active expiry and eviction leave the dataset alone, so a
// cutover sees it frozen (keys read after their expiry are still removed on access).
//
// Thread-safety: the pause state is process-wide atomics; waiters live on their
// connection's thread and CLIENT UNPAUSE wakes them by posting to every shard thread.
#pragma once

#include "server/core/asio.h"
#include "store/command_table.h"

namespace darter::server {

class Connection;

// One relaxed load: false when no pause was set since the last one ended (the whole
// cost of CLIENT PAUSE on a command's path when nobody pauses).
bool PauseMayBeActive();
// Whether `spec` with `args` from `conn` must wait now (the pause's end is checked).
bool MustWaitForPause(Connection& conn, const store::CommandSpec& spec, store::ArgList args);
// Waits while the pause holds the command back, reading the client's input meanwhile.
// On return the client may be closed (it disconnected): the command must not run.
awaitable<void> WaitForPause(Connection& conn, const store::CommandSpec& spec, store::ArgList args);
// True while a pause is in effect: active expiry and eviction skip their work.
bool DatasetFrozenByPause();
// FAILOVER's pause (Redis's PAUSE_DURING_FAILOVER): on, clients' writes wait as under
// CLIENT PAUSE WRITE until it is turned off; CLIENT UNPAUSE does not end it.
class Server;
void SetFailoverPause(Server& srv, bool on);

void ClientPauseCommand(store::ConnectionContext& c);
void ClientUnpauseCommand(store::ConnectionContext& c);

}  // namespace darter::server
