// Lua scripting commands: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT
// LOAD/EXISTS/FLUSH/KILL/HELP, with Redis 7.0's replies.
//
// Atomicity. A script is atomic across the shards of its declared keys:
//  * numkeys > 0: the script locks its declared keys (intent locks, as a MultiShardOp
//    does) on their shards before it starts and releases them when it ends. It may only
//    touch declared keys: a command naming another key, or a keyspace-wide command
//    (KEYS, SCAN, DBSIZE, FLUSHALL, ...), fails with an error (Dragonfly's default too).
//  * numkeys = 0 (or CONFIG SET lua-allow-undeclared-keys yes): the script locks every
//    shard whole, so it may touch any key, as in Redis (at the price of excluding every
//    other command while it runs). With one thread such a script runs inline.
// Execution. Every thread has its own interpreter (script_lua.h); scripts are cached
// by sha for all threads and compiled on a thread when first run there.
//  * All declared keys on one shard: the whole script runs on that shard's thread —
//    inline when it is the connection's own shard and the keys are unlocked (the fast
//    path: no queueing, no hop), else started by a closure posted to that shard behind
//    any lock on the keys. It runs in a fiber and takes real locks on its keys only if it
//    turns busy (or awaits a connection handler such as INFO), so nothing interleaves.
//    Connection-level commands other than PING/ECHO/TIME/SELECT are refused when the
//    script runs on another thread (connection state belongs to its own thread).
//  * Keys on several shards, or numkeys 0: the script is scheduled like a multi-shard
//    transaction (global txid, per-shard queues, locks taken before it starts) and runs
//    on the connection's thread in a ScriptFiber: redis.call suspends the fiber, the
//    connection's coroutine runs the command as a hop on its key's shard
//    (RequestHop), then resumes the fiber with the reply. A fiber suspends anywhere, so
//    pcall(redis.call, ...) works across shards (a Lua coroutine could not yield there).
// Inside MULTI. A queued EVAL runs when EXEC reaches it, in order with the block's other
// commands: the block holds every shard whole, and the script runs synchronously on the
// client's thread, posting each command to its shard (InBlockHost).
// Journal. Commands run by a script go through the shard handlers / MultiShardOp hops
// like any command and are reported to the shard's WriteObservers with their Effects;
// every write of one script carries the script's transaction id (taken also on the
// fast path) and tx_shards = the number of shards it locked, so a journal can group a
// script's effects as one MULTI/EXEC. The script body itself is never journaled.
// BUSY. A script running longer than lua-time-limit (busy-reply-threshold) makes other
// clients' commands fail with BUSY, except Redis 7.0's allow-busy commands (SCRIPT KILL,
// SHUTDOWN NOSAVE, AUTH, HELLO, MULTI, DISCARD, WATCH, UNWATCH: ScriptBusyError); inside
// MULTI a refused command flags the transaction and EXEC aborts. SCRIPT KILL stops it
// through the Lua count hook unless it has written (UNKILLABLE). Every script runs in a
// ScriptFiber (a 32 MB stack). A busy script lets its thread's loop run between hook
// calls wherever it runs — on the connection's thread (scheduled, or inline: the inline
// one first takes real locks on its keys, see DirectHost::TakeLocks) or on its keys'
// shard thread (the same, driven by a coroutine there) — so every client gets BUSY and
// SHUTDOWN NOSAVE / SIGTERM stop the process. A script queued in MULTI runs synchronously
// inside EXEC and cannot. Commands that were already waiting for the script's locks when
// it turned busy keep waiting and run when it ends.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "resp/reply_builder.h"
#include "store/command_table.h"

namespace darter::server {

void RegisterScriptFamily(store::CommandTable& table);

// Runs script `id` (a cached sha, or with `function` a registered function's name) for
// the connection handler `c` with EVAL's execution engine: the first `numkeys`
// arguments after numkeys are its keys, the rest its arguments. `read_only`: writes are
// refused ("... from read-only scripts"). REQUIRES: c.args[3..] are keys then args, and
// the script is compiled on this thread (or `function`). `allow_oom`: its commands are
// not refused over maxmemory (a function flagged allow-oom).
// Why a script may not start here, as Redis 7.0 derives EVAL's and FCALL's flags from the
// script's: one that may write (a shebang without no-writes, a function without it) is a
// write command, refused after a failed save (MISCONF) and on a read-only replica
// (READONLY); only one flagged allow-stale starts on a replica that lost its primary with
// replica-serve-stale-data no (MASTERDOWN). Empty: it may start.
std::string_view ScriptStartRefusal(store::ConnectionContext& c, bool may_write, bool allow_stale);

void StartScriptRun(store::ConnectionContext& c, std::string id, bool function, bool read_only, size_t numkeys,
                    bool allow_oom = false);

// The script cache shared by all threads (Redis's lua_scripts): INFO memory's
// number_of_cached_scripts and used_memory_scripts_eval.
struct ScriptCacheStats {
  size_t scripts = 0;
  size_t bytes = 0;  // the map's nodes and buckets, the shas and the bodies
};
ScriptCacheStats GetScriptCacheStats();

// The BUSY error when a script is busy and `spec` may not run meanwhile, else empty
// (the dispatcher's admission, dispatcher.h).
std::string_view ScriptBusyError(const store::CommandSpec& spec, store::ArgList args);

// SCRIPT KILL (`functions` false: busy EVAL scripts) and FUNCTION KILL (busy functions):
// OK, NOTBUSY when none of that kind is busy, UNKILLABLE when one has written.
void KillBusyScripts(resp::ReplyBuilder& reply, bool functions);

// The key positions of EVAL-shaped commands (EVAL, EVALSHA, FCALL and their _RO forms):
// `<script or name> numkeys key... arg...`; none when numkeys is not a count that fits.
std::vector<size_t> EvalKeys(store::ArgList args);

}  // namespace darter::server
