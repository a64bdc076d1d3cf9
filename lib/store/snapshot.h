// ShardSnapshot: a point-in-time, fork-less snapshot of one shard (all its databases),
// serialized as RDB body records (SELECTDB + key records, no header, no EOF) and handed
// to a sink in chunks. Shared by SAVE, BGSAVE, shutdown saves and replication full syncs.
//
// How it stays point-in-time while commands keep running (docs/persistence.md):
//  * Start() is THE snapshot point. Every slot that exists then must be emitted exactly
//    once with the value it had then; no slot created afterwards is emitted.
//  * Each running snapshot owns one bit of Slot::snap (up to kMaxSnapshots run at once
//    on a shard). Bit k of a slot equals the shard's parity bit k iff the slot needs no
//    serializing by snapshot k (already emitted, or created after the point). Start()
//    flips parity bit k, which makes every existing slot "pending" in O(1); DbTable
//    stamps new slots with the current parity, so they count as done.
//  * Step() walks every database with DbTable's split-stable cursor and emits pending
//    slots. Splits move slots together with their bit, so a slot visited twice is
//    emitted once.
//  * Serialize-before-write: before a slot can change, every running snapshot for which
//    it is pending emits it. That happens inside the Shard's mutating entry points —
//    the write lookup FindLive, Upsert (overwrite), Delete, Erase, SetExpire, ForChange,
//    expiry and eviction (Shard::ExpireSlot) — which are the only ways to a changeable
//    slot: Shard::db() is const and the read lookups return const slots. So no command
//    path or undeclared key can skip it. MOVE/COPY ... DB reach the other database's
//    key through its write lookup. FLUSHDB, FLUSHALL and SWAPDB finish every running
//    snapshot of the shard first.
//  * When the walk ends, every slot's bit k equals parity k again: the invariant that
//    makes the next Start() O(1). Cancel() restores it by marking what is left.
//
// Chunks: each chunk is a run of whole records and starts with a SELECTDB, so chunks of
// several shards may be interleaved in one file in any order (repeated SELECTDB sections
// are valid RDB). The concatenation of one shard's chunks is that shard's snapshot.
//
// Thread-safety: shard thread only, like the Shard. The sink runs on the shard thread,
// synchronously, from Step(), Finish(), Cancel() or from inside a write command
// (serialize-before-write); it must not touch the shard.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "rdb/status.h"
#include "rdb/writer.h"
#include "store/db_table.h"

namespace darter::store {

class Shard;

struct SnapshotOptions {
  // RDB version of the records (stream type ids depend on it); the file header or the
  // replication stream must announce the same.
  int rdb_version = 9;
  bool compress = true;
  // A chunk is handed over once it holds at least this many bytes (at a record boundary).
  size_t chunk_bytes = 64 * 1024;
};

class ShardSnapshot {
 public:
  static constexpr unsigned kMaxSnapshots = 4;
  // Receives each chunk (ownership moves). Called on the shard thread.
  using Sink = std::function<void(std::string chunk)>;

  ShardSnapshot(Shard& shard, Sink sink, SnapshotOptions options = {});
  // Cancels a snapshot that is still running.
  ~ShardSnapshot();
  ShardSnapshot(const ShardSnapshot&) = delete;
  ShardSnapshot& operator=(const ShardSnapshot&) = delete;

  // Takes the snapshot point. Fails when kMaxSnapshots already run on this shard.
  // A journal that reads its LSN in the same shard-thread task as Start() knows the
  // snapshot holds exactly the writes before that LSN.
  rdb::Status Start();
  // Emits pending slots, visiting at least `budget` slots (whole buckets). Returns true
  // once the walk is complete and the last chunk has been handed to the sink.
  bool Step(size_t budget);
  // Runs Step until done.
  void Finish();
  // Stops: nothing more reaches the sink. The shard is left ready for the next snapshot.
  void Cancel();

  bool running() const { return running_; }
  bool done() const { return done_; }
  // The first serialization error (a value the writer refused), if any; the walk goes on.
  const rdb::Status& status() const { return status_; }
  uint64_t keys_written() const { return keys_; }
  uint64_t bytes_written() const { return bytes_; }

  // ---- for Shard (serialize-before-write) ----
  unsigned bit() const { return bit_; }
  void EmitSlot(unsigned db, Slot& slot);

 private:
  void FlushChunk(bool force);
  void Complete();

  Shard& shard_;
  Sink sink_;
  SnapshotOptions options_;
  std::string buf_;
  rdb::StringByteSink byte_sink_{&buf_};
  rdb::Writer writer_;
  int chunk_db_ = -1;  // database of the chunk's last SELECTDB, -1 before the first
  uint64_t chunk_start_ = 0;
  unsigned bit_ = 0;
  unsigned db_ = 0;  // walk position
  uint64_t cursor_ = 0;
  bool running_ = false;
  bool done_ = false;
  rdb::Status status_;
  uint64_t keys_ = 0;
  uint64_t bytes_ = 0;
  int64_t now_ms_ = 0;
};

}  // namespace darter::store
