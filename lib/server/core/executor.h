// The shard executor: the one place where a command's work runs on a shard. Every path
// that runs a command (a connection's own shard, a squashed pipeline, a command posted
// to its key's shard, a multi-shard op's hops, a script's redis.call, a woken blocked
// client) goes through these functions, which do, in this order:
//  1. the handler (or the op's hop), replying into the caller's builder; a running
//     snapshot gets each key before it changes from the store's mutating lookups
//     (store/snapshot.h), not from here;
//  2. when it changed something, the report to the shard's write observers
//     (store/write_observer.h: journal, WATCH, wake-ups), grouped as `tx` says.
// A tracking client's read also leaves its keys in the shard's client-side caching table
// (TrackingScope below). A later per-command hook (statistics, keyspace events) belongs
// here too.
//
// Thread-safety: on the shard's own thread, with none of the command's keys locked by
// another transaction (the caller checks or holds the locks).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "resp/reply_builder.h"
#include "store/command_table.h"
#include "store/multi_shard_op.h"
#include "store/shard.h"

namespace darter::server {

// How the journal groups a write (journal.h): a command of its own (txid 0), or a part
// of transaction `txid`, which spans `shards` shards (a multi-shard op, a script).
struct TxTag {
  uint64_t txid = 0;
  unsigned shards = 1;
};

// Client-side caching (server/tracking/, docs/client-tracking.md): the tracking client a
// command runs for, set on the thread that runs it (TrackingScopeGuard) by the paths a
// tracking client's commands take. RunOnShard and RunHopOnShard remember a read's keys
// for it; the tracking table's write observer reads `noloop`. Null for every client that
// does not track, so the executor pays one branch.
struct TrackingScope {
  uint64_t client = 0;
  unsigned thread = 0;        // the client's connection thread
  bool record_reads = false;  // remember this command's keys (a read the mode lets count)
  bool noloop = false;        // NOLOOP: the client's own writes do not invalidate its keys
  // A MULTI block's scope: of the op's keys only these (sorted) count as read, those of
  // the block's read commands. Null for any other command.
  const std::vector<std::string>* block_reads = nullptr;
  // Remembers `keys` of `shard` for the client; set by the tracking module, with `tables`
  // (its own state) for it to find the shard's table.
  void (*remember)(store::Shard& shard, const TrackingScope& scope, std::span<const std::string_view> keys) = nullptr;
  void* tables = nullptr;
};
// Constant-initialized and defined here (not extern), so every use is a plain TLS access:
// an extern thread_local goes through a TLS wrapper call, which UBSan's null check
// flagged in sanitizer builds.
inline thread_local const TrackingScope* t_tracking_scope = nullptr;
class TrackingScopeGuard {
 public:
  explicit TrackingScopeGuard(const TrackingScope* s) : saved_(t_tracking_scope) { t_tracking_scope = s; }
  ~TrackingScopeGuard() { t_tracking_scope = saved_; }
  TrackingScopeGuard(const TrackingScopeGuard&) = delete;
  TrackingScopeGuard& operator=(const TrackingScopeGuard&) = delete;

 private:
  const TrackingScope* saved_;
};

// Runs single-shard command `spec` (its shard_handler) on `shard`. `keys` are the
// command's keys, all on this shard. Returns whether it changed anything.
bool RunOnShard(store::Shard& shard, const store::CommandSpec& spec, unsigned db, store::ArgList args,
                std::span<const std::string_view> keys, resp::ReplyBuilder& reply, int64_t now, TxTag tx = {});

// One multi-hop op's state on one shard, carried from hop to hop. An op may write one
// shard in several hops (LMOVE pops, then pushes): a hop that rewrote nothing stands for
// the op's command as sent, which must reach the journal once per shard, so the repeats
// are dropped. The first report already named every key the op has on this shard
// (WATCH, wake-ups).
struct OpOnShard {
  TxTag tx;
  bool verbatim_reported = false;
  bool wrote = false;  // some hop changed this shard
};

// Runs hop `hop` of `op` on ctx.shard. The snapshot step covers the op's keys on this
// shard (ctx.key_indices) whatever the hop does: an op does not say which hops write.
void RunHopOnShard(store::MultiShardOp& op, int hop, store::HopContext& ctx, OpOnShard& state);

// Runs every hop of `op`, from `plan` on, on `shard`, synchronously. REQUIRES: every
// hop targets this shard; `key_indices` (into `args`) are the op's keys, all on it.
// Returns whether any hop wrote.
bool RunAllHopsOnShard(store::Shard& shard, store::MultiShardOp& op, store::HopPlan plan, store::ArgList args,
                       std::span<const size_t> key_indices, unsigned db, unsigned shard_count, int64_t now,
                       TxTag tx);

}  // namespace darter::server
