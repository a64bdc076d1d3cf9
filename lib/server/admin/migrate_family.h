// MIGRATE (Redis 7.0's migrateCommand, outside cluster mode): moves keys to another
// Redis-protocol server with DUMP payloads and RESTORE.
//
// How it runs (docs/migrate-command.md):
//  1. on each key's shard, behind any transaction's lock on the key: its DUMP payload and
//     remaining TTL, read in one step;
//  2. on the client's thread, asynchronously (the shard threads and every other client
//     keep running): connect to the target, send [AUTH] [SELECT] and one RESTORE per
//     key, read the replies. Each step (the connect, each 64 KB written, each reply read)
//     must make progress within `timeout` ms, as Redis's syncio does;
//  3. unless COPY, on each key's shard: the key is deleted if it still holds what was
//     sent (same payload and TTL), and the deletion is journaled as DEL, as Redis
//     propagates MIGRATE. A key rewritten while it was in flight is kept: Redis, which
//     blocks the whole server for the transfer, never sees that case, and deleting the
//     newer value would lose a write.
//
// Connections to targets are cached as Redis caches them (per "host:port", closed after
// 10 s unused, SELECT sent only when the database changes, one retry on a new
// connection when a cached one turns out closed); the cache is per thread (see
// TargetLinkCache in the .cc).
//
// Thread-safety: the handler runs on the client's connection thread.
#pragma once

#include "store/command_table.h"

namespace darter::server {

void RegisterMigrateFamily(store::CommandTable& table);

}  // namespace darter::server
