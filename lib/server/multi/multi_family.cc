// MULTI, EXEC, DISCARD, WATCH, UNWATCH (multi_family.h).
#include "server/multi/multi_family.h"

#include "server/core/monitor_feed.h"

#include "server/access/acl_admission.h"

#include <atomic>
#include <deque>
#include <functional>

#include "server/core/command_stats.h"
#include "server/core/connection.h"
#include "server/core/cross_thread.h"
#include "server/core/dispatcher.h"
#include "server/core/server.h"
#include "server/core/transaction.h"
#include "store/multi_shard_op.h"
#include "store/shard.h"
#include "store/string_util.h"

namespace darter::server {

namespace {

using store::ConnectionContext;
using store::HopContext;
using store::HopPlan;
using store::HopTarget;

constexpr std::string_view kExecAbort = "EXECABORT Transaction discarded because of previous errors.";

ClientTransaction& TxOf(Connection& conn) {
  if (!conn.tx) conn.tx = std::make_shared<ClientTransaction>();
  return *conn.tx;
}

// Ends the WATCH session: unregisters every watched key on its shard (inline for the
// caller's own shard, posted for the others) and forgets the keys. The posted closures
// hold the Watcher, so its address is not reused before they ran.
void DropWatches(Server& srv, ClientTransaction& tx) {
  std::shared_ptr<Watcher> w = std::move(tx.watcher);
  std::vector<WatchedKey> keys = std::move(tx.watched);
  tx.watcher.reset();
  tx.watched.clear();
  if (!w || keys.empty()) return;
  ShardSet& shards = srv.shards();
  const unsigned n = shards.size();
  std::vector<std::vector<WatchedKey>> by_shard(n);
  for (auto& k : keys) by_shard[store::ShardOf(k.key, n)].push_back(std::move(k));
  const int here = ShardSet::CurrentIndex();
  for (unsigned s = 0; s < n; ++s) {
    if (by_shard[s].empty()) continue;
    WatchRegistry* reg = &srv.watches(s);
    if (static_cast<int>(s) == here) {
      for (auto& k : by_shard[s]) reg->Unwatch(k.db, k.key, w.get());
      continue;
    }
    asio::post(shards.at(s).ctx(), [reg, w, ks = std::move(by_shard[s])] {
      for (auto& k : ks) reg->Unwatch(k.db, k.key, w.get());
    });
  }
}

// Leaves MULTI and ends the WATCH session (DISCARD, EXEC, an aborted EXEC).
void EndTransaction(Server& srv, ClientTransaction& tx) {
  tx.in_multi = false;
  tx.dirty_exec = false;
  tx.queued.clear();
  DropWatches(srv, tx);
}

// The flags EXEC is admitted with: those of the commands it would run (dispatcher.h,
// AdmissionPath::kExec).
uint32_t QueuedFlags(const ClientTransaction& tx) {
  uint32_t flags = 0;
  for (auto& c : tx.queued) flags |= c.spec ? c.spec->flags : 0;
  return flags;
}

// Whether a connection-level command queued in a block must run on the client's thread.
// Such a block locks whole shards, so it never takes the transaction layer's single-shard
// path, which drives the op (and so runs these commands) on the shard's thread. PING and
// SELECT the block runs itself; ECHO, TIME and UNWATCH touch nothing another thread reads.
bool NeedsClientThread(std::string_view name) {
  return name != "ping" && name != "select" && name != "echo" && name != "time" && name != "unwatch";
}

// Runs a block's connection-level commands for ExecBlockOp (its LocalRunner) and keeps
// the `then` of those that must wait for other threads, to await after the block.
class LocalCommands {
 public:
  LocalCommands(Connection& conn, Server& srv, int protocol) : conn_(conn), srv_(srv), protocol_(protocol) {}

  void Run(const store::CommandSpec& spec, store::ArgList args, std::string* reply) {
    resp::ReplyBuilder& rb = builders_.emplace_back(reply);
    rb.SetProtocol(protocol_);
    ConnectionContext& ctx = contexts_.emplace_back(ConnectionContext{conn_, srv_, args, rb, nullptr});
    spec.conn_handler(ctx);
    if (ctx.then) deferred_.push_back(&ctx);
  }
  awaitable<void> RunDeferred() {
    for (ConnectionContext* ctx : deferred_) co_await ctx->then();
  }

 private:
  Connection& conn_;
  Server& srv_;
  int protocol_;
  // Stable addresses: a `then` refers to its context's reply builder.
  std::deque<resp::ReplyBuilder> builders_;
  std::deque<ConnectionContext> contexts_;
  std::vector<ConnectionContext*> deferred_;
};

// EXEC of a client's block. When the client WATCHes keys, hop 0 runs on their shards,
// inside the transaction (after scheduling, before the block's first command): it
// checks the watches (dirty, or a key live at WATCH has expired since) and releases
// them. The block's own hops follow unless a watch fired. The watched keys are added to
// the locked keys so that their shards take part; a write to a watched key after the
// check commutes with the block (it names none of the block's keys, or it would have
// been ordered by the locks), so EXEC is serializable at its check.
class WatchedExecOp final : public store::MultiShardOp {
 public:
  WatchedExecOp(Server& srv, store::ExecBlockOp& block, std::shared_ptr<Watcher> watcher,
                std::vector<WatchedKey> watched, bool lock_whole_shards)
      : srv_(srv),
        block_(block),
        watcher_(std::move(watcher)),
        watched_(std::move(watched)),
        whole_shards_(lock_whole_shards) {
    if (!watcher_) watched_.clear();
    store::ArgList block_args = block_.lock_args();
    lock_args_.assign(block_args.begin(), block_args.end());
    for (auto& k : watched_) lock_args_.push_back(k.key);
    for (size_t i = 1; i < lock_args_.size(); ++i) lock_key_indices_.push_back(i);
  }

  store::ArgList lock_args() const { return lock_args_; }
  const std::vector<size_t>& lock_key_indices() const { return lock_key_indices_; }
  bool aborted() const { return aborted_.load(std::memory_order_acquire); }

  HopPlan FirstHop(unsigned shard_count) override {
    shard_count_ = shard_count;
    block_.Prepare(shard_count);
    // A block with connection-level commands (EVAL, ...) starts with an empty hop, so
    // that the block's own first step, which may run such a command on this thread,
    // comes after the transaction is scheduled and holds its locks.
    if (watched_.empty() && !whole_shards_) return block_.FirstHop(shard_count);
    if (watched_.empty()) return HopPlan{HopTarget::kAllShards};
    by_shard_.assign(shard_count, {});
    for (auto& k : watched_) by_shard_[store::ShardOf(k.key, shard_count)].push_back(&k);
    HopPlan plan{HopTarget::kShardList};
    for (unsigned s = 0; s < shard_count; ++s)
      if (!by_shard_[s].empty()) plan.shards.push_back(s);
    return plan;
  }
  bool locks_whole_shards() const override { return whole_shards_ || block_.locks_whole_shards(); }
  void RunHop(int hop, HopContext& ctx) override {
    if (hop < check_hops()) {
      if (watched_.empty()) return;  // the empty first hop (FirstHop)
      unsigned s = ctx.shard.index();
      if (!srv_.watches(s).CheckAndRelease(watcher_, by_shard_[s], ctx.now_ms))
        aborted_.store(true, std::memory_order_release);
      return;
    }
    block_.RunHop(hop - check_hops(), ctx);
  }
  HopPlan NextHop(int hop) override {
    if (hop < check_hops()) return aborted() ? HopPlan{HopTarget::kDone} : block_.FirstHop(shard_count_);
    return block_.NextHop(hop - check_hops());
  }
  // EXEC replies itself, once deferred connection-level commands have finished.
  void Reply(resp::ReplyBuilder&) override {}

 private:
  int check_hops() const { return watched_.empty() && !whole_shards_ ? 0 : 1; }

  Server& srv_;
  store::ExecBlockOp& block_;
  std::shared_ptr<Watcher> watcher_;
  std::vector<WatchedKey> watched_;
  bool whole_shards_;
  std::vector<std::string_view> lock_args_;
  std::vector<size_t> lock_key_indices_;
  unsigned shard_count_ = 1;
  std::vector<std::vector<const WatchedKey*>> by_shard_;
  std::atomic<bool> aborted_{false};
};

// Introspection of an EXEC's commands, as Redis 7.0 counts them: each is a call of its
// own in commandstats (failed when its reply is an error, rejected when EXEC refused it)
// and in the slowlog and latency monitor (EXEC itself is counted too, and logged never).
// A command's duration runs from the previous one's reply to its own.
void RecordBlockCommands(Connection& conn, const store::ExecBlockOp& block, int64_t start_ns) {
  const auto& commands = block.commands();
  int64_t from = start_ns;
  for (size_t i = 0; i < commands.size(); ++i) {
    const auto& cmd = commands[i];
    const std::string_view error = ErrorOfReply(block.reply_of(i));
    if (!error.empty() && !conn.is_master) RecordErrorReply(error);
    if (!cmd.spec) continue;
    std::vector<std::string_view> args(cmd.argv.begin(), cmd.argv.end());
    if (!cmd.refusal.empty()) {
      RecordRejected(*cmd.spec, args);
      continue;
    }
    const int64_t done = block.finished_ns(i);
    const int64_t duration = from >= 0 && done >= from ? done - from : -1;
    if (done >= 0) from = done;
    FinishCommand(*cmd.spec, args, duration, !error.empty(), conn.peer_address, conn.name);
  }
}

// The commands an EXEC ran, to MONITOR, each in the database it ran in.
void FeedQueuedToMonitors(Connection& conn, unsigned db, const std::vector<store::ExecBlockOp::Command>& commands) {
  for (const auto& c : commands) {
    if (!c.spec || !c.spec->ArityOk(c.argv.size())) continue;
    std::vector<std::string_view> args(c.argv.begin(), c.argv.end());
    if (c.spec->name == "select")
      if (auto v = store::ParseInt64(args[1]); v && *v >= 0) db = static_cast<unsigned>(*v);
    FeedMonitors(conn, db, *c.spec, args);
  }
}

awaitable<void> RunExec(Connection& conn, Server& srv, resp::ReplyBuilder& rb) {
  ClientTransaction& tx = *conn.tx;
  bool whole_shards = false;
  for (auto& c : tx.queued)
    if (c.spec && c.spec->conn_handler && NeedsClientThread(c.spec->name)) whole_shards = true;
  // Client-side caching: the reads of the block are remembered for a tracking client.
  const TrackingScope* tracking = conn.TrackingScopeForBlock(tx.queued);
  // ACL: each queued command is checked again, as Redis's EXEC does: the rules may have
  // changed since it was queued. A refused one replies NOPERM in its place in the block.
  if (const acl::User& user = conn.acl.Current(); !user.allows_everything) {
    for (auto& q : tx.queued) {
      if (!q.spec || !q.spec->ArityOk(q.argv.size())) continue;
      std::vector<std::string_view> args(q.argv.begin(), q.argv.end());
      q.refusal = AclRefusal(conn, user, *q.spec, args, AclContext::kExec);
    }
  }
  // MONITOR shows each queued command as EXEC runs it, before EXEC itself.
  std::vector<store::ExecBlockOp::Command> to_feed;
  if (MonitorsActive()) [[unlikely]] to_feed = tx.queued;
  const unsigned db_before = conn.db;
  store::ExecBlockOp block(std::move(tx.queued), conn.db, srv.db_count(), conn.protocol());
  LocalCommands local(conn, srv, conn.protocol());
  const int64_t start_ns = TimingWanted() ? MonotonicNs() : -1;
  block.set_time_commands(start_ns >= 0);
  block.set_local_runner([&local](const store::CommandSpec& spec, store::ArgList args, std::string* reply) {
    local.Run(spec, args, reply);
  });
  // The op takes over the watches: its check hop releases them on their shards.
  WatchedExecOp op(srv, block, std::move(tx.watcher), std::move(tx.watched), whole_shards);
  tx.watcher.reset();
  tx.watched.clear();
  EndTransaction(srv, tx);

  std::string unused;
  resp::ReplyBuilder sink(&unused);
  store::ArgList lock_args = op.lock_args();
  co_await RunOp(srv.shards(), op, lock_args, op.lock_key_indices(), conn.db, sink, tracking);
  if (op.aborted()) {
    rb.NullArray();
    co_return;
  }
  co_await local.RunDeferred();
  conn.db = block.db();
  RecordBlockCommands(conn, block, start_ns);
  if (!to_feed.empty()) FeedQueuedToMonitors(conn, db_before, to_feed);
  block.Reply(rb);
}

// Registers the keys tx.watched[first..] on their shards; replies OK when all are in.
awaitable<void> RegisterWatches(Server& srv, ClientTransaction& tx, size_t first, resp::ReplyBuilder& rb) {
  ShardSet& shards = srv.shards();
  const unsigned n = shards.size();
  std::vector<std::vector<const WatchedKey*>> by_shard(n);
  for (size_t i = first; i < tx.watched.size(); ++i) by_shard[store::ShardOf(tx.watched[i].key, n)].push_back(&tx.watched[i]);
  std::vector<unsigned> targets;
  std::vector<asio::io_context*> ctxs;
  for (unsigned s = 0; s < n; ++s) {
    if (by_shard[s].empty()) continue;
    targets.push_back(s);
    ctxs.push_back(&shards.at(s).ctx());
  }
  int64_t now = store::UnixTimeMs();
  co_await AwaitAll(ctxs, [&](size_t i) {
    WatchRegistry& reg = srv.watches(targets[i]);
    for (const WatchedKey* k : by_shard[targets[i]]) reg.Watch(k->db, k->key, tx.watcher, now);
  });
  rb.Ok();
}

// ---- commands ----

void MultiCommand(ConnectionContext& c) {
  ClientTransaction& tx = TxOf(c.conn);
  if (tx.in_multi) {
    c.reply.Error("ERR MULTI calls can not be nested");
    return;
  }
  tx.in_multi = true;
  c.reply.Ok();
}

void DiscardCommand(ConnectionContext& c) {
  if (!InMulti(c.conn)) {
    c.reply.Error("ERR DISCARD without MULTI");
    return;
  }
  EndTransaction(c.server, *c.conn.tx);
  c.reply.Ok();
}

void ExecCommand(ConnectionContext& c) {
  if (!InMulti(c.conn)) {
    c.reply.Error("ERR EXEC without MULTI");
    return;
  }
  ClientTransaction& tx = *c.conn.tx;
  if (tx.dirty_exec) {
    EndTransaction(c.server, tx);
    c.reply.Error(kExecAbort);
    return;
  }
  if (tx.watcher && tx.watcher->dirty.load(std::memory_order_acquire)) {
    EndTransaction(c.server, tx);
    c.reply.NullArray();
    return;
  }
  Connection& conn = c.conn;
  Server& srv = c.server;
  resp::ReplyBuilder& rb = c.reply;
  c.then = [&conn, &srv, &rb]() -> awaitable<void> { co_await RunExec(conn, srv, rb); };
}

void WatchCommand(ConnectionContext& c) {
  ClientTransaction& tx = TxOf(c.conn);
  if (tx.in_multi) {
    c.reply.Error("ERR WATCH inside MULTI is not allowed");
    return;
  }
  // Once dirty, EXEC fails whatever else is watched.
  if (tx.watcher && tx.watcher->dirty.load(std::memory_order_acquire)) {
    c.reply.Ok();
    return;
  }
  if (!tx.watcher) tx.watcher = std::make_shared<Watcher>();
  const size_t first = tx.watched.size();
  const unsigned n = c.server.shards().size();
  bool all_here = true;
  for (size_t i = 1; i < c.args.size(); ++i) {
    bool seen = false;
    for (auto& k : tx.watched) seen = seen || (k.db == c.conn.db && k.key == c.args[i]);
    if (seen) continue;
    tx.watched.push_back(WatchedKey{c.conn.db, std::string(c.args[i])});
    all_here = all_here && store::ShardOf(c.args[i], n) == c.conn.thread();
  }
  if (all_here) {  // the common single-shard case needs no other thread
    int64_t now = store::UnixTimeMs();
    WatchRegistry& reg = c.server.watches(c.conn.thread());
    for (size_t i = first; i < tx.watched.size(); ++i) reg.Watch(tx.watched[i].db, tx.watched[i].key, tx.watcher, now);
    c.reply.Ok();
    return;
  }
  Server& srv = c.server;
  resp::ReplyBuilder& rb = c.reply;
  ClientTransaction* txp = &tx;
  c.then = [&srv, txp, first, &rb]() -> awaitable<void> { co_await RegisterWatches(srv, *txp, first, rb); };
}

void UnwatchCommand(ConnectionContext& c) {
  if (c.conn.tx) DropWatches(c.server, *c.conn.tx);
  c.reply.Ok();
}

}  // namespace

bool InMulti(const Connection& conn) { return conn.tx && conn.tx->in_multi; }

bool QueueInMulti(Connection& conn, const store::CommandSpec* spec, store::ArgList args, resp::ReplyBuilder& reply) {
  if (!InMulti(conn)) return false;
  ClientTransaction& tx = *conn.tx;
  std::string error;
  const bool exec = spec && spec->name == "exec";
  if (!spec) {
    error = UnknownCommandError(args);
  } else if (exec) {
    // A busy script refuses EXEC itself, which aborts the transaction.
    error = Admit(*spec, args, conn, AdmissionPath::kExec, QueuedFlags(tx)).error;
    if (error.empty()) return false;
  } else if (spec->name == "discard" || spec->name == "quit" || spec->name == "reset") {
    error = Admit(*spec, args, conn, AdmissionPath::kMultiAtOnce).error;
    if (error.empty()) return false;
  } else {
    error = Admit(*spec, args, conn, AdmissionPath::kMultiQueue).error;
    if (error.empty() && (spec->name == "multi" || spec->name == "watch")) return false;
  }
  if (exec) {
    // A refused EXEC ends the transaction at once, naming why (Redis's execCommandAbort).
    EndTransaction(conn.server(), tx);
    std::string_view why = error;
    if (why.starts_with("ERR ")) why.remove_prefix(4);
    reply.Error("EXECABORT Transaction discarded because of: " + std::string(why));
    return true;
  }
  if (!error.empty()) {
    if (spec) RecordRejected(*spec, args);
    tx.dirty_exec = true;
    reply.Error(error);
    return true;
  }
  // Once EXEC is bound to abort, keeping the commands would only use memory.
  if (!tx.dirty_exec) tx.queued.push_back({std::vector<std::string>(args.begin(), args.end()), spec, {}});
  reply.SimpleString("QUEUED");
  return true;
}

void ReleaseTransaction(Connection& conn) {
  if (!conn.tx) return;
  EndTransaction(conn.server(), *conn.tx);
}

void RegisterMultiFamily(store::CommandTable& t) {
  using namespace store;
  constexpr uint32_t kTx = kCmdNoScript | kCmdLoading | kCmdStale;
  CommandFamily family(t, kAclTransaction);
  family << CommandRow("multi", 1, kTx | kCmdFast).Connection(MultiCommand)
         << CommandRow("exec", 1, kTx).Connection(ExecCommand)
         << CommandRow("discard", 1, kTx | kCmdFast).Connection(DiscardCommand)
         << CommandRow("watch", -2, kTx | kCmdFast, 1, -1, 1).Connection(WatchCommand)
         << CommandRow("unwatch", 1, kTx | kCmdFast).Connection(UnwatchCommand);
}

}  // namespace darter::server
