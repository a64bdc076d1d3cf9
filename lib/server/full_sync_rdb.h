// The RDB a full sync sends: every shard's data at one point in time, merged into one
// file-format stream, and a journal sync point recorded at that same point on each shard,
// so the replication stream that follows starts exactly where the RDB stops.
//
// Today this is a whole-shard transaction (like SAVE): every shard is held while the RDB
// is written, and each shard's sync point is appended inside the same shard task that
// serializes it. When the fork-less snapshot (lib/store/snapshot.h) lands, only this file
// changes: take the snapshot and append the sync point in one shard task, then serialize.
//
// Thread-safety: a coroutine on any shard thread.
#pragma once

#include <cstdint>
#include <string>

#include "rdb/status.h"
#include "server/asio.h"

namespace darter::server {

class Server;
class Journal;

// Writes the dataset as an RDB into `out` and appends a kSyncPoint entry with `sync_id`
// to every shard's journal at the snapshot point. REQUIRES: the journal is registered.
awaitable<rdb::Status> BuildFullSyncRdb(Server& server, Journal& journal, uint64_t sync_id, std::string& out,
                                        uint64_t& keys);

}  // namespace darter::server
