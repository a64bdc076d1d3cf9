#include "server/core/transaction.h"

#include "server/core/cross_thread.h"
#include "server/core/executor.h"
#include "store/multi_shard_op.h"
#include "store/check.h"

namespace darter::server {

namespace {

using store::HopContext;
using store::HopPlan;
using store::HopTarget;
using store::MultiShardOp;

struct OpLayout {
  std::vector<std::vector<size_t>> keys_by_shard;  // arg indices per shard
};

// The multi-shard transaction whose coordinator runs on this thread (CurrentTransaction).
thread_local RunningTransaction current_transaction;

// Sets current_transaction for the scope of one NextHop call.
class PlanningScope {
 public:
  PlanningScope(uint64_t txid, unsigned shards) : saved_(current_transaction) { current_transaction = {txid, shards}; }
  ~PlanningScope() { current_transaction = saved_; }

 private:
  RunningTransaction saved_;
};

// Runs every hop of `op` on one shard, synchronously. REQUIRES: on that shard's thread,
// and every hop targets this shard. `txid` groups the op's writes in the journal as a
// one-shard transaction (as scripts do): an op of several writing hops here (a MULTI
// block, LMOVE) is one unit, and a replica that shards keys differently must apply it
// whole.
void RunAllHopsHere(ShardThread& st, MultiShardOp& op, HopPlan plan, const OpLayout& layout, store::ArgList args,
                    unsigned db, unsigned n, uint64_t txid) {
  bool wrote = RunAllHopsOnShard(st.shard(), op, plan, args, layout.keys_by_shard[st.index()], db, n,
                                 store::UnixTimeMs(), TxTag{txid, 1});
  if (wrote) st.shard().NotifyTxEnd(txid, 1);
}

std::vector<std::string_view> KeysOf(const std::vector<size_t>& idx, store::ArgList args) {
  std::vector<std::string_view> keys;
  keys.reserve(idx.size());
  for (size_t i : idx) keys.push_back(args[i]);
  return keys;
}

}  // namespace

RunningTransaction CurrentTransaction() { return current_transaction; }

std::vector<unsigned> HopShards(const HopPlan& plan, const std::vector<std::vector<size_t>>& keys_by_shard,
                                store::ArgList args, unsigned n) {
  std::vector<unsigned> out;
  switch (plan.target) {
    case HopTarget::kDone:
      break;
    case HopTarget::kKeyShards:
      for (unsigned s = 0; s < n; ++s)
        if (!keys_by_shard[s].empty()) out.push_back(s);
      break;
    case HopTarget::kAllShards:
      for (unsigned s = 0; s < n; ++s) out.push_back(s);
      break;
    case HopTarget::kShardOfKey:
      out.push_back(store::ShardOf(args[plan.key_index], n));
      break;
    case HopTarget::kShard:
      out.push_back(plan.shard);
      break;
    case HopTarget::kShardList:
      out = plan.shards;
      break;
  }
  return out;
}

awaitable<uint64_t> ScheduleEverywhere(ShardSet& shards, const std::vector<unsigned>& participants,
                                       std::vector<TxShardEntry>& entries,
                                       const std::vector<asio::io_context*>& ctxs) {
  while (true) {
    uint64_t txid = shards.NextTxId();
    std::vector<char> scheduled(participants.size(), 0);
    for (auto& e : entries) {
      e.txid = txid;
      e.started = false;
      e.pending_hop = nullptr;
    }
    co_await AwaitAll(ctxs, [&](size_t i) { scheduled[i] = shards.at(participants[i]).Schedule(&entries[i]); });
    bool all = true;
    for (char c : scheduled) all = all && c;
    if (all) co_return txid;
    std::vector<asio::io_context*> undo;
    std::vector<size_t> undo_idx;
    for (size_t i = 0; i < participants.size(); ++i) {
      if (scheduled[i]) {
        undo.push_back(ctxs[i]);
        undo_idx.push_back(i);
      }
    }
    co_await AwaitAll(undo, [&](size_t j) { shards.at(participants[undo_idx[j]]).Conclude(&entries[undo_idx[j]]); });
  }
}

void ConcludeOnShard(ShardThread& st, TxShardEntry& entry, TxTag tx) {
  st.shard().NotifyTxEnd(tx.txid, tx.shards, entry.started);
  st.Conclude(&entry);
}

// Ordinary functions, not coroutines: they only build the awaitable, so the lambdas'
// copies are made outside any coroutine frame (see cross_thread.h).
awaitable<void> ConcludeEverywhere(ShardSet& shards, const std::vector<unsigned>& participants,
                                   std::vector<TxShardEntry>& entries, const std::vector<asio::io_context*>& ctxs,
                                   TxTag tx) {
  return AwaitAll(ctxs, [&shards, &participants, &entries, tx](size_t i) {
    ConcludeOnShard(shards.at(participants[i]), entries[i], tx);
  });
}

awaitable<std::string> RunOnKeyShard(ShardSet& shards, unsigned shard, const store::CommandSpec& spec,
                                     store::ArgList args, const std::vector<std::string_view>& keys, unsigned db,
                                     int protocol, const TrackingScope* tracking) {
  ShardThread& st = shards.at(shard);
  const store::CommandSpec* sp = &spec;
  return AwaitOn<std::string>(st.ctx(), [&st, sp, args, keys, db, protocol, tracking](Completion<std::string> done) {
    st.RunWhenUnlocked(db, keys, [&st, sp, args, keys, db, protocol, tracking, done] {
      TrackingScopeGuard scope(tracking);
      std::string out;
      resp::ReplyBuilder rb(&out);
      rb.SetProtocol(protocol);
      RunOnShard(st.shard(), *sp, db, args, keys, rb, store::UnixTimeMs());
      done(std::move(out));
    });
  });
}

awaitable<void> RunMultiShardOp(ShardSet& shards, const store::CommandSpec& spec, store::ArgList args, unsigned db,
                                resp::ReplyBuilder& reply, const TrackingScope* tracking) {
  std::unique_ptr<MultiShardOp> owned = spec.multi_shard(args);
  std::vector<size_t> key_indices = spec.KeyIndices(args);
  co_await RunOp(shards, *owned, args, key_indices, db, reply, tracking);
}

awaitable<void> RunOp(ShardSet& shards, store::MultiShardOp& op_ref, store::ArgList args,
                      const std::vector<size_t>& key_indices, unsigned db, resp::ReplyBuilder& reply,
                      const TrackingScope* tracking) {
  const unsigned n = shards.size();
  MultiShardOp* op = &op_ref;
  OpLayout layout;
  layout.keys_by_shard.resize(n);
  for (size_t i : key_indices) layout.keys_by_shard[store::ShardOf(args[i], n)].push_back(i);

  HopPlan plan = op->FirstHop(n);
  if (plan.target == HopTarget::kDone) {
    op->Reply(reply);
    co_return;
  }

  // Lock-free fan-outs (DBSIZE, KEYS, SCAN, RANDOMKEY): hop by hop, no scheduling.
  if (!op->needs_locks()) {
    int64_t now = store::UnixTimeMs();
    std::vector<OpOnShard> on_shard(n);
    for (int hop = 0; plan.target != HopTarget::kDone; ++hop) {
      std::vector<unsigned> targets = HopShards(plan, layout.keys_by_shard, args, n);
      std::vector<asio::io_context*> ctxs;
      for (unsigned s : targets) ctxs.push_back(&shards.at(s).ctx());
      co_await AwaitAll(ctxs, [&, hop](size_t i) {
        ShardThread& st = shards.at(targets[i]);
        HopContext ctx{st.shard(), db, args, layout.keys_by_shard[targets[i]], now, n};
        TrackingScopeGuard scope(tracking);
        RunHopOnShard(*op, hop, ctx, on_shard[targets[i]]);
      });
      plan = op->NextHop(hop);
    }
    op->Reply(reply);
    co_return;
  }

  // Shards that take part: those holding keys, or all for whole-shard commands.
  std::vector<unsigned> participants;
  bool whole_shard = op->locks_whole_shards();
  for (unsigned s = 0; s < n; ++s)
    if (whole_shard || !layout.keys_by_shard[s].empty()) participants.push_back(s);

  if (participants.size() == 1 && !whole_shard) {
    unsigned s = participants[0];
    ShardThread& st = shards.at(s);
    std::vector<std::string_view> shard_keys = KeysOf(layout.keys_by_shard[s], args);
    const uint64_t txid = shards.NextTxId();
    if (ShardSet::CurrentIndex() == static_cast<int>(s) && !st.AnyLocked(db, shard_keys)) {
      TrackingScopeGuard scope(tracking);
      RunAllHopsHere(st, *op, plan, layout, args, db, n, txid);
    } else {
      co_await AwaitOn<bool>(st.ctx(), [&](Completion<bool> done) {
        st.RunWhenUnlocked(db, shard_keys, [&, done] {
          TrackingScopeGuard scope(tracking);
          RunAllHopsHere(st, *op, plan, layout, args, db, n, txid);
          done(true);
        });
      });
    }
    op->Reply(reply);
    co_return;
  }

  // The general case: schedule, hop, conclude.
  std::vector<TxShardEntry> entries(participants.size());
  std::vector<asio::io_context*> ctxs;
  std::vector<int> entry_of_shard(n, -1);
  for (size_t i = 0; i < participants.size(); ++i) {
    unsigned s = participants[i];
    ctxs.push_back(&shards.at(s).ctx());
    entry_of_shard[s] = static_cast<int>(i);
    entries[i].whole_shard = whole_shard;
    for (size_t k : layout.keys_by_shard[s]) entries[i].locks.push_back(LockKey{db, args[k]});
  }
  co_await ScheduleEverywhere(shards, participants, entries, ctxs);

  int64_t now = store::UnixTimeMs();
  const TxTag tx{entries[0].txid, static_cast<unsigned>(participants.size())};
  std::vector<OpOnShard> on_shard(n, OpOnShard{tx});
  bool concluded = false;
  for (int hop = 0; plan.target != HopTarget::kDone; ++hop) {
    std::vector<unsigned> targets = HopShards(plan, layout.keys_by_shard, args, n);
    // On an op's last hop every participant concludes in the same fan-out: a target
    // right after its hop (same task, so nothing runs between its writes and its end
    // in the journal), any other participant at once (its part ended with an earlier
    // hop, which the coordinator has awaited).
    const bool last = op->IsLastHop(hop);
    std::vector<char> is_target(n, 0);
    for (unsigned s : targets) is_target[s] = 1;
    if (last) {
      for (unsigned s : participants)
        if (!is_target[s]) targets.push_back(s);
    }
    std::vector<asio::io_context*> hop_ctxs;
    for (unsigned s : targets) hop_ctxs.push_back(&shards.at(s).ctx());
    co_await AwaitAllAsync(hop_ctxs, [&, hop, last](size_t i, std::function<void()> done) {
      unsigned s = targets[i];
      ShardThread& st = shards.at(s);
      // An op may only hop to shards it scheduled on (see MultiShardOp::locks_whole_shards).
      DARTER_CHECK(entry_of_shard[s] >= 0, "a hop targets only scheduled shards");
      TxShardEntry* e = &entries[entry_of_shard[s]];
      if (!is_target[s]) {
        ConcludeOnShard(st, *e, tx);
        done();
        return;
      }
      st.RequestHop(e, [&, s, hop, last, e, done] {
        ShardThread& here = shards.at(s);
        HopContext ctx{here.shard(), db, args, layout.keys_by_shard[s], now, n};
        TrackingScopeGuard scope(tracking);
        RunHopOnShard(*op, hop, ctx, on_shard[s]);
        if (last) ConcludeOnShard(here, *e, tx);
        done();
      });
    });
    PlanningScope planning(tx.txid, tx.shards);
    plan = op->NextHop(hop);
    if (last) {
      DARTER_CHECK(plan.target == HopTarget::kDone, "no hop after the one an op declared its last");
      concluded = true;
    }
  }
  if (!concluded) co_await ConcludeEverywhere(shards, participants, entries, ctxs, tx);
  op->Reply(reply);
}

}  // namespace darter::server
