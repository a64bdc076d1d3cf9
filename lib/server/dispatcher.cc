// The dispatcher (dispatcher.h): admission, and a command's route to its handler.
#include "server/core/dispatcher.h"

#include <span>

#include "server/access/acl_admission.h"
#include "server/admin/client_pause.h"
#include "server/core/monitor_feed.h"
#include "server/acl/acl_registry.h"
#include "server/blocking/blocking.h"
#include "server/core/command_stats.h"
#include "server/core/connection.h"
#include "server/core/eviction.h"
#include "server/multi/multi_family.h"
#include "server/core/protected_actions.h"
#include "server/pubsub/pubsub_family.h"
#include "server/script/script_family.h"
#include "server/core/server.h"
#include "store/errors.h"
#include "server/persist/persistence.h"
#include "store/string_util.h"

namespace darter::server {

namespace {

using Check = AdmissionCheck;

// Each path's checks, in the order its Redis counterpart makes them. The first that
// fails decides the error.
constexpr Check kClientChecks[] = {
    Check::kArity,           Check::kProtected,       Check::kAuth,       Check::kAcl,
    Check::kLoading,         Check::kReadOnlyReplica, Check::kMonitorKeyspace, Check::kSubscribed,
    Check::kMasterDown,      Check::kBusyScript,      Check::kValidate,   Check::kOom,
    Check::kMisconf};
constexpr Check kMasterChecks[] = {Check::kArity, Check::kValidate};
// Queueing may grow memory without bound, so over maxmemory nothing is queued (kOom
// ignores deny-oom on this path).
constexpr Check kMultiQueueChecks[] = {
    Check::kArity,           Check::kProtected,  Check::kAuth,    Check::kAcl,       Check::kOom,
    Check::kMisconf,         Check::kReadOnlyReplica, Check::kMasterDown, Check::kLoading, Check::kNoMulti,   Check::kBusyScript};
constexpr Check kMultiAtOnceChecks[] = {Check::kArity};
// kAcl here checks EXEC itself; the queued commands are checked again as EXEC runs them.
constexpr Check kExecChecks[] = {
    Check::kArity, Check::kAuth, Check::kAcl, Check::kOom, Check::kMisconf, Check::kReadOnlyReplica,
    Check::kBusyScript};
constexpr Check kScriptChecks[] = {
    Check::kArity, Check::kNoScript, Check::kAcl,      Check::kScriptBlock,
    Check::kReadOnlyReplica, Check::kMasterDown, Check::kOom, Check::kMisconf, Check::kValidate};
constexpr Check kScriptReadOnlyChecks[] = {
    Check::kArity, Check::kNoScript, Check::kAcl, Check::kScriptBlock, Check::kScriptWrite,
    Check::kReadOnlyReplica, Check::kMasterDown, Check::kOom, Check::kValidate};

std::span<const Check> ChecksOf(AdmissionPath path) {
  switch (path) {
    case AdmissionPath::kClient:
    case AdmissionPath::kSquash: return kClientChecks;
    case AdmissionPath::kMaster: return kMasterChecks;
    case AdmissionPath::kMultiQueue: return kMultiQueueChecks;
    case AdmissionPath::kMultiAtOnce: return kMultiAtOnceChecks;
    case AdmissionPath::kExec: return kExecChecks;
    case AdmissionPath::kScript: return kScriptChecks;
    case AdmissionPath::kScriptReadOnly: return kScriptReadOnlyChecks;
  }
  return kClientChecks;
}

// MIGRATE waits for another server's replies. A MULTI block or a script holds its keys'
// locks while it runs and cannot wait for that (Redis, which accepts it there, stalls
// the whole server instead): refused there with the errors of the no-multi and noscript
// flags, which Redis's COMMAND does not list for it.
bool WaitsOnAnotherServer(const store::CommandSpec& spec) { return spec.name == "migrate"; }

bool FromScript(AdmissionPath path) {
  return path == AdmissionPath::kScript || path == AdmissionPath::kScriptReadOnly;
}

// Redis's test after performEvictions: over the limit and nothing could be evicted
// (eviction itself runs on the shards, eviction.h).
bool OverMaxmemory(Server& srv) {
  return srv.config().maxmemory() && OverMaxmemoryWithNothingToEvict(srv.shards().size());
}

// One check: true when it refuses, with its error in *error. On the hot path every check
// passes: none builds text unless it refuses. `flags` are the spec's (kExec: its queue's).
bool Refuses(Check check, const store::CommandSpec& spec, store::ArgList args, Connection& conn,
             AdmissionPath path, uint32_t flags, std::string* error) {
  Server& srv = conn.server();
  switch (check) {
    case Check::kNone: return false;
    case Check::kArity:
      if (spec.ArityOk(args.size())) return false;
      *error = FromScript(path) ? std::string("ERR Wrong number of args calling Redis command from script")
                                : store::errors::WrongArity(spec.name);
      return true;
    case Check::kProtected:
      if (!(spec.flags & store::kCmdProtected)) return false;
      *error = ProtectedCommandError(spec, conn);
      return !error->empty();
    case Check::kAuth:
      if (conn.authenticated || (flags & store::kCmdNoAuth) || acl::Registry::Global().DefaultUserOpen()) return false;
      *error = store::errors::kNoAuth;
      return true;
    case Check::kAcl: {
      if (conn.is_master) return false;
      // A script's thread reads the caller's user as of the script's start (Snapshot);
      // the client's own thread looks it up again when the table changed (Current).
      const acl::User& user = FromScript(path) ? conn.acl.Snapshot() : conn.acl.Current();
      if (user.allows_everything) return false;
      // The squash check only asks: Dispatch then refuses (and logs) the command once.
      if (path == AdmissionPath::kSquash) return !AclAllows(user, spec, args);
      const AclContext context = FromScript(path)                     ? AclContext::kScript
                                 : path == AdmissionPath::kMultiQueue ? AclContext::kMulti
                                 : InMulti(conn)                      ? AclContext::kInMulti
                                                                      : AclContext::kToplevel;
      *error = AclRefusal(conn, user, spec, args, context);
      return !error->empty();
    }
    case Check::kLoading:
      if (!srv.loading() || (flags & store::kCmdLoading)) return false;
      *error = "LOADING Redis is loading the dataset in memory";
      return true;
    case Check::kReadOnlyReplica:
      // A script run by the primary's stream writes on a replica as the stream does.
      if (!(flags & store::kCmdWrite) || !srv.is_replica() || (FromScript(path) && conn.is_master) ||
          !srv.config().replica_read_only())
        return false;
      *error = "READONLY You can't write against a read only replica.";
      return true;
    case Check::kMasterDown:
      // The primary's own stream (and its scripts) always runs.
      if ((flags & store::kCmdStale) || conn.is_master || !RefusesStaleReads(srv)) return false;
      // A script reaches here only when it was allowed to start stale (allow-stale).
      *error = FromScript(path) ? std::string("ERR Can not execute the command on a stale replica")
                                : std::string(kMasterDownError);
      return true;
    case Check::kMonitorKeyspace:
      // Redis's rule for its replica-flagged clients (a monitor is one): exempt from
      // CLIENT PAUSE, so they may not touch the keyspace.
      if (!conn.monitor || !(flags & (store::kCmdWrite | store::kCmdReadOnly))) return false;
      *error = "ERR Replica can't interact with the keyspace";
      return true;
    case Check::kSubscribed:
      if (!conn.subscriber) return false;
      *error = SubscribedModeError(conn, spec, args);
      return !error->empty();
    case Check::kBusyScript: {
      // A primary's stream is never refused BUSY (in MULTI and at EXEC too).
      if (conn.is_master) return false;
      std::string_view busy = ScriptBusyError(spec, args);
      if (busy.empty()) return false;
      *error = busy;
      return true;
    }
    case Check::kValidate:
      if (!spec.validate) return false;
      *error = spec.validate(args);
      return !error->empty();
    case Check::kOom:
      // Deny-oom commands only, except that MULTI queues nothing over maxmemory.
      if (!(path == AdmissionPath::kMultiQueue || (flags & store::kCmdDenyOom)) || !OverMaxmemory(srv)) return false;
      *error = store::errors::kOom;
      return true;
    case Check::kMisconf:
      // Writes, and PING (which monitoring uses to notice), as Redis; never the primary's.
      // The atomic first: it is false unless a save failed.
      if (conn.is_master || !srv.persistence().WritesStopped()) return false;
      if (!(flags & store::kCmdWrite) && spec.name != "ping") return false;
      *error = kMisconfError;
      return true;
    case Check::kNoMulti:
      if (!(flags & store::kCmdNoMulti) && !WaitsOnAnotherServer(spec)) return false;
      *error = "ERR Command not allowed inside a transaction";
      return true;
    case Check::kNoScript:
      // Blocking commands run as their non-blocking forms (the table handlers never wait).
      if (!(flags & store::kCmdNoScript) && !WaitsOnAnotherServer(spec)) return false;
      *error = "ERR This Redis command is not allowed from script";
      return true;
    case Check::kScriptBlock:
      if (spec.name == "xread" || spec.name == "xreadgroup") {
        for (size_t i = 1; i < args.size() && !store::EqualsIgnoreCase(args[i], "streams"); ++i)
          if (store::EqualsIgnoreCase(args[i], "block")) {
            *error = "ERR " + spec.name + " command is not allowed with BLOCK option from scripts";
            return true;
          }
      }
      return false;
    case Check::kScriptWrite:
      if (!(flags & store::kCmdWrite)) return false;
      *error = "ERR Write commands are not allowed from read-only scripts.";
      return true;
  }
  return false;
}

// The common case of kClientChecks, in a few branches and without a call per check: true
// only when each of them would pass (an authenticated client allowed everything by its ACL
// user, of a primary that is not
// loading, not subscribed, no script running, no maxmemory to check); otherwise the
// checks run one by one and the first that refuses gives the error.
bool PassesEveryClientCheck(const store::CommandSpec& spec, store::ArgList args, Connection& conn) {
  Server& srv = conn.server();
  return spec.ArityOk(args.size()) && !(spec.flags & store::kCmdProtected) && conn.authenticated && !conn.monitor &&
         conn.acl.Current().allows_everything && !srv.loading() && !srv.is_replica() && !conn.subscriber && !spec.validate &&
         (!(spec.flags & store::kCmdDenyOom) || srv.config().maxmemory() == 0) && ScriptBusyError(spec, args).empty() &&
         !srv.persistence().WritesStopped();
}

}  // namespace

bool WritesStoppedBySaveError(Server& srv) { return srv.persistence().WritesStopped(); }

bool RefusesStaleReads(Server& srv) {
  return !srv.config().replica_serve_stale_data() && srv.is_replica() && !srv.repl_state().LinkUp();
}

Admission Admit(const store::CommandSpec& spec, store::ArgList args, Connection& conn, AdmissionPath path,
                uint32_t queued_flags) {
  const uint32_t flags = path == AdmissionPath::kExec ? queued_flags & ~store::kCmdNoAuth : spec.flags;
  Admission a;
  if ((path == AdmissionPath::kClient || path == AdmissionPath::kSquash) && PassesEveryClientCheck(spec, args, conn))
    return a;
  for (Check check : ChecksOf(path)) {
    if (Refuses(check, spec, args, conn, path, flags, &a.error)) {
      a.refused_by = check;
      break;
    }
  }
  return a;
}

std::string UnknownCommandError(store::ArgList args) {
  std::string list;
  for (size_t i = 1; i < args.size() && list.size() < 128; ++i) {
    list.push_back('\'');
    list.append(args[i].substr(0, 128 - list.size()));
    list.append("' ");
  }
  std::string msg = "ERR unknown command '";
  msg.append(args[0].substr(0, 128));
  msg.append("', with args beginning with: ");
  msg.append(list);
  return msg;
}

namespace {

// A command answered without running (queued, or refused): its reply is already written.
awaitable<void> Answered() { co_return; }

// An admitted command that may wait for its keys (a blocking command) or runs on this
// thread with the connection (a connection handler).
awaitable<void> RunOnConnection(Connection& conn, const store::CommandSpec* spec, store::ArgList args) {
  if ((spec->flags & store::kCmdBlocking) && !conn.is_master) {
    bool handled = co_await RunBlockingCommand(conn, *spec, args);
    if (handled) co_return;
  }
  if (spec->conn_handler) {
    store::ConnectionContext ctx{conn, conn.server(), args, conn.reply(), nullptr};
    spec->conn_handler(ctx);
    if (ctx.then) co_await ctx.then();
    conn.RefreshParserLimits();  // AUTH, HELLO or RESET may have changed it
    co_return;
  }
  co_await conn.ExecuteOnShards(spec, args);
}

awaitable<void> DispatchAfterPause(Connection& conn, const store::CommandSpec& spec, store::ArgList args) {
  co_await WaitForPause(conn, spec, args);
  if (conn.closed()) co_return;  // the client left while it waited: nothing runs
  co_await Dispatch(conn, args);
}

}  // namespace

// Not itself a coroutine: the lookup and admission run when it is called (its callers
// await it at once) and it returns the route's task, so a shard command costs one
// coroutine frame, its execution's.
awaitable<void> Dispatch(Connection& conn, store::ArgList args) {
  const store::CommandSpec* spec = store::CommandTable::Global().Find(args[0]);
  resp::ReplyBuilder& reply = conn.reply();
  // CLIENT PAUSE: a command it holds back waits, then goes through Dispatch again.
  if (spec && PauseMayBeActive() && MustWaitForPause(conn, *spec, args)) [[unlikely]]
    return DispatchAfterPause(conn, *spec, args);
  if (conn.tx && QueueInMulti(conn, spec, args, reply)) return Answered();  // between MULTI and EXEC
  if (!spec) {
    reply.Error(UnknownCommandError(args));
    return Answered();
  }
  conn.last_command = spec->name;
  const AdmissionPath path = conn.is_master ? AdmissionPath::kMaster : AdmissionPath::kClient;
  if (Admission a = Admit(*spec, args, conn, path); !a.ok()) {
    RecordRejected(*spec, args);
    reply.Error(a.error);
    return Answered();
  }
  // Introspection: the command runs; the caller ends the observation once the route's
  // task completes (Connection::EndCommand).
  conn.BeginObservation(*spec);
  if (MonitorsActive()) [[unlikely]] {
    awaitable<void> route = ((spec->flags & store::kCmdBlocking) && !conn.is_master) || spec->conn_handler
                                ? RunOnConnection(conn, spec, args)
                                : conn.ExecuteOnShards(spec, args);
    return RunAndFeedMonitors(conn, *spec, args, std::move(route));
  }
  if (((spec->flags & store::kCmdBlocking) && !conn.is_master) || spec->conn_handler)
    return RunOnConnection(conn, spec, args);
  return conn.ExecuteOnShards(spec, args);
}

bool CanSquash(Connection& conn, const store::CommandSpec* spec, store::ArgList args) {
  if (!spec || !spec->shard_handler || spec->key_extractor || spec->validate || spec->first_key <= 0 ||
      spec->last_key != spec->first_key || InMulti(conn) || PauseMayBeActive())
    return false;
  if (spec->first_key >= static_cast<int>(args.size())) return false;
  return Admit(*spec, args, conn, conn.is_master ? AdmissionPath::kMaster : AdmissionPath::kSquash).ok();
}

const char* ClientListFlags(const Connection& conn) {
  return conn.monitor                   ? " flags=O"
         : conn.replica_feed            ? " flags=S"
         : InSubscribedMode(conn)       ? " flags=P"
         : IsClientBlocked(conn.id())   ? " flags=b"
                                        : " flags=N";
}

std::string ClientListFamilyFields(const Connection& conn) { return PubSubClientFields(conn); }

bool InPubSubOutputClass(const Connection& conn) { return InSubscribedMode(conn); }

awaitable<void> AwaitRepliesMayLeave() { return AwaitMoveChains(); }

void ReleaseClientState(Connection& conn) {
  ReleaseTransaction(conn);
  if (conn.subscriber) DropSubscriptions(conn);
  if (conn.monitor) StopMonitoring(conn);
}

}  // namespace darter::server
