#include "server/script/script_family.h"

#include "server/core/monitor_feed.h"

#include <sys/time.h>

#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "server/core/config.h"
#include "server/core/command_stats.h"
#include "server/core/connection.h"
#include "server/core/cross_thread.h"
#include "server/core/dispatcher.h"
#include "server/script/function_registry.h"
#include "server/script/script_fiber.h"
#include "server/script/script_lua.h"
#include "server/script/script_sha1.h"
#include "server/core/server.h"
#include "server/core/shard_set.h"
#include "server/core/transaction.h"
#include "store/errors.h"
#include "store/exec_block.h"
#include "store/multi_shard_op.h"
#include "store/shard.h"
#include "store/string_util.h"
#include "store/check.h"

namespace darter::server {

namespace {

using store::ConnectionContext;
using store::EqualsIgnoreCase;

constexpr const char* kBusyError = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
// While a function (FCALL) is busy Redis names FUNCTION KILL instead.
constexpr const char* kBusyFunctionError =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
constexpr const char* kNotAllowed = "ERR This Redis command is not allowed from script";

// ---- the script cache shared by all threads ----
// Bodies by sha. Each thread compiles a script the first time it runs it there; SCRIPT
// FLUSH clears this map and bumps the generation, and each thread drops its compiled
// scripts when it sees a newer generation.
struct ScriptCache {
  std::mutex mu;
  std::unordered_map<std::string, std::string> bodies;
  std::atomic<uint64_t> generation{0};
};
ScriptCache& Cache() {
  static ScriptCache c;
  return c;
}

}  // namespace

ScriptCacheStats GetScriptCacheStats() {
  ScriptCacheStats st;
  ScriptCache& cache = Cache();
  std::lock_guard lk(cache.mu);
  st.scripts = cache.bodies.size();
  // An empty map's single bucket is static storage, not a heap block.
  st.bytes = cache.bodies.bucket_count() > 1 ? cache.bodies.bucket_count() * sizeof(void*) : 0;
  // A node: the pair, a next pointer and the cached hash; strings past their inline
  // buffer hold a heap block of capacity + 1.
  for (const auto& [sha, body] : cache.bodies) {
    st.bytes += sizeof(std::pair<const std::string, std::string>) + 2 * sizeof(void*);
    if (sha.capacity() > 15) st.bytes += sha.capacity() + 1;
    if (body.capacity() > 15) st.bytes += body.capacity() + 1;
  }
  return st;
}

namespace {

LuaEngine& Engine() {
  LuaEngine& e = LuaEngine::ForThisThread();
  uint64_t g = Cache().generation.load(std::memory_order_acquire);
  if (e.generation() != g) {
    e.Flush();
    e.set_generation(g);
  }
  return e;
}

// ---- busy scripts ----
struct ScriptStatus {
  bool function = false;  // FCALL: FUNCTION KILL stops it, SCRIPT KILL does not
  std::atomic<bool> kill{false};
  std::atomic<bool> wrote{false};
};
struct BusyRegistry {
  std::mutex mu;
  std::vector<ScriptStatus*> busy;
  std::atomic<int> count{0};
};
BusyRegistry& Busy() {
  static BusyRegistry b;
  return b;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// ---- one script run ----
struct ScriptJob {
  Connection* conn = nullptr;
  Server* server = nullptr;
  resp::ReplyBuilder* reply = nullptr;
  std::vector<std::string> storage;  // keys then args
  std::vector<std::string_view> keys, args;
  std::string sha;  // or the function's name
  bool function = false;  // FCALL / FCALL_RO
  std::vector<std::string> command;  // a function's FCALL command line (FUNCTION STATS)
  bool read_only = false;
  bool allow_oom = false;  // a function flagged allow-oom: its writes pass maxmemory
  unsigned db = 0;
};

// Runs the job's script or function on this thread's engine (the caller's fiber).
void RunInEngine(ScriptJob& job, ScriptHost& host, resp::ReplyBuilder& reply) {
  LuaEngine& engine = Engine();
  std::shared_ptr<void> running;
  if (job.function) {
    SyncFunctions(engine);
    running = MarkFunctionRunning(job.sha, job.command);
  }
  engine.Run(job.sha, job.keys, job.args, host, reply, job.function);
}

// The part of running a script's commands both execution modes share. Subclasses say
// how work reaches a shard.
class HostBase : public ScriptHost {
 public:
  HostBase(ScriptJob& job, bool whole) : job_(job), whole_(whole), db_(job.db), n_(job.server->shards().size()) {
    for (auto k : job.keys) declared_.insert(std::string(k));
    status_.function = job.function;
    start_ms_ = NowMs();
  }
  ~HostBase() override { EndBusy(); }

  // The script has run: other clients stop getting BUSY for it. Called as soon as the
  // engine returns, before the reply can reach its client, so a client that has seen
  // the script's reply is never answered BUSY because of it.
  void EndBusy() {
    if (!registered_busy_) return;
    BusyRegistry& b = Busy();
    std::lock_guard lk(b.mu);
    std::erase(b.busy, &status_);
    b.count.fetch_sub(1, std::memory_order_relaxed);
    registered_busy_ = false;
  }

  std::string Call(std::vector<std::string>& argv, int protocol, std::string& reply) override;
  bool Hook() override {
    if (!registered_busy_ && NowMs() - start_ms_ > LuaTimeLimitMs().load(std::memory_order_relaxed)) {
      BusyRegistry& b = Busy();
      std::lock_guard lk(b.mu);
      b.busy.push_back(&status_);
      b.count.fetch_add(1, std::memory_order_relaxed);
      registered_busy_ = true;
    }
    if (status_.kill.load(std::memory_order_relaxed)) return true;
    if (registered_busy_) Breathe();
    return false;
  }

  uint64_t txid = 0;
  unsigned tx_shards = 1;

 protected:
  // Runs fn on each shard of `shards` (in parallel) and returns when all are done, or
  // returns false when the script may not reach one of them.
  virtual bool Allowed(unsigned shard) const = 0;
  virtual void RunOnShards(const std::vector<unsigned>& shards, const std::function<void(ShardThread&)>& fn) = 0;
  // Awaits a connection handler's continuation; false when this mode cannot.
  virtual bool AwaitThen(std::function<awaitable<void>()>& then) = 0;
  // Lets the thread's loop run other work (busy scripts only), if this mode can.
  virtual void Breathe() {}
  virtual bool OnConnectionThread() const { return true; }

  // The script's writes are one transaction in the journal (journal.h).
  TxTag Tx() const { return {txid, tx_shards}; }
  void MarkWrote() { status_.wrote.store(true, std::memory_order_relaxed); }

  ScriptJob& job_;
  bool whole_;
  unsigned db_;
  unsigned n_;
  std::unordered_set<std::string> declared_;
  ScriptStatus status_;
  bool registered_busy_ = false;
  int64_t start_ms_;
};

awaitable<void> YieldToLoop() {
  auto ex = co_await asio::this_coro::executor;
  co_await asio::post(ex, use_awaitable);
}

// Introspection of a redis.call: as Redis 7.0 does for its script client, the command
// counts in commandstats and may enter the slowlog (client "?:0", no name). A call that
// ends without a reply was refused by the script layer: counted as rejected.
class ScriptCallObserver {
 public:
  ScriptCallObserver(const store::CommandSpec& spec, store::ArgList args, const std::string& reply)
      : spec_(spec), args_(args), reply_(reply), start_ns_(TimingWanted() ? MonotonicNs() : -1) {}
  ~ScriptCallObserver() {
    if (reply_.empty()) {
      RecordRejected(spec_, args_);
      return;
    }
    FinishCommand(spec_, args_, start_ns_ >= 0 ? MonotonicNs() - start_ns_ : -1, !ErrorOfReply(reply_).empty(),
                  "?:0", "");
  }

 private:
  const store::CommandSpec& spec_;
  store::ArgList args_;
  const std::string& reply_;
  int64_t start_ns_;
};

std::string HostBase::Call(std::vector<std::string>& argv, int protocol, std::string& reply) {
  const store::CommandSpec* spec = store::CommandTable::Global().Find(argv[0]);
  if (!spec) return "ERR Unknown Redis command called from script";
  std::vector<std::string_view> args(argv.begin(), argv.end());
  Admission admission =
      Admit(*spec, args, *job_.conn, job_.read_only ? AdmissionPath::kScriptReadOnly : AdmissionPath::kScript);
  resp::ReplyBuilder rb(&reply);
  rb.SetProtocol(protocol);
  if (admission.refused_by == AdmissionCheck::kOom && job_.allow_oom) {
    // The OOM check is followed only by argument validation on the script paths.
    admission = Admission{};
    if (spec->validate) {
      std::string err = spec->validate(args);
      if (!err.empty()) {
        rb.Error(err);
        return "";
      }
    }
  }
  if (!admission.ok()) {
    RecordRejected(*spec, args);
    // Invalid arguments are the command's error reply; the other refusals are the call's.
    if (admission.refused_by != AdmissionCheck::kValidate) return admission.error;
    rb.Error(admission.error);
    return "";
  }
  ScriptCallObserver observe(*spec, args, reply);
  if (MonitorsActive()) [[unlikely]] FeedMonitorsFromScript(db_, *spec, args);
  if (spec->name == "select") {
    auto v = store::ParseInt64(args[1]);
    if (!v || *v < 0 || *v >= static_cast<int64_t>(job_.server->db_count())) {
      rb.Error(v ? store::errors::kDbIndexOutOfRange : store::errors::kNotInteger);
    } else {
      db_ = static_cast<unsigned>(*v);
      rb.Ok();
    }
    return "";
  }
  // Connection-level commands that need no connection, so that they work on any thread.
  if (spec->name == "ping" && args.size() <= 2) {
    if (args.size() == 2) rb.Bulk(args[1]);
    else rb.SimpleString("PONG");
    return "";
  }
  if (spec->name == "echo") {
    rb.Bulk(args[1]);
    return "";
  }
  if (spec->name == "time") {
    timeval tv;
    gettimeofday(&tv, nullptr);
    rb.ArrayHeader(2);
    rb.Bulk(std::to_string(tv.tv_sec));
    rb.Bulk(std::to_string(tv.tv_usec));
    return "";
  }
  if (spec->conn_handler) {
    // Connection state belongs to the connection's thread.
    if (!OnConnectionThread()) return kNotAllowed;
    ConnectionContext ctx{*job_.conn, *job_.server, args, rb, nullptr};
    spec->conn_handler(ctx);
    if (ctx.then && !AwaitThen(ctx.then)) {
      reply.clear();
      return kNotAllowed;
    }
    return "";
  }
  std::vector<size_t> key_idx = spec->KeyIndices(args);
  if (!whole_) {
    for (size_t i : key_idx) {
      if (!declared_.count(std::string(args[i])))
        return "ERR Script attempted to access key '" + std::string(args[i]) +
               "' that was not declared in KEYS (declare it, or pass numkeys 0 to lock every shard)";
    }
  }
  const int64_t now = store::UnixTimeMs();
  // Client-side caching: the caller's reads through the script are remembered for it.
  const TrackingScope* tracking =
      job_.conn && job_.conn->tracking ? job_.conn->TrackingScopeFor(*spec) : nullptr;
  if (spec->shard_handler) {
    unsigned shard;
    if (!key_idx.empty()) {
      shard = store::ShardOf(args[key_idx[0]], n_);
    } else {
      // A keyless shard command runs on any shard the script holds.
      shard = n_;
      for (unsigned s = 0; s < n_ && shard == n_; ++s)
        if (Allowed(s)) shard = s;
    }
    if (shard >= n_ || !Allowed(shard)) return "ERR Script attempted to access a shard it did not lock";
    std::vector<std::string_view> keys;
    for (size_t i : key_idx) keys.push_back(args[i]);
    unsigned db = db_;
    RunOnShards({shard}, [&](ShardThread& st) {
      TrackingScopeGuard scope(tracking);
      if (RunOnShard(st.shard(), *spec, db, args, keys, rb, now, Tx())) MarkWrote();
    });
    return "";
  }
  if (spec->multi_shard) {
    std::unique_ptr<store::MultiShardOp> op = spec->multi_shard(args);
    std::vector<std::vector<size_t>> keys_by_shard(n_);
    for (size_t i : key_idx) keys_by_shard[store::ShardOf(args[i], n_)].push_back(i);
    store::HopPlan plan = op->FirstHop(n_);
    if (!whole_ && (op->locks_whole_shards() || !op->needs_locks() || plan.target == store::HopTarget::kAllShards ||
                    plan.target == store::HopTarget::kShard))
      return "ERR Script attempted a keyspace-wide command with declared keys (pass numkeys 0 to lock every shard)";
    unsigned db = db_;
    std::vector<OpOnShard> on_shard(n_, OpOnShard{Tx()});
    for (int hop = 0; plan.target != store::HopTarget::kDone; ++hop) {
      std::vector<unsigned> targets = HopShards(plan, keys_by_shard, args, n_);
      for (unsigned s : targets)
        if (!Allowed(s)) return "ERR Script attempted to access a shard it did not lock";
      RunOnShards(targets, [&](ShardThread& st) {
        store::HopContext ctx{st.shard(), db, args, keys_by_shard[st.index()], now, n_};
        TrackingScopeGuard scope(tracking);
        RunHopOnShard(*op, hop, ctx, on_shard[st.index()]);
        if (ctx.effects.dirty()) MarkWrote();
      });
      plan = op->NextHop(hop);
    }
    op->Reply(rb);
    return "";
  }
  return kNotAllowed;
}

// Every declared key is on one shard: the script runs to the end on that shard's
// thread, synchronously, so nothing else can interleave with it. On the connection's
// own thread with the keys unlocked this is the fast path (no hop at all); otherwise the
// whole script is one hop to the keys' shard, behind any lock on them.
class DirectHost : public HostBase {
 public:
  DirectHost(ScriptJob& job, ShardThread& here, bool remote, bool whole = false)
      : HostBase(job, whole), here_(here), remote_(remote) {}

  // Runs the script in a fiber, so that when it turns busy (or awaits a connection
  // handler such as INFO: the connection's own thread only) it can take real locks on
  // its keys and let the thread's loop serve other clients (BUSY replies, SCRIPT KILL,
  // SHUTDOWN NOSAVE) meanwhile. Start() runs it until it first suspends and returns
  // true when it already ended; Continue() drives it to the end from a coroutine on
  // this thread; Finish() marks its end and releases its locks.
  bool Start();
  awaitable<void> Continue();
  void Finish();
  awaitable<void> DriveLocal() {
    if (!Start()) co_await Continue();
    Finish();
  }

 protected:
  bool Allowed(unsigned shard) const override { return shard == here_.index(); }
  void RunOnShards(const std::vector<unsigned>&, const std::function<void(ShardThread&)>& fn) override { fn(here_); }
  bool AwaitThen(std::function<awaitable<void>()>& then) override {
    if (!fiber_ || remote_) return false;
    TakeLocks();
    then_ = &then;
    fiber_->Suspend();
    return true;
  }
  void Breathe() override {
    if (!fiber_) return;
    TakeLocks();
    fiber_->Suspend();
  }
  bool OnConnectionThread() const override { return !remote_; }

 private:
  // Until now nothing else ran on this thread, so the script's keys were never locked
  // by anyone else (checked before it started) and no transaction started here since.
  // Scheduling with the script's (fresh, so largest) txid and marking it started makes
  // every later transaction on these keys queue behind the script and single-key
  // commands on them wait, while the loop runs other work.
  void TakeLocks() {
    if (locked_) return;
    locked_ = true;
    entry_.txid = txid;
    entry_.whole_shard = whole_;
    if (!whole_)
      for (auto k : job_.keys) entry_.locks.push_back(LockKey{job_.db, k});
    DARTER_CHECK(here_.Schedule(&entry_), "a script's own shard accepts its fresh txid (see above)");
    here_.MarkStarted(txid);
  }

  ShardThread& here_;
  bool remote_;
  std::unique_ptr<ScriptFiber> fiber_;
  std::function<awaitable<void>()>* then_ = nullptr;
  TxShardEntry entry_;
  bool locked_ = false;

 public:
  // Where a script run on another thread writes its reply (RunOnKeysShard).
  std::string remote_out;
  resp::ReplyBuilder* remote_reply = nullptr;
};

bool DirectHost::Start() {
  ScriptJob& job = job_;
  resp::ReplyBuilder* reply = remote_ ? remote_reply : job.reply;
  fiber_ = std::make_unique<ScriptFiber>([&job, this, reply] {
    RunInEngine(job, *this, *reply);
    EndBusy();
  });
  fiber_->Resume();
  return fiber_->Done();
}

awaitable<void> DirectHost::Continue() {
  while (!fiber_->Done()) {
    if (then_) {
      std::function<awaitable<void>()>* then = then_;
      then_ = nullptr;
      co_await (*then)();
    } else {
      co_await YieldToLoop();
    }
    fiber_->Resume();
  }
}

void DirectHost::Finish() {
  here_.shard().NotifyTxEnd(txid, 1);  // the journal groups the script's writes (journal.h)
  if (locked_) here_.Conclude(&entry_);
}

// Compiles `sha` on this thread from the shared cache if needed. False (with the error
// reply written) when it is not there (flushed meanwhile) or does not compile.
bool EnsureCompiled(LuaEngine& engine, const std::string& sha, resp::ReplyBuilder& reply) {
  if (engine.Has(sha)) return true;
  std::string body;
  {
    ScriptCache& cache = Cache();
    std::lock_guard lk(cache.mu);
    auto it = cache.bodies.find(sha);
    if (it == cache.bodies.end()) {
      reply.Error("NOSCRIPT No matching script. Please use EVAL.");
      return false;
    }
    body = it->second;
  }
  std::string err = engine.Load(sha, body);
  if (!err.empty()) {
    reply.Error(err);
    return false;
  }
  return true;
}

// Runs the whole script on `st` (another thread: its keys' shard) once its keys are
// free, and calls done() on that thread with the encoded reply in host->remote_out. The
// script runs in a fiber there; when it turns busy it locks its keys and `st`'s loop
// keeps serving its clients (BUSY replies, SCRIPT KILL, SHUTDOWN NOSAVE) between hook
// calls, driven by a coroutine on `st`.
void RunOnKeysShard(ScriptJob& job, ShardThread& st, int protocol, std::shared_ptr<DirectHost>& slot,
                    std::function<void()> done) {
  auto host = std::make_shared<DirectHost>(job, st, true);
  slot = host;
  auto rb = std::make_shared<resp::ReplyBuilder>(&host->remote_out);
  rb->SetProtocol(protocol);
  host->remote_reply = rb.get();
  LuaEngine& engine = Engine();
  if (!job.function && !EnsureCompiled(engine, job.sha, *rb)) {
    done();
    return;
  }
  host->txid = job.server->shards().NextTxId();
  host->tx_shards = 1;
  if (host->Start()) {
    host->Finish();
    done();
    return;
  }
  asio::co_spawn(
      st.ctx(),
      [host, rb, done]() -> awaitable<void> {
        co_await host->Continue();
        host->Finish();
        done();
      },
      asio::detached);
}

// The scheduled path: the script holds its locks through the transaction queues and
// runs in a fiber; each command is a hop driven by Drive() on the connection's thread.
class FiberHost : public HostBase {
 public:
  FiberHost(ScriptJob& job, bool whole) : HostBase(job, whole), entry_of_shard_(n_, -1) {}

  awaitable<void> Drive();

 protected:
  bool Allowed(unsigned shard) const override { return entry_of_shard_[shard] >= 0; }
  void RunOnShards(const std::vector<unsigned>& shards, const std::function<void(ShardThread&)>& fn) override {
    hop_shards_ = shards;
    hop_fn_ = &fn;
    pending_ = Pending::kHop;
    fiber_->Suspend();
  }
  bool AwaitThen(std::function<awaitable<void>()>& then) override {
    then_ = &then;
    pending_ = Pending::kThen;
    fiber_->Suspend();
    return true;
  }
  void Breathe() override {
    pending_ = Pending::kBreathe;
    fiber_->Suspend();
  }

 private:
  enum class Pending { kNone, kHop, kThen, kBreathe };
  std::vector<unsigned> participants_;
  std::vector<TxShardEntry> entries_;
  std::vector<int> entry_of_shard_;
  std::vector<asio::io_context*> ctxs_;
  std::unique_ptr<ScriptFiber> fiber_;
  Pending pending_ = Pending::kNone;
  std::vector<unsigned> hop_shards_;
  std::vector<asio::io_context*> hop_ctxs_;
  const std::function<void(ShardThread&)>* hop_fn_ = nullptr;
  std::function<awaitable<void>()>* then_ = nullptr;
};

awaitable<void> FiberHost::Drive() {
  ShardSet& shards = job_.server->shards();
  for (unsigned s = 0; s < n_; ++s) {
    bool take = whole_;
    for (auto k : job_.keys)
      if (store::ShardOf(k, n_) == s) take = true;
    if (take) participants_.push_back(s);
  }
  entries_.resize(participants_.size());
  for (size_t i = 0; i < participants_.size(); ++i) {
    unsigned s = participants_[i];
    entry_of_shard_[s] = static_cast<int>(i);
    ctxs_.push_back(&shards.at(s).ctx());
    entries_[i].whole_shard = whole_;
    if (!whole_) {
      std::unordered_set<std::string_view> seen;
      for (auto k : job_.keys)
        if (store::ShardOf(k, n_) == s && seen.insert(k).second) entries_[i].locks.push_back(LockKey{job_.db, k});
    }
  }
  tx_shards = static_cast<unsigned>(participants_.size());
  txid = co_await ScheduleEverywhere(shards, participants_, entries_, ctxs_);

  ScriptJob& job = job_;
  fiber_ = std::make_unique<ScriptFiber>([&job, this] {
    RunInEngine(job, *this, *job.reply);
    EndBusy();
  });
  fiber_->Resume();
  while (!fiber_->Done()) {
    Pending p = pending_;
    pending_ = Pending::kNone;
    if (p == Pending::kHop) {
      hop_ctxs_.clear();
      for (unsigned s : hop_shards_) hop_ctxs_.push_back(&shards.at(s).ctx());
      co_await AwaitAllAsync(hop_ctxs_, [&](size_t i, std::function<void()> done) {
        unsigned s = hop_shards_[i];
        TxShardEntry* e = &entries_[entry_of_shard_[s]];
        shards.at(s).RequestHop(e, [&, s, done] {
          (*hop_fn_)(shards.at(s));
          done();
        });
      });
    } else if (p == Pending::kThen) {
      co_await (*then_)();
    } else if (p == Pending::kBreathe) {
      co_await YieldToLoop();
    }
    fiber_->Resume();
  }
  co_await ConcludeEverywhere(shards, participants_, entries_, ctxs_, Tx());
}

// A script queued in a client's MULTI block runs when EXEC reaches it, in order with the
// block's other commands. The block already holds every shard whole (an EVAL makes it
// lock whole shards: multi_family.cc), so the script runs at once, synchronously, on
// the client's thread; a command for another shard is posted to that shard's thread and
// waited for. That cannot deadlock: every other shard's thread runs nothing but this
// transaction's work until it concludes, and none of them waits synchronously on
// another thread.
class InBlockHost : public HostBase {
 public:
  InBlockHost(ScriptJob& job, ShardSet& shards) : HostBase(job, true), shards_(shards) {}

 protected:
  bool Allowed(unsigned) const override { return true; }
  void RunOnShards(const std::vector<unsigned>& targets, const std::function<void(ShardThread&)>& fn) override {
    const int here = ShardSet::CurrentIndex();
    for (unsigned s : targets) {
      ShardThread& st = shards_.at(s);
      if (static_cast<int>(s) == here) {
        fn(st);
        continue;
      }
      std::promise<void> done;
      asio::post(st.ctx(), [&] {
        fn(st);
        done.set_value();
      });
      done.get_future().wait();
    }
  }
  bool AwaitThen(std::function<awaitable<void>()>&) override { return false; }

 private:
  ShardSet& shards_;
};

awaitable<void> RunJob(ScriptJob& job) {
  ShardSet& shards = job.server->shards();
  const unsigned n = shards.size();
  const unsigned own = job.conn->thread();
  // Whole-shard mode: no declared keys, or lua-allow-undeclared-keys.
  const bool whole = job.keys.empty() || LuaAllowUndeclaredKeys().load(std::memory_order_relaxed);
  if (whole && n == 1) {
    // One shard: locking it whole is "nothing else runs meanwhile", which running
    // inline gives for free unless a scheduled transaction holds locks on it.
    std::vector<std::string_view> none;
    if (!shards.at(0).AnyLocked(job.db, none)) {
      auto host = std::make_unique<DirectHost>(job, shards.at(0), false, true);
      host->txid = shards.NextTxId();
      host->tx_shards = 1;
      co_await host->DriveLocal();
      co_return;
    }
  }
  bool one_shard = !whole;
  const unsigned target = job.keys.empty() ? own : store::ShardOf(job.keys[0], n);
  for (auto k : job.keys)
    if (store::ShardOf(k, n) != target) one_shard = false;
  if (one_shard && target == own && !shards.at(own).AnyLocked(job.db, job.keys)) {
    auto host = std::make_unique<DirectHost>(job, shards.at(own), false);
    host->txid = shards.NextTxId();
    host->tx_shards = 1;
    co_await host->DriveLocal();
    co_return;
  }
  if (one_shard) {
    ShardThread& st = shards.at(target);
    std::shared_ptr<DirectHost> host;
    const int protocol = job.reply->protocol();
    co_await AwaitOn<bool>(st.ctx(), [&](Completion<bool> done) {
      st.RunWhenUnlocked(job.db, job.keys, [&, done] {
        RunOnKeysShard(job, st, protocol, host, [done] { done(true); });
      });
    });
    job.reply->Raw(host->remote_out);
    co_return;
  }
  auto host = std::make_unique<FiberHost>(job, whole);
  co_await host->Drive();
}

// ---- commands ----

// EVAL/EVALSHA family. `by_sha`: the first argument names a cached script.
void EvalGeneric(ConnectionContext& c, bool by_sha, bool read_only) {
  auto numkeys = store::ParseInt64(c.args[2]);
  if (!numkeys) {
    c.reply.Error(store::errors::kNotInteger);
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
  std::string sha;
  LuaEngine& engine = Engine();
  if (by_sha) {
    sha = store::ToLower(c.args[1]);
    if (!engine.Has(sha)) {
      std::string body;
      bool found = false;
      {
        ScriptCache& cache = Cache();
        std::lock_guard lk(cache.mu);
        auto it = cache.bodies.find(sha);
        if (it != cache.bodies.end()) {
          body = it->second;
          found = true;
        }
      }
      if (!found) {
        c.reply.Error("NOSCRIPT No matching script. Please use EVAL.");
        return;
      }
      std::string err = engine.Load(sha, body);
      if (!err.empty()) {
        c.reply.Error(err);
        return;
      }
    }
  } else {
    sha = Sha1Hex(c.args[1]);
    if (!engine.Has(sha)) {
      std::string err = engine.Load(sha, c.args[1]);
      if (!err.empty()) {
        c.reply.Error(err);
        return;
      }
      ScriptCache& cache = Cache();
      std::lock_guard lk(cache.mu);
      cache.bodies.emplace(sha, std::string(c.args[1]));
    }
  }
  ScriptFlags flags = engine.Flags(sha);
  // A script without a shebang is neither a write (its writes are checked one by one)
  // nor allowed stale.
  if (std::string_view refusal = ScriptStartRefusal(c, flags.shebang && !flags.no_writes, flags.allow_stale);
      !refusal.empty()) {
    c.reply.Error(refusal);
    return;
  }
  if (read_only && flags.shebang && !flags.no_writes) {
    c.reply.Error("ERR Can not execute a script with write flag using *_ro command.");
    return;
  }
  StartScriptRun(c, sha, false, read_only || flags.no_writes, static_cast<size_t>(*numkeys));
}

}  // namespace

std::string_view ScriptStartRefusal(ConnectionContext& c, bool may_write, bool allow_stale) {
  if (c.conn.is_master) return {};
  Server& srv = c.server;
  if (may_write && WritesStoppedBySaveError(srv)) return kMisconfError;
  if (!srv.is_replica()) return {};
  if (may_write && srv.config().replica_read_only()) return "READONLY You can't write against a read only replica.";
  if (!allow_stale && RefusesStaleReads(srv)) return kMasterDownError;
  return {};
}

void StartScriptRun(ConnectionContext& c, std::string id, bool function, bool read_only, size_t numkeys,
                    bool allow_oom) {
  auto job = std::make_shared<ScriptJob>();
  job->conn = &c.conn;
  job->server = &c.server;
  job->reply = &c.reply;
  job->sha = std::move(id);
  job->function = function;
  if (function) job->command.assign(c.args.begin(), c.args.end());
  job->read_only = read_only;
  job->allow_oom = allow_oom;
  job->db = c.conn.db;
  size_t nk = numkeys;
  for (size_t i = 3; i < c.args.size(); ++i) job->storage.emplace_back(c.args[i]);
  for (size_t i = 0; i < job->storage.size(); ++i) {
    if (i < nk) job->keys.push_back(job->storage[i]);
    else job->args.push_back(job->storage[i]);
  }
  if (store::ExecBlockOp::InBlock()) {
    // Its writes belong to the block's transaction, so the journal keeps them in the
    // block's MULTI, in order (the block concludes, and marks its end, on every shard).
    InBlockHost host(*job, c.server.shards());
    host.txid = CurrentTransaction().txid;
    host.tx_shards = CurrentTransaction().shards;
    // On a script stack (ScriptFiber), never suspended: InBlockHost runs everything
    // synchronously, so the fiber is done when Resume returns.
    ScriptFiber fiber([&] {
      RunInEngine(*job, host, c.reply);
      host.EndBusy();
    });
    fiber.Resume();
    DARTER_CHECK(fiber.Done(), "a script that needs no other shard finishes in one resume");
    return;
  }
  c.then = [job]() -> awaitable<void> { return RunJob(*job); };
}

namespace {

void EvalCommand(ConnectionContext& c) { EvalGeneric(c, false, false); }
void EvalShaCommand(ConnectionContext& c) { EvalGeneric(c, true, false); }
void EvalRoCommand(ConnectionContext& c) { EvalGeneric(c, false, true); }
void EvalShaRoCommand(ConnectionContext& c) { EvalGeneric(c, true, true); }

bool SubArity(ConnectionContext& c, int arity) {
  if (!store::CommandSpec::ArityAllows(arity, c.args.size())) {
    c.reply.Error(store::errors::WrongArity("script|" + store::ToLower(c.args[1])));
    return false;
  }
  return true;
}

void ScriptCommand(ConnectionContext& c) {
  std::string_view sub = c.args[1];
  if (EqualsIgnoreCase(sub, "load")) {
    if (!SubArity(c, 3)) return;
    std::string sha = Sha1Hex(c.args[2]);
    LuaEngine& engine = Engine();
    std::string err = engine.Load(sha, c.args[2]);
    if (!err.empty()) {
      c.reply.Error(err);
      return;
    }
    {
      ScriptCache& cache = Cache();
      std::lock_guard lk(cache.mu);
      cache.bodies.emplace(sha, std::string(c.args[2]));
    }
    c.reply.Bulk(sha);
    return;
  }
  if (EqualsIgnoreCase(sub, "exists")) {
    if (!SubArity(c, -3)) return;
    ScriptCache& cache = Cache();
    std::lock_guard lk(cache.mu);
    c.reply.ArrayHeader(c.args.size() - 2);
    for (size_t i = 2; i < c.args.size(); ++i) c.reply.Integer(cache.bodies.count(store::ToLower(c.args[i])) ? 1 : 0);
    return;
  }
  if (EqualsIgnoreCase(sub, "flush")) {
    if (!SubArity(c, -2)) return;
    if (c.args.size() > 3 ||
        (c.args.size() == 3 && !EqualsIgnoreCase(c.args[2], "sync") && !EqualsIgnoreCase(c.args[2], "async"))) {
      c.reply.Error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
      return;
    }
    ScriptCache& cache = Cache();
    {
      std::lock_guard lk(cache.mu);
      cache.bodies.clear();
      cache.generation.fetch_add(1, std::memory_order_acq_rel);
    }
    // Each thread drops its compiled scripts the next time it runs one (Engine()).
    c.reply.Ok();
    return;
  }
  if (EqualsIgnoreCase(sub, "kill")) {
    if (!SubArity(c, 2)) return;
    KillBusyScripts(c.reply, false);
    return;
  }
  if (EqualsIgnoreCase(sub, "help")) {
    if (!SubArity(c, 2)) return;
    static const char* kHelp[] = {
        "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DEBUG (YES|SYNC|NO)",
        "    Set the debug mode for subsequent scripts executed.",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache. Very dangerous on replicas.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the scripts cache.",
        "    * SYNC: Synchronously flush the scripts cache.",
        "KILL",
        "    Kill the currently executing Lua script.",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
        "HELP",
        "    Prints this help.",
    };
    c.reply.SimpleStringArray(kHelp);
    return;
  }
  c.reply.Error("ERR unknown subcommand '" + std::string(sub.substr(0, 128)) + "'. Try SCRIPT HELP.");
}

}  // namespace

std::vector<size_t> EvalKeys(store::ArgList args) {
  std::vector<size_t> out;
  if (args.size() < 3) return out;
  auto n = store::ParseInt64(args[2]);
  if (!n || *n < 0 || *n > static_cast<int64_t>(args.size()) - 3) return out;
  for (int64_t i = 0; i < *n; ++i) out.push_back(static_cast<size_t>(3 + i));
  return out;
}

void KillBusyScripts(resp::ReplyBuilder& reply, bool functions) {
  BusyRegistry& b = Busy();
  std::lock_guard lk(b.mu);
  bool any = false;
  for (ScriptStatus* s : b.busy) {
    if (s->function != functions) continue;
    any = true;
    if (s->wrote.load(std::memory_order_relaxed)) {
      reply.Error(
          "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the "
          "script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
      return;
    }
  }
  if (!any) {
    reply.Error("NOTBUSY No scripts in execution right now.");
    return;
  }
  for (ScriptStatus* s : b.busy)
    if (s->function == functions) s->kill.store(true, std::memory_order_relaxed);
  reply.Ok();
}

std::string_view ScriptBusyError(const store::CommandSpec& spec, store::ArgList args) {
  if (Busy().count.load(std::memory_order_relaxed) == 0) return {};
  // Which kinds are busy: SCRIPT KILL passes for a busy EVAL, FUNCTION KILL and FUNCTION
  // STATS for a busy function, and the BUSY reply names the kill of the first busy one.
  bool eval_busy = false, function_busy = false, first_function = false;
  {
    BusyRegistry& b = Busy();
    std::lock_guard lk(b.mu);
    if (b.busy.empty()) return {};
    first_function = b.busy.front()->function;
    for (ScriptStatus* s : b.busy) (s->function ? function_busy : eval_busy) = true;
  }
  // Redis 7.0's CMD_ALLOW_BUSY commands. The transaction commands pass so that a
  // pipelined MULTI ... EXEC keeps its shape: a queued command gets BUSY and flags the
  // transaction, whose EXEC then aborts (multi_family.cc).
  const std::string& n = spec.name;
  if (n == "auth" || n == "hello" || n == "multi" || n == "discard" || n == "watch" || n == "unwatch") return {};
  if (eval_busy && n == "script" && args.size() >= 2 && EqualsIgnoreCase(args[1], "kill")) return {};
  if (function_busy && n == "function" && args.size() >= 2 &&
      (EqualsIgnoreCase(args[1], "kill") || EqualsIgnoreCase(args[1], "stats")))
    return {};
  // SHUTDOWN only with NOSAVE: saving would wait for the script (Redis's rule).
  if (n == "shutdown")
    for (size_t i = 1; i < args.size(); ++i)
      if (EqualsIgnoreCase(args[i], "nosave")) return {};
  return first_function ? kBusyFunctionError : kBusyError;
}

void RegisterScriptFamily(store::CommandTable& t) {
  using namespace store;
  // EVAL's keys are counted by numkeys; COMMAND shows (0, 0, 0) as Redis 7.0 does.
  constexpr uint32_t kEval = kCmdNoScript | kCmdSkipMonitor | kCmdStale;
  CommandFamily family(t, kAclScripting);
  family << CommandRow("eval", -3, kEval).Connection(EvalCommand).Keys(EvalKeys)
         << CommandRow("evalsha", -3, kEval).Connection(EvalShaCommand).Keys(EvalKeys)
         << CommandRow("eval_ro", -3, kEval | kCmdReadOnly).Connection(EvalRoCommand).Keys(EvalKeys)
         << CommandRow("evalsha_ro", -3, kEval | kCmdReadOnly).Connection(EvalShaRoCommand).Keys(EvalKeys)
         << CommandRow("script", -2, kCmdNoScript)
                .Connection(ScriptCommand)
                .Container()
                .Subcommands({Sub("load", 3, kCmdNoScript | kCmdStale), Sub("exists", -3, kCmdNoScript),
                              Sub("flush", -2, kCmdNoScript), Sub("kill", 2, kCmdNoScript),
                              Sub("help", 2, kCmdLoading | kCmdStale)});
}

}  // namespace darter::server
