// RDB persistence: SAVE writes every database to --dir/--dbfilename in Redis's RDB
// format (version 9 by default, so Redis 6.2+ loads it); start-up loads that file.
//
// SAVE is a whole-shard transaction: it holds every shard for the duration and writes
// shard by shard, database by database, like Redis's SAVE blocks the server. The
// fork-less background snapshot (BGSAVE, replication snapshots) is docs/ARCHITECTURE's
// snapshot cursor and comes with the persistence/primary issue.
//
// Thread-safety: coroutines run on a shard thread; the file is written from the shard
// threads one at a time (hops are sequential).
#pragma once

#include <string>

#include "rdb/status.h"
#include "server/asio.h"

namespace darter::server {

class Server;

// Writes the dataset to `path` atomically (temp file, fsync, rename).
awaitable<rdb::Status> SaveRdbFile(Server& server, const std::string& path);

// Loads `path` into the (empty) shards, dropping keys whose deadline passed. Blocks
// the caller until done. REQUIRES: shard threads running, no clients yet.
rdb::Status LoadRdbFileAtStartup(Server& server, const std::string& path, uint64_t* keys_loaded);

std::string RdbPath(Server& server);

}  // namespace darter::server
