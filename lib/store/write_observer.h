// Observers of a shard's applied writes: the journal (replication), WATCH invalidation
// and wake-ups of blocked clients all hang off this one point, so every path that
// changes data (inline commands, squashed pipelines, remote single-key commands,
// multi-shard hops, MULTI/EXEC blocks, expiry and eviction) reports the same way.
//
// Invariants:
//  * NotifyWrite runs on the shard thread, right after the change, before any other
//    command touches the shard: observers see writes in the order they were applied.
//  * It is called only when effects.dirty() > 0.
//  * An observer must not run commands or block; it records, flags or schedules.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "store/command_table.h"
#include "store/effects.h"

namespace darter::store {

class Shard;

struct AppliedWrite {
  unsigned db = 0;
  ArgList args;                            // the command as sent; args[0] is its name
  const Effects& effects;                  // dirty count and rewritten commands (effects.h)
  std::span<const std::string_view> keys;  // this shard's keys of the command; empty for keyless/global ones
  uint64_t txid = 0;                       // multi-shard transaction id; 0 for a single-shard command
  unsigned tx_shards = 1;                  // how many shards take part in `txid`
  bool expired = false;                    // the write is a key removed by expiry (args = DEL key)
};

class WriteObserver {
 public:
  virtual ~WriteObserver() = default;
  virtual void OnWrite(Shard& shard, const AppliedWrite& write) = 0;
  // Called on the shard thread just before database `db` of this shard is emptied
  // (FLUSHDB, FLUSHALL, a replica's full resync): the last moment its keys can be seen
  // (WATCH invalidates only keys that existed). The OnWrite for the command follows.
  virtual void BeforeClear(Shard& shard, unsigned db) {
    (void)shard;
    (void)db;
  }
  // A multi-shard transaction concluded on this shard (after all its writes here, even
  // when it changed nothing here), so a journal knows this shard's part is complete.
  // `ran_here`: it ran a hop here (read or wrote this shard's keys); false when the shard
  // was scheduled and released without one.
  virtual void OnTxEnd(Shard& shard, uint64_t txid, unsigned tx_shards, bool ran_here) {
    (void)shard, (void)txid, (void)tx_shards, (void)ran_here;
  }
};

}  // namespace darter::store
