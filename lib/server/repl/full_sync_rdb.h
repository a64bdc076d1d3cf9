// The RDB a full sync sends: every shard's data at one point in time, merged into one
// file-format stream, and a journal sync point recorded at that same point on each shard,
// so the replication stream that follows starts exactly where the RDB stops.
//
// It is MergedRdb (merged_rdb.h): a whole-shard hop starts every shard's fork-less
// snapshot (store/snapshot.h) and, in the same shard task, appends the journal's sync
// point; the shards then serialize between commands while writes go on.
//
// Thread-safety: a coroutine on any shard thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "rdb/status.h"
#include "server/core/asio.h"

namespace darter::server {

class Server;
class Journal;

// A built full-sync RDB. It goes to a temp file in --dir, unlinked as soon as it is open
// (disk-based sync, as Redis's repl-diskless-sync no: the dataset is not held twice in
// memory, and nothing is left behind if the server dies); when that file cannot be
// created, to memory.
class FullSyncPayload {
 public:
  FullSyncPayload() = default;
  ~FullSyncPayload();
  FullSyncPayload(const FullSyncPayload&) = delete;
  FullSyncPayload& operator=(const FullSyncPayload&) = delete;

  uint64_t size() const { return size_; }
  uint64_t keys() const { return keys_; }
  bool on_disk() const { return fd_ >= 0; }
  // Copies up to `n` bytes from `offset` into `buf`; returns how many (0 at the end or
  // on a read error).
  size_t Read(uint64_t offset, char* buf, size_t n) const;

 private:
  friend struct FullSyncWriter;
  int fd_ = -1;
  std::string memory_;
  uint64_t size_ = 0, keys_ = 0;
};

// Writes the dataset as an RDB into `out` and appends a kSyncPoint entry with `sync_id`
// to every shard's journal at the snapshot point. `every_second` runs on the caller's
// thread about once a second while the RDB is built (a keep-alive for the replica).
// `stream_db` is the db the stream that follows is in (the RDB's repl-stream-db).
// REQUIRES: the journal is registered.
awaitable<rdb::Status> BuildFullSyncRdb(Server& server, Journal& journal, uint64_t sync_id, FullSyncPayload& out,
                                        const std::function<void()>& every_second, unsigned stream_db = 0);

}  // namespace darter::server
