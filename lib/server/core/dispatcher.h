// The dispatcher: how a command gets from a parsed request to its handler, and the one
// admission function every path that runs a command goes through.
//
// A Connection (connection.h) owns the socket, the buffers, the pipelining batch and
// pushes; for each command it calls Dispatch, which looks the command up, queues it
// when the client is in MULTI, admits it, and routes it: a blocking command's wait
// (blocking.h), a connection handler on this thread, or the shard execution
// (Connection::ExecuteOnShards). The connection reaches the command families (MULTI,
// pub/sub, scripts, blocking) only through this file, so it includes none of their
// headers.
//
// Admission. Admit() holds every check a command may fail before it runs — arity,
// protected commands, AUTH, ACL permissions, LOADING, read-only replica, subscribed mode, busy script,
// argument validation, maxmemory, and the MULTI and script rules — each written once.
// Who asks (AdmissionPath) decides which checks apply and in which order, with Redis
// 7.0's error strings (its processCommand for clients, its queue-time rules in MULTI,
// its scriptCall rules in redis.call). The paths:
//  * kClient       a client's command run now (Dispatch);
//  * kSquash       the pipeline squash check (CanSquash): the same checks as kClient,
//                  asked before the command joins a squashed run; a refused command is
//                  not squashed and runs alone through Dispatch, which replies the error;
//  * kMaster       the primary's replication stream: only arity and validation (the
//                  stream is obeyed: no AUTH, LOADING, READONLY, BUSY or OOM refusal);
//  * kMultiQueue   between MULTI and EXEC, whether a command may be queued (Redis's
//                  order there differs: over maxmemory nothing is queued, then
//                  READONLY, LOADING, not-allowed-in-MULTI, BUSY);
//  * kMultiAtOnce  DISCARD, QUIT and RESET inside MULTI: only arity here, then they run
//                  at once (Dispatch admits them again as kClient);
//  * kExec         EXEC inside MULTI: carries the flags of the commands it queued;
//  * kScript / kScriptReadOnly  redis.call from a script (EVAL_RO/EVALSHA_RO or a
//                  no-writes script: kScriptReadOnly). Runs on the script's thread, which
//                  may not be the connection's: these paths read only Connection::is_master.
//
// ACL (kAcl, docs/acl.md): right after AUTH on the client paths, as Redis's
// processCommand; at queue time in MULTI (and each queued command again at EXEC, in
// multi_family.cc, since the rules may change in between); after the not-from-script
// check in redis.call, against the user of the client that called the script (its
// ClientAcl::Snapshot, what that client last read: the script's thread reads nothing
// the connection's thread may be changing). The primary's stream is exempt. A user
// allowed everything (the default user's +@all ~* &*) costs one atomic load and a flag.
//
// Hook point. Admit() is the one place every command passes before it runs, on every
// path: a client's (alone or squashed), one queued in MULTI, a script's redis.call, the
// primary's stream. Features that decide whether, or when, a command runs plug in
// there as further checks with a per-path rule: CLIENT PAUSE (a client path that must
// wait instead of failing would get a "wait" outcome next to the error).
// Features that observe commands — MONITOR feeds, SLOWLOG and latency timing,
// commandstats — start at the same point (an admitted command is one that runs) and
// end where Dispatch's route returns; for squashed commands that is the squashed run's
// end in Connection::ExecuteBatch, and for queued ones EXEC's block.
//
// Thread-safety: Dispatch and CanSquash run on the connection's thread; Admit on the
// thread of its caller (see kScript).
#pragma once

#include <cstdint>
#include <string>

#include "server/core/asio.h"
#include "store/command_table.h"

namespace darter::server {

class Connection;
class Server;

enum class AdmissionPath : uint8_t {
  kClient,
  kSquash,
  kMaster,
  kMultiQueue,
  kMultiAtOnce,
  kExec,
  kScript,
  kScriptReadOnly,
};

// The check that refused a command (kNone: admitted).
enum class AdmissionCheck : uint8_t {
  kNone,
  kArity,
  kProtected,        // DEBUG & co and enable-debug-command
  kAuth,             // NOAUTH
  kAcl,              // NOPERM: the client's ACL user may not run it (server/acl/)
  kLoading,          // LOADING
  kReadOnlyReplica,  // READONLY on a read-only replica
  kMasterDown,       // MASTERDOWN: a replica without its primary, replica-serve-stale-data no
  kMonitorKeyspace,  // a MONITOR client touching the keyspace
  kSubscribed,       // RESP2 subscribed mode
  kBusyScript,       // BUSY
  kValidate,         // the command's own argument validation
  kOom,              // maxmemory
  kMisconf,          // MISCONF: writes stopped after a failed save (stop-writes-on-bgsave-error)
  kNoMulti,          // not allowed inside MULTI
  kNoScript,         // not allowed from a script
  kScriptBlock,      // XREAD/XREADGROUP BLOCK from a script
  kScriptWrite,      // a write from a read-only script
};

struct Admission {
  AdmissionCheck refused_by = AdmissionCheck::kNone;
  std::string error;  // the error reply, without the leading '-'
  bool ok() const { return refused_by == AdmissionCheck::kNone; }
};

// Whether `spec` with `args` may run now for `conn` on `path`, and if not the first
// check that refused it and its error. `queued_flags` (kExec only) are the flags of the
// commands EXEC would run, which EXEC is admitted with (their no-auth does not count).
Admission Admit(const store::CommandSpec& spec, store::ArgList args, Connection& conn, AdmissionPath path,
                uint32_t queued_flags = 0);

// Redis 7.0's reply to an unknown command (also given when MULTI queues one).
std::string UnknownCommandError(store::ArgList args);

// True when this server is a replica whose link to its primary is down and
// replica-serve-stale-data is no: commands not flagged stale (and scripts not flagged
// allow-stale) are refused with kMasterDownError.
bool RefusesStaleReads(Server& srv);
// True when writes are stopped by a failed save (stop-writes-on-bgsave-error; see
// Persistence::WritesStopped): they, PING and scripts that may write get kMisconfError.
bool WritesStoppedBySaveError(Server& srv);
inline constexpr std::string_view kMisconfError =
    "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. "
    "Commands that may modify the data set are disabled, because this instance is configured to report errors "
    "during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs "
    "for details about the RDB error.";
inline constexpr std::string_view kMasterDownError =
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";

// Runs one command of `conn`'s and leaves its reply in the connection's output:
// lookup, MULTI queueing, admission (kClient, or kMaster for the primary's stream), then
// a blocking command's wait, a connection handler, or the shard execution. The lookup,
// queueing and admission happen when it is called: await the result at once.
awaitable<void> Dispatch(Connection& conn, store::ArgList args);

// The squash check: true when `spec` (the lookup of args[0], null when unknown) may
// join a squashed run of a pipeline — a single-key shard command at a fixed position,
// outside MULTI, that its path (kSquash, or kMaster) admits right now.
bool CanSquash(Connection& conn, const store::CommandSpec* spec, store::ArgList args);

// What the connection asks of the command families.
// Its CLIENT LIST flags field (" flags=S", P, b or N) and the pub/sub fields.
const char* ClientListFlags(const Connection& conn);
std::string ClientListFamilyFields(const Connection& conn);
// Whether its output counts against the pub/sub client-output-buffer-limit class.
bool InPubSubOutputClass(const Connection& conn);
// Replies may leave only after the BLMOVE chains that writes before them set off
// (blocking.h, AwaitMoveChains).
awaitable<void> AwaitRepliesMayLeave();
// The connection ends: its transaction (WATCHes) and subscriptions are released.
void ReleaseClientState(Connection& conn);

}  // namespace darter::server
