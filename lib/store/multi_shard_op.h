// MultiShardOp: a command that touches keys on several shards, written as a sequence
// of hops. In a hop, each participating shard runs RunHop on its own thread. Between
// hops the coordinator calls NextHop to choose who runs next. The transaction layer
// (lib/server) holds intent locks on every key of the command from before the first hop
// until after the last, so the whole sequence is atomic and serializable.
//
// Thread-safety: RunHop calls of one hop run concurrently on different shard threads;
// each must touch only the state of "its" keys (e.g. results[i] for its key indices).
// NextHop and Reply run on the coordinator thread after the hop completed everywhere
// (the transaction layer provides the happens-before edge).
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "store/command_table.h"

namespace darter::store {

struct HopContext {
  Shard& shard;
  unsigned db;
  ArgList args;
  std::span<const size_t> key_indices;  // indices into args of the keys this shard owns
  int64_t now_ms;
  unsigned shard_count;
  Effects effects = {};  // what this hop changed on this shard (see effects.h)
};

enum class HopTarget {
  kDone,          // no more hops
  kKeyShards,     // every shard that owns at least one key (the default first hop)
  kAllShards,     // every shard (keyless global commands)
  kShardOfKey,    // the shard of args[key_index] only
  kShard,         // shard number `shard` only (SCAN walks shards one by one)
  kShardList,     // exactly the shards in `shards` (composed ops: MULTI/EXEC blocks)
};

struct HopPlan {
  HopPlan(HopTarget t = HopTarget::kDone, size_t key = 0, unsigned shard_index = 0)
      : target(t), key_index(key), shard(shard_index) {}
  HopTarget target;
  size_t key_index;               // for kShardOfKey
  unsigned shard;                 // for kShard
  std::vector<unsigned> shards;   // for kShardList
};

class MultiShardOp {
 public:
  virtual ~MultiShardOp() = default;
  // Where hop 0 runs.
  virtual HopPlan FirstHop(unsigned shard_count) {
    (void)shard_count;
    return {HopTarget::kKeyShards};
  }
  virtual void RunHop(int hop, HopContext& ctx) = 0;
  // Called after hop `hop` completed on every participant.
  virtual HopPlan NextHop(int hop) {
    (void)hop;
    return {HopTarget::kDone};
  }
  // At most this many hops run (0: not known). When hop max_hops() - 1 runs, NextHop
  // after it must return kDone, so the transaction layer concludes each shard right
  // after that hop's work there: one fan-out to the shards instead of two (Dragonfly's
  // "conclude on the last hop"). An op that may stop earlier still declares its maximum.
  virtual int max_hops() const { return 0; }
  bool IsLastHop(int hop) const { return max_hops() > 0 && hop + 1 >= max_hops(); }
  virtual void Reply(resp::ReplyBuilder& reply) = 0;
  // Global commands (FLUSHALL, SWAPDB) lock whole shards rather than keys.
  virtual bool locks_whole_shards() const { return false; }
  // Read-only fan-outs (DBSIZE, KEYS, SCAN) need no locks: they may observe a state
  // between two other commands on each shard, as Redis readers never see torn keys.
  virtual bool needs_locks() const { return true; }
};

}  // namespace darter::store
