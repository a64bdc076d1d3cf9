#include "server/core/executor.h"

#include <algorithm>
#include <functional>
#include <vector>

#include "server/core/eviction.h"

namespace darter::server {

namespace {

std::vector<std::string_view> KeysAt(store::ArgList args, std::span<const size_t> indices) {
  std::vector<std::string_view> keys;
  keys.reserve(indices.size());
  for (size_t i : indices) keys.push_back(args[i]);
  return keys;
}

}  // namespace

bool RunOnShard(store::Shard& shard, const store::CommandSpec& spec, unsigned db, store::ArgList args,
                std::span<const std::string_view> keys, resp::ReplyBuilder& reply, int64_t now, TxTag tx) {
  // No snapshot hook here: the Shard's mutating lookups serialize a slot for running
  // snapshots before it can change (store/snapshot.h).
  // Over maxmemory, room is made on this shard before a command that may grow memory
  // (eviction.h). Never inside a script or transaction (tx.txid != 0), as Redis evicts
  // only between commands: what it read must not vanish before it ends. Keys locked by
  // running transactions are never chosen.
  if ((spec.flags & store::kCmdDenyOom) && tx.txid == 0 && EvictionArmed()) [[unlikely]]
    EvictBeforeWrite(shard);
  store::CommandContext ctx{shard, db, args, reply, now};
  spec.shard_handler(ctx);
  if (const TrackingScope* t = t_tracking_scope) [[unlikely]] {
    if (t->record_reads && (spec.flags & store::kCmdReadOnly) && !keys.empty()) t->remember(shard, *t, keys);
  }
  if (!ctx.effects.dirty()) return false;
  shard.NotifyWrite({db, args, ctx.effects, keys, tx.txid, tx.shards});
  return true;
}

void RunHopOnShard(store::MultiShardOp& op, int hop, store::HopContext& ctx, OpOnShard& state) {
  op.RunHop(hop, ctx);
  if (const TrackingScope* t = t_tracking_scope) [[unlikely]] {
    if (t->record_reads && !ctx.key_indices.empty()) {
      std::vector<std::string_view> keys = KeysAt(ctx.args, ctx.key_indices);
      if (t->block_reads)
        std::erase_if(keys, [&](std::string_view k) {
          return !std::binary_search(t->block_reads->begin(), t->block_reads->end(), k, std::less<>());
        });
      if (!keys.empty()) t->remember(ctx.shard, *t, keys);
    }
  }
  if (!ctx.effects.dirty()) return;
  state.wrote = true;
  if (!ctx.effects.rewritten()) {
    if (state.verbatim_reported) return;
    state.verbatim_reported = true;
  }
  std::vector<std::string_view> keys = KeysAt(ctx.args, ctx.key_indices);
  ctx.shard.NotifyWrite({ctx.db, ctx.args, ctx.effects, keys, state.tx.txid, state.tx.shards});
}

bool RunAllHopsOnShard(store::Shard& shard, store::MultiShardOp& op, store::HopPlan plan, store::ArgList args,
                       std::span<const size_t> key_indices, unsigned db, unsigned shard_count, int64_t now,
                       TxTag tx) {
  OpOnShard state{tx};
  for (int hop = 0; plan.target != store::HopTarget::kDone; ++hop) {
    store::HopContext ctx{shard, db, args, key_indices, now, shard_count};
    RunHopOnShard(op, hop, ctx, state);
    plan = op.NextHop(hop);
  }
  return state.wrote;
}

}  // namespace darter::server
