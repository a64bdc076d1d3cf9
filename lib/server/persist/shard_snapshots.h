// ShardSnapshots: a point-in-time snapshot of every shard, taken at one cut and then
// serialized by each shard thread in bounded steps between commands. The cut is one
// whole-shard transaction hop, so no multi-shard transaction is half on either side.
//
// Shared by MergedRdb (one RDB of all shards: SAVE, BGSAVE, PSYNC full syncs) and the
// multi-flow full sync (one RDB per shard, each down its own flow).
//
// Thread-safety: StartShardSnapshots from a coroutine on any thread; the callbacks run
// where their comments say; Abort from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "rdb/status.h"
#include "server/core/asio.h"

namespace darter::store {
class Shard;
}

namespace darter::server {

class Server;

struct ShardSnapshotsSpec {
  int rdb_version = 9;
  bool compress = true;  // LZF for strings over 20 bytes (rdbcompression)
  // Shard thread, at its snapshot point inside the cut (no command runs there in
  // between): read a journal LSN here; the snapshot holds exactly the writes before.
  std::function<void(store::Shard&)> at_point;
  // Shard thread: one chunk of that shard's RDB body (starts with SELECTDB).
  std::function<void(unsigned shard, std::string chunk)> chunk;
  // Shard thread: the shard's walk ended (completely, or cancelled by Abort).
  std::function<void(unsigned shard, const rdb::Status& status, uint64_t keys)> shard_done;
  // Shard thread, before each step: true while the consumer of that shard's chunks is
  // behind; the step waits a millisecond and asks again.
  std::function<bool(unsigned shard)> paused;
};

class ShardSnapshots {
 public:
  // Stops every shard's walk at its next step (each still calls shard_done).
  void Abort() { aborted_.store(true); }
  bool aborted() const { return aborted_.load(); }
  struct State;  // shard_snapshots.cc

 private:
  friend awaitable<std::shared_ptr<ShardSnapshots>> StartShardSnapshots(Server& server, ShardSnapshotsSpec spec);
  std::atomic<bool> aborted_{false};
  std::shared_ptr<State> state_;
};

// Takes the cut (returns after every shard passed its point) and sets the shards
// stepping. REQUIRES: shard threads running.
awaitable<std::shared_ptr<ShardSnapshots>> StartShardSnapshots(Server& server, ShardSnapshotsSpec spec);

}  // namespace darter::server
