#include "server/script/function_family.h"

#include <future>
#include <memory>

#include "rdb/function_payload.h"
#include "server/core/connection.h"
#include "server/core/dispatcher.h"
#include "server/core/config.h"
#include "server/core/cross_thread.h"
#include "server/core/eviction.h"
#include "server/core/server.h"
#include "server/core/shard_set.h"
#include "server/core/transaction.h"
#include "server/script/function_registry.h"
#include "server/script/script_family.h"
#include "store/effects.h"
#include "store/errors.h"
#include "store/exec_block.h"
#include "store/shard.h"
#include "store/string_util.h"
#include "store/write_observer.h"

namespace darter::server {

namespace {

using store::ConnectionContext;
using store::EqualsIgnoreCase;

// ---- changes, on shard 0's thread ----

enum class Change { kLoad, kDelete, kFlush, kRestore };

struct ChangeJob {
  Change kind;
  std::vector<std::string> argv;  // the command as sent (journaled verbatim)
  unsigned db = 0;
  // kLoad: the code and REPLACE; kDelete: the library; kRestore: the payload's sources
  // and its policy.
  std::string arg;
  bool replace = false;
  bool flush = false;
  std::vector<std::string> sources;
  std::string reply_bulk;  // kLoad: the library's name
  std::string error;
  // Inside a MULTI block: the block's transaction, so the journal keeps the change in
  // the block's MULTI, in order.
  uint64_t txid = 0;
  unsigned tx_shards = 1;
};

// Applies `job` to the registry (on shard 0's thread) and journals it when it changed.
void ApplyChange(ChangeJob& job, ShardThread& st) {
  FunctionRegistry& reg = FunctionRegistry::Global();
  switch (job.kind) {
    case Change::kLoad: {
      Library lib;
      std::string name;
      job.error = ParseLibraryHeader(job.arg, &name);
      if (job.error.empty() && !job.replace && reg.HasLibrary(name))
        job.error = "ERR Library '" + name + "' already exists";
      if (job.error.empty()) job.error = CompileLibrary(job.arg, &lib);
      if (job.error.empty()) {
        std::vector<Library> libs;
        libs.push_back(std::move(lib));
        job.error = reg.Add(std::move(libs), job.replace, false);
      }
      job.reply_bulk = name;
      break;
    }
    case Change::kDelete:
      if (!reg.Delete(job.arg)) job.error = "ERR Library not found";
      break;
    case Change::kFlush:
      reg.Clear();
      break;
    case Change::kRestore: {
      std::vector<Library> libs;
      for (const std::string& src : job.sources) {
        Library lib;
        job.error = CompileLibrary(src, &lib);
        if (!job.error.empty()) break;
        libs.push_back(std::move(lib));
      }
      if (job.error.empty()) job.error = reg.Add(std::move(libs), job.replace, job.flush, true);
      break;
    }
  }
  if (!job.error.empty()) return;
  std::vector<std::string_view> args(job.argv.begin(), job.argv.end());
  store::Effects effects;
  effects.MarkDirty();
  st.shard().NotifyWrite(store::AppliedWrite{job.db, args, effects, {}, job.txid, job.tx_shards});
}

// The change's reply: the library's name for LOAD, OK for the others, or the error.
void ReplyChange(const ChangeJob& j, resp::ReplyBuilder* reply) {
  if (!j.error.empty()) reply->Error(j.error);
  else if (j.kind == Change::kLoad) reply->Bulk(j.reply_bulk);
  else reply->Ok();
}

// The connection's continuation: runs the change on shard 0, then replies.
awaitable<void> RunChange(std::shared_ptr<ChangeJob> job, Server* server, resp::ReplyBuilder* reply) {
  ShardThread& st = server->shards().at(0);
  ChangeJob* j = job.get();
  co_await AwaitOn<bool>(st.ctx(), [j, &st](Completion<bool> done) {
    ApplyChange(*j, st);
    done(true);
  });
  ReplyChange(*j, reply);
}

void StartChange(ConnectionContext& c, std::shared_ptr<ChangeJob> job) {
  job->argv.assign(c.args.begin(), c.args.end());
  job->db = c.conn.db;
  if (store::ExecBlockOp::InBlock()) {
    // In EXEC, in order with the block's other commands (a later FCALL of the block sees
    // the change). The block holds every shard whole, so shard 0's thread runs nothing
    // but this transaction's work and waiting for it here cannot deadlock (as
    // InBlockHost's hops, script_family.cc).
    job->txid = CurrentTransaction().txid;
    job->tx_shards = CurrentTransaction().shards;
    ShardThread& st = c.server.shards().at(0);
    if (ShardSet::CurrentIndex() == 0) {
      ApplyChange(*job, st);
    } else {
      std::promise<void> done;
      asio::post(st.ctx(), [&] {
        ApplyChange(*job, st);
        done.set_value();
      });
      done.get_future().wait();
    }
    ReplyChange(*job, &c.reply);
    return;
  }
  Server* server = &c.server;
  resp::ReplyBuilder* reply = &c.reply;
  c.then = [job, server, reply]() -> awaitable<void> { return RunChange(job, server, reply); };
}

// ---- subcommands ----

void WrongArity(ConnectionContext& c) {
  c.reply.Error(store::errors::WrongArity("function|" + store::ToLower(c.args[1])));
}

void FunctionLoad(ConnectionContext& c) {
  auto job = std::make_shared<ChangeJob>();
  job->kind = Change::kLoad;
  size_t i = 2;
  for (; i + 1 < c.args.size(); ++i) {
    if (EqualsIgnoreCase(c.args[i], "replace")) job->replace = true;
    else {
      c.reply.Error("ERR Unknown option given: " + std::string(c.args[i]));
      return;
    }
  }
  job->arg = std::string(c.args[i]);
  StartChange(c, std::move(job));
}

void ReplyFlags(resp::ReplyBuilder& rb, uint32_t flags) {
  size_t n = 0;
  for (size_t i = 0; i < std::size(kFunctionFlagNames); ++i)
    if (flags & (1u << i)) ++n;
  rb.SetHeader(n);
  for (size_t i = 0; i < std::size(kFunctionFlagNames); ++i)
    if (flags & (1u << i)) rb.SimpleString(kFunctionFlagNames[i]);
}

void FunctionList(ConnectionContext& c) {
  bool with_code = false;
  std::string_view pattern;
  bool have_pattern = false;
  for (size_t i = 2; i < c.args.size(); ++i) {
    if (EqualsIgnoreCase(c.args[i], "withcode") && !with_code) {
      with_code = true;
    } else if (EqualsIgnoreCase(c.args[i], "libraryname") && !have_pattern) {
      if (i + 1 >= c.args.size()) {
        c.reply.Error("ERR library name argument was not given");
        return;
      }
      have_pattern = true;
      pattern = c.args[++i];
    } else {
      c.reply.Error("ERR Unknown argument " + std::string(c.args[i]));
      return;
    }
  }
  std::vector<LibraryPtr> libs = FunctionRegistry::Global().Libraries();
  std::vector<LibraryPtr> shown;
  for (auto& lib : libs)
    if (!have_pattern || store::GlobMatch(pattern, lib->name)) shown.push_back(lib);
  resp::ReplyBuilder& rb = c.reply;
  rb.ArrayHeader(shown.size());
  for (auto& lib : shown) {
    rb.MapHeader(with_code ? 4 : 3);
    rb.Bulk("library_name");
    rb.Bulk(lib->name);
    rb.Bulk("engine");
    rb.Bulk("LUA");
    rb.Bulk("functions");
    rb.ArrayHeader(lib->functions.size());
    for (const FunctionSpec& f : lib->functions) {
      rb.MapHeader(3);
      rb.Bulk("name");
      rb.Bulk(f.name);
      rb.Bulk("description");
      if (f.has_description) rb.Bulk(f.description);
      else rb.Null();
      rb.Bulk("flags");
      ReplyFlags(rb, f.flags);
    }
    if (with_code) {
      rb.Bulk("library_code");
      rb.Bulk(lib->code);
    }
  }
}

void FunctionStats(ConnectionContext& c) {
  resp::ReplyBuilder& rb = c.reply;
  rb.MapHeader(2);
  rb.Bulk("running_script");
  if (auto running = OldestRunningFunction()) {
    rb.MapHeader(3);
    rb.Bulk("name");
    rb.Bulk(running->name);
    rb.Bulk("command");
    rb.ArrayHeader(running->command.size());
    for (auto& a : running->command) rb.Bulk(a);
    rb.Bulk("duration_ms");
    rb.Integer(running->start_ms);
  } else {
    rb.Null();
  }
  rb.Bulk("engines");
  rb.MapHeader(1);
  rb.Bulk("LUA");
  rb.MapHeader(2);
  rb.Bulk("libraries_count");
  rb.Integer(static_cast<int64_t>(FunctionRegistry::Global().Libraries().size()));
  rb.Bulk("functions_count");
  rb.Integer(static_cast<int64_t>(FunctionRegistry::Global().function_count()));
}

void FunctionDump(ConnectionContext& c) {
  std::vector<std::string> sources;
  for (auto& lib : FunctionRegistry::Global().Libraries()) sources.push_back(lib->code);
  std::string payload;
  rdb::Status st = rdb::EncodeFunctionsPayload(sources, &payload);
  if (!st.ok()) {
    c.reply.Error("ERR " + st.message());
    return;
  }
  c.reply.Bulk(payload);
}

void FunctionRestore(ConnectionContext& c) {
  auto job = std::make_shared<ChangeJob>();
  job->kind = Change::kRestore;
  if (c.args.size() > 4) {
    c.reply.Error(store::errors::kSyntax);
    return;
  }
  if (c.args.size() == 4) {
    std::string_view p = c.args[3];
    if (EqualsIgnoreCase(p, "flush")) job->flush = true;
    else if (EqualsIgnoreCase(p, "replace")) job->replace = true;
    else if (!EqualsIgnoreCase(p, "append")) {
      c.reply.Error("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.");
      return;
    }
  }
  rdb::Status st = rdb::DecodeFunctionsPayload(c.args[2], &job->sources);
  if (!st.ok()) {
    c.reply.Error("ERR DUMP payload version or checksum are wrong");
    return;
  }
  StartChange(c, std::move(job));
}

// The write subcommands' admission, which the dispatcher makes with the container's
// flags only: READONLY on a read-only replica (the primary's stream passes), and OOM over
// maxmemory for LOAD and RESTORE (deny-oom in Redis 7.0).
bool RefusedWrite(ConnectionContext& c, bool deny_oom) {
  if (c.conn.is_master) return false;
  if (c.server.is_replica() && c.server.config().replica_read_only()) {
    c.reply.Error("READONLY You can't write against a read only replica.");
    return true;
  }
  if (deny_oom && c.server.config().maxmemory() && OverMaxmemoryWithNothingToEvict(c.server.shards().size())) {
    c.reply.Error(store::errors::kOom);
    return true;
  }
  return false;
}

void FunctionCommand(ConnectionContext& c) {
  std::string_view sub = c.args[1];
  auto arity = [&](int a) {
    if (store::CommandSpec::ArityAllows(a, c.args.size())) return true;
    WrongArity(c);
    return false;
  };
  if (EqualsIgnoreCase(sub, "load")) {
    if (arity(-3) && !RefusedWrite(c, true)) FunctionLoad(c);
  } else if (EqualsIgnoreCase(sub, "delete")) {
    if (!arity(3) || RefusedWrite(c, false)) return;
    auto job = std::make_shared<ChangeJob>();
    job->kind = Change::kDelete;
    job->arg = std::string(c.args[2]);
    StartChange(c, std::move(job));
  } else if (EqualsIgnoreCase(sub, "flush")) {
    if (!arity(-2) || RefusedWrite(c, false)) return;
    if (c.args.size() > 3) {
      c.reply.Error("ERR unknown subcommand or wrong number of arguments for 'flush'. Try FUNCTION HELP.");
      return;
    }
    if (c.args.size() == 3 && !EqualsIgnoreCase(c.args[2], "sync") && !EqualsIgnoreCase(c.args[2], "async")) {
      c.reply.Error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
      return;
    }
    auto job = std::make_shared<ChangeJob>();
    job->kind = Change::kFlush;
    StartChange(c, std::move(job));
  } else if (EqualsIgnoreCase(sub, "dump")) {
    if (arity(2)) FunctionDump(c);
  } else if (EqualsIgnoreCase(sub, "restore")) {
    if (arity(-3) && !RefusedWrite(c, true)) FunctionRestore(c);
  } else if (EqualsIgnoreCase(sub, "list")) {
    if (arity(-2)) FunctionList(c);
  } else if (EqualsIgnoreCase(sub, "stats")) {
    if (arity(2)) FunctionStats(c);
  } else if (EqualsIgnoreCase(sub, "kill")) {
    if (!arity(2)) return;
    KillBusyScripts(c.reply, true);
  } else if (EqualsIgnoreCase(sub, "help")) {
    if (!arity(2)) return;
    static const char* kHelp[] = {
        "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "LOAD [REPLACE] <FUNCTION CODE>",
        "    Create a new library with the given library name and code.",
        "DELETE <LIBRARY NAME>",
        "    Delete the given library.",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "    Return general information on all the libraries:",
        "    * Library name",
        "    * The engine used to run the Library",
        "    * Library description",
        "    * Functions list",
        "    * Library code (if WITHCODE is given)",
        "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
        "STATS",
        "    Return information about the current function running:",
        "    * Function name",
        "    * Command used to run the function",
        "    * Duration in MS that the function is running",
        "    If no function is running, return nil",
        "    In addition, returns a list of available engines.",
        "KILL",
        "    Kill the current running function.",
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
        "DUMP",
        "    Return a serialized payload representing the current libraries, can be restored using FUNCTION "
        "RESTORE command",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
        "    control how to handle existing libraries (default APPEND):",
        "    * FLUSH: delete all existing libraries.",
        "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
        "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
        "      libraries with the new libraries (notice that even on this option there is a chance of failure",
        "      in case of functions name collision with another library).",
        "HELP",
        "    Prints this help.",
    };
    c.reply.SimpleStringArray(kHelp);
  } else {
    c.reply.Error("ERR unknown subcommand '" + std::string(sub.substr(0, 128)) + "'. Try FUNCTION HELP.");
  }
}

// ---- FCALL ----

void FcallGeneric(ConnectionContext& c, bool read_only) {
  auto numkeys = store::ParseInt64(c.args[2]);
  if (!numkeys) {
    c.reply.Error("ERR Bad number of keys provided");
    return;
  }
  if (*numkeys < 0) {
    c.reply.Error("ERR Number of keys can't be negative");
    return;
  }
  if (*numkeys > static_cast<int64_t>(c.args.size()) - 3) {
    c.reply.Error("ERR Number of keys can't be greater than number of args");
    return;
  }
  auto found = FunctionRegistry::Global().FindFunction(c.args[1]);
  if (!found) {
    c.reply.Error("ERR Function not found");
    return;
  }
  const bool no_writes = found->spec.flags & kFnNoWrites;
  // A function that may write is a write command for these checks, and one without
  // allow-oom a deny-oom one, as Redis 7.0 derives FCALL's flags from the function's.
  if (std::string_view refusal = ScriptStartRefusal(c, !no_writes, found->spec.flags & kFnAllowStale);
      !refusal.empty()) {
    c.reply.Error(refusal);
    return;
  }
  if (!no_writes && !c.conn.is_master) {
    if (!(found->spec.flags & kFnAllowOom) && c.server.config().maxmemory() &&
        OverMaxmemoryWithNothingToEvict(c.server.shards().size())) {
      c.reply.Error(store::errors::kOom);
      return;
    }
  }
  if (read_only && !no_writes) {
    c.reply.Error("ERR Can not execute a script with write flag using *_ro command.");
    return;
  }
  StartScriptRun(c, found->spec.name, true, read_only || no_writes, static_cast<size_t>(*numkeys),
                 found->spec.flags & kFnAllowOom);
}

void FcallCommand(ConnectionContext& c) { FcallGeneric(c, false); }
void FcallRoCommand(ConnectionContext& c) { FcallGeneric(c, true); }

}  // namespace

void RegisterFunctionFamily(store::CommandTable& t) {
  using namespace store;
  constexpr uint32_t kFcall = kCmdNoScript | kCmdSkipMonitor | kCmdStale;
  CommandFamily family(t, kAclScripting);
  family << CommandRow("fcall", -3, kFcall).Connection(FcallCommand).Keys(EvalKeys)
         << CommandRow("fcall_ro", -3, kFcall | kCmdReadOnly).Connection(FcallRoCommand).Keys(EvalKeys)
         << CommandRow("function", -2, kCmdNoScript)
                .Connection(FunctionCommand)
                .Container()
                .Subcommands({Sub("load", -3, kCmdWrite | kCmdDenyOom | kCmdNoScript),
                              Sub("delete", 3, kCmdWrite | kCmdNoScript),
                              Sub("flush", -2, kCmdWrite | kCmdNoScript), Sub("dump", 2, kCmdNoScript),
                              Sub("restore", -3, kCmdWrite | kCmdDenyOom | kCmdNoScript),
                              Sub("list", -2, kCmdNoScript), Sub("stats", 2, kCmdNoScript),
                              Sub("kill", 2, kCmdNoScript), Sub("help", 2, kCmdLoading | kCmdStale)});
}

}  // namespace darter::server
