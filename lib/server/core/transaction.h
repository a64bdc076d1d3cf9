// Runs a MultiShardOp atomically across shards (the VLL-style scheme of
// docs/transactions.md):
//  1. the coordinator takes a global transaction id and schedules the transaction on
//     each participating shard, which takes intent locks on its keys and queues it by id;
//  2. a shard refuses when a later transaction already started there, and the
//     coordinator retries with a new id, so every shard runs transactions in id order;
//  3. hops run at the head of each shard's queue; single-shard commands on locked keys
//     wait behind the locks;
//  4. conclude releases the locks; an op that declares its hop count (max_hops) concludes
//     in the fan-out of its last hop, so MSET or DEL over several shards costs two
//     fan-outs (schedule, hop) rather than three.
// An op whose keys all live on one shard skips all of that: it runs as one closure on
// that shard (inline when it is the caller's own shard and its keys are free). Each hop's
// work on a shard goes through the shard executor (executor.h).
//
// Thread-safety: called from a coroutine on a shard thread; `args` must stay valid until
// the awaitable completes.
#pragma once

#include "resp/reply_builder.h"
#include "server/core/asio.h"
#include "server/core/executor.h"
#include "server/core/shard_set.h"
#include "store/command_table.h"
#include "store/multi_shard_op.h"

namespace darter::server {

// `tracking`: the tracking client the op runs for (executor.h), set around each hop.
awaitable<void> RunMultiShardOp(ShardSet& shards, const store::CommandSpec& spec, store::ArgList args, unsigned db,
                                resp::ReplyBuilder& reply, const TrackingScope* tracking = nullptr);

// The shards a hop `plan` reaches, given each shard's key argument indices.
std::vector<unsigned> HopShards(const store::HopPlan& plan, const std::vector<std::vector<size_t>>& keys_by_shard,
                                store::ArgList args, unsigned n);

// The multi-shard transaction whose coordinator is running on this thread, while RunOp
// plans its next hop (MultiShardOp::NextHop, where a MULTI block runs its connection-level
// commands such as EVAL); {0, 1} otherwise.
struct RunningTransaction {
  uint64_t txid = 0;
  unsigned shards = 1;
};
RunningTransaction CurrentTransaction();

// Schedules entries[i] (one per shard participants[i], whose io_context is ctxs[i]) on
// every participant under one fresh txid, retrying with a new id when a shard has already
// run a later transaction (VLL's ordering rule, docs/transactions.md). Returns the txid;
// each entry's txid is set to it.
awaitable<uint64_t> ScheduleEverywhere(ShardSet& shards, const std::vector<unsigned>& participants,
                                       std::vector<TxShardEntry>& entries,
                                       const std::vector<asio::io_context*>& ctxs);

// Ends transaction `tx` on every participant (entries[i] on participants[i], whose
// io_context is ctxs[i]): its part there is complete for the journal (OnTxEnd), then its
// entry and locks go (ShardThread::Conclude), in that order, so no command that waited
// on the locks is journaled inside the transaction.
awaitable<void> ConcludeEverywhere(ShardSet& shards, const std::vector<unsigned>& participants,
                                   std::vector<TxShardEntry>& entries, const std::vector<asio::io_context*>& ctxs,
                                   TxTag tx);

// Ends transaction `tx` on the shard of `st` (the calling thread): journal first, then
// the entry and its locks (see ConcludeEverywhere).
void ConcludeOnShard(ShardThread& st, TxShardEntry& entry, TxTag tx);

// RunMultiShardOp for an op built by the caller (a MULTI/EXEC block, a transaction a
// replica applies, a whole-shard barrier): `args` and `key_indices` name the keys to
// lock. `op` and `args` must outlive the awaitable.
awaitable<void> RunOp(ShardSet& shards, store::MultiShardOp& op, store::ArgList args,
                      const std::vector<size_t>& key_indices, unsigned db, resp::ReplyBuilder& reply,
                      const TrackingScope* tracking = nullptr);

// For a single-shard command: runs `spec` on the keys' shard (RunOnShard, executor.h),
// behind any lock on the keys, and returns the encoded reply. A caller already on that
// shard with the keys free calls RunOnShard itself.
awaitable<std::string> RunOnKeyShard(ShardSet& shards, unsigned shard, const store::CommandSpec& spec,
                                     store::ArgList args, const std::vector<std::string_view>& keys, unsigned db,
                                     int protocol, const TrackingScope* tracking = nullptr);

}  // namespace darter::server
