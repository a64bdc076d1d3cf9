// FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT milliseconds] (Redis 6.2's
// coordinated failover; replies and log lines as Redis 7.0's).
//
// The primary hands its role to one of its replicas without losing a write:
//  1. waiting-for-sync: clients' writes are paused (as CLIENT PAUSE WRITE, until the
//     failover ends; CLIENT UNPAUSE does not lift it); the target (TO host port, else the
//     first replica to get there) must acknowledge the whole stream, merged from every
//     shard's journal. After TIMEOUT it gives up, or with FORCE goes on anyway.
//  2. failover-in-progress: this server becomes a replica of the target and asks it
//     "PSYNC <this server's replid> <offset + 1> FAILOVER"; the target (Redis, or Darter:
//     repl_master_family.cc) becomes a primary and continues this server's history, so
//     the resync is partial. An error reply, or no answer within 10 s (or TIMEOUT if
//     longer), aborts: this server is a primary again.
// INFO replication shows the state (master_failover_state: no-failover,
// waiting-for-sync, failover-in-progress).
//
// Only PSYNC replicas can be targets: a Darter multi-flow replica (docs/replication.md)
// acknowledges per-shard journal positions, not the stream offset that the handover's
// PSYNC names, and FAILOVER TO one is refused with an error saying so; FAILOVER without
// TO picks among the PSYNC replicas only. Such replicas stay replicas of this server,
// which keeps journaling what it applies from its new primary.
//
// Thread-safety: the command runs on its connection's thread; the failover itself is a
// coroutine on shard thread 0; the state they share is guarded by a mutex.
#pragma once

#include "store/command_table.h"

namespace darter::server {

void RegisterFailoverFamily(store::CommandTable& table);

}  // namespace darter::server
