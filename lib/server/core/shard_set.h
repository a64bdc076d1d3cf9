// ShardSet: the server's threads. Thread i runs one event loop that owns store shard i
// (every logical database's share of keys that hash to i) and a share of the client
// connections. Nothing mutable is shared between threads on the hot path: work for
// another shard is posted to its loop, and its result posted back.
//
// Each ShardThread also keeps the shard's side of the transaction scheme (see
// docs/transactions.md): intent locks on keys, the queue of multi-shard transactions
// ordered by transaction id, and single-shard commands deferred behind locks.
//
// Thread-safety: ShardSet's structure is immutable after Start(). A ShardThread's
// members are touched only on its own thread, except ctx(), which is thread-safe.
#pragma once

#include <algorithm>
#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <span>
#include <memory>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "server/core/asio.h"
#include "store/shard.h"

namespace darter::server {

// A key as a lock target: (db, key bytes). The bytes belong to the command's arguments,
// which outlive that command's own use of the lock (the issuing connection waits).
struct LockKey {
  unsigned db;
  std::string_view key;
  bool operator==(const LockKey& o) const { return db == o.db && key == o.key; }
};

// The lock table's own copy of a key. The table must own its keys: when two
// transactions lock the same key, the entry outlives the first one's arguments (whose
// buffer the connection then reuses), so a borrowed view would change under the table.
struct OwnedLockKey {
  unsigned db;
  std::string key;
};
struct LockKeyHash {
  using is_transparent = void;
  size_t operator()(const LockKey& k) const { return std::hash<std::string_view>()(k.key) * 31 + k.db; }
  size_t operator()(const OwnedLockKey& k) const { return (*this)(LockKey{k.db, k.key}); }
};
struct LockKeyEq {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return a.db == b.db && std::string_view(a.key) == std::string_view(b.key);
  }
};

// One multi-shard transaction's presence on one shard.
struct TxShardEntry {
  uint64_t txid = 0;
  std::vector<LockKey> locks;
  bool whole_shard = false;
  bool started = false;
  std::function<void()> pending_hop;  // set when the coordinator asks for a hop here
};

// A shard's event loop, with execution_context's shutdown() public: ShardSet destroys
// the pending handlers of every loop before it destroys any loop (see ~ShardSet).
class ShardIoContext : public asio::io_context {
 public:
  explicit ShardIoContext(int concurrency_hint) : asio::io_context(concurrency_hint) {}
  using asio::execution_context::shutdown;
};

class ShardThread : public store::EvictionGuard {
 public:
  ShardThread(unsigned index, unsigned db_count);

  asio::io_context& ctx() { return ctx_; }
  store::Shard& shard() { return shard_; }
  unsigned index() const { return shard_.index(); }

  // Active expiry (the periodic cycle that deletes keys past their TTL nobody reads),
  // on by default; DEBUG SET-ACTIVE-EXPIRE turns it off and on, as Redis's
  // active_expire_enabled. Lazy expiry on access is not affected. Any thread.
  void set_active_expire(bool on) { active_expire_.store(on, std::memory_order_relaxed); }
  bool active_expire() const { return active_expire_.load(std::memory_order_relaxed); }

  // ---- shard thread only ----
  bool IsLocked(unsigned db, std::string_view key) const;
  bool AnyLocked(unsigned db, std::span<const std::string_view> keys) const;
  // store::EvictionGuard: a key a running transaction holds is not evicted.
  bool ShardInUse() const override { return whole_shard_locks_ != 0; }
  bool KeyInUse(unsigned db, std::string_view key) const override { return IsLocked(db, key); }
  // Runs `fn` now if none of `keys` (in `db`) is locked, else once they all are free.
  // Deferred commands run in arrival order among those waiting on the same keys.
  void RunWhenUnlocked(unsigned db, std::vector<std::string_view> keys, std::function<void()> fn);

  // Transaction queue. Schedule fails when a transaction with a larger id has already
  // started here: running `entry` now would break the global order, so the
  // coordinator retries with a fresh id.
  bool Schedule(TxShardEntry* entry);
  void RequestHop(TxShardEntry* entry, std::function<void()> hop);
  // Records that transaction `txid` has started running here (a script that ran inline
  // and now holds locks, script_family.cc): later Schedule calls with smaller ids fail.
  void MarkStarted(uint64_t txid) { max_started_txid_ = std::max(max_started_txid_, txid); }
  // Takes `entry` out of the queue and releases its locks, then runs what waited on
  // them: at the end of a transaction here, and to undo a Schedule that succeeded when
  // another shard refused the same id (the coordinator retries with a new one).
  void Conclude(TxShardEntry* entry);

  // Called by the thread's loop.
  void Run();
  // After the loop stopped for good: destroys the handlers still queued (coroutine frames
  // waiting on a hop, timers), whose destructors may post to other shards' loops.
  void ShutdownLoop() { ctx_.shutdown(); }

  // For DEBUG TXSTATE: queue, locks and deferred work, one line.
  std::string DescribeTxState() const;

 private:
  void AddLocks(const TxShardEntry& e);
  void RemoveLocks(const TxShardEntry& e);
  void Pump();
  void RunDeferred();
  void ScheduleExpiryTick();

  ShardIoContext ctx_;
  store::Shard shard_;
  std::unordered_map<OwnedLockKey, uint32_t, LockKeyHash, LockKeyEq> locks_;
  uint32_t whole_shard_locks_ = 0;
  std::map<uint64_t, TxShardEntry*> queue_;
  uint64_t max_started_txid_ = 0;
  struct Deferred {
    unsigned db;
    std::vector<std::string_view> keys;
    std::function<void()> fn;
  };
  std::deque<Deferred> deferred_;
  // How many entries of deferred_ name each key.
  std::unordered_map<OwnedLockKey, uint32_t, LockKeyHash, LockKeyEq> deferred_keys_;
  bool running_deferred_ = false;
  bool pumping_ = false;  // Pump is on the stack (a hop concluding pumps again)
  std::unique_ptr<asio::steady_timer> expiry_timer_;
  std::atomic<bool> active_expire_{true};
};

class ShardSet {
 public:
  ShardSet(unsigned thread_count, unsigned db_count);
  ~ShardSet();

  unsigned size() const { return static_cast<unsigned>(threads_.size()); }
  ShardThread& at(unsigned i) { return *threads_[i]; }

  void Start();
  // Stops every loop and joins the threads. Idempotent.
  void Stop();

  // The calling thread's shard index, or -1 off the shard threads.
  static int CurrentIndex();

  uint64_t NextTxId() { return next_txid_.fetch_add(1, std::memory_order_relaxed) + 1; }

 private:
  std::vector<std::unique_ptr<ShardThread>> threads_;
  std::vector<std::thread> os_threads_;
  std::vector<std::unique_ptr<asio::executor_work_guard<asio::io_context::executor_type>>> guards_;
  std::atomic<uint64_t> next_txid_{0};
  bool started_ = false;
};

}  // namespace darter::server
