#include "server/core/shard_set.h"


#include <chrono>
#include <unordered_set>

#include "server/core/command_stats.h"
#include "server/core/eviction.h"
#include "server/core/observer_hooks.h"

namespace darter::server {

namespace {
thread_local int tl_shard_index = -1;
constexpr auto kExpiryPeriod = std::chrono::milliseconds(100);
constexpr size_t kExpiryBudget = 2000;
constexpr auto kExpiryMaxTime = std::chrono::microseconds(2500);
}  // namespace

ShardThread::ShardThread(unsigned index, unsigned db_count) : ctx_(1), shard_(index, db_count) {
  shard_.set_eviction_guard(this);
}

bool ShardThread::IsLocked(unsigned db, std::string_view key) const {
  if (whole_shard_locks_) return true;
  if (locks_.empty()) return false;
  return locks_.count(LockKey{db, key}) > 0;
}

bool ShardThread::AnyLocked(unsigned db, std::span<const std::string_view> keys) const {
  if (whole_shard_locks_) return true;
  if (locks_.empty()) return false;
  for (auto k : keys)
    if (locks_.count(LockKey{db, k})) return true;
  return false;
}

void ShardThread::RunWhenUnlocked(unsigned db, std::vector<std::string_view> keys, std::function<void()> fn) {
  // Behind earlier deferred work on the same keys, even if the locks are free now, so
  // that commands on one key keep their arrival order. O(keys): the deferred keys are
  // counted in deferred_keys_ (the blocking registry defers one call per ready key, so a
  // scan of the whole list per call would be quadratic).
  bool behind = false;
  if (!deferred_keys_.empty()) {
    for (auto k : keys)
      if (deferred_keys_.count(LockKey{db, k})) {
        behind = true;
        break;
      }
  }
  if (!behind && !AnyLocked(db, keys)) {
    fn();
    return;
  }
  for (auto k : keys) {
    auto it = deferred_keys_.find(LockKey{db, k});
    if (it == deferred_keys_.end()) it = deferred_keys_.emplace(OwnedLockKey{db, std::string(k)}, 0).first;
    it->second++;
  }
  deferred_.push_back(Deferred{db, std::move(keys), std::move(fn)});
}

void ShardThread::RunDeferred() {
  if (running_deferred_ || deferred_.empty()) return;
  running_deferred_ = true;
  // One pass in FIFO order; an entry still blocked also blocks later entries that share
  // a key with it (checked through `blocked`). Work deferred while the pass runs goes
  // after the entries still waiting.
  std::deque<Deferred> pending;
  pending.swap(deferred_);
  std::deque<Deferred> waiting;
  std::unordered_set<LockKey, LockKeyHash, LockKeyEq> blocked;
  for (Deferred& d : pending) {
    bool wait = AnyLocked(d.db, d.keys);
    if (!wait && !blocked.empty()) {
      for (auto k : d.keys)
        if (blocked.count(LockKey{d.db, k})) {
          wait = true;
          break;
        }
    }
    if (wait) {
      for (auto k : d.keys) blocked.insert(LockKey{d.db, k});
      waiting.push_back(std::move(d));
      continue;
    }
    for (auto k : d.keys) {
      auto it = deferred_keys_.find(LockKey{d.db, k});
      if (it != deferred_keys_.end() && --it->second == 0) deferred_keys_.erase(it);
    }
    auto fn = std::move(d.fn);
    fn();
  }
  for (Deferred& d : deferred_) waiting.push_back(std::move(d));
  deferred_.swap(waiting);
  running_deferred_ = false;
}

void ShardThread::AddLocks(const TxShardEntry& e) {
  if (e.whole_shard) whole_shard_locks_++;
  for (auto& k : e.locks) {
    auto it = locks_.find(k);
    if (it == locks_.end()) it = locks_.emplace(OwnedLockKey{k.db, std::string(k.key)}, 0).first;
    it->second++;
  }
}

void ShardThread::RemoveLocks(const TxShardEntry& e) {
  if (e.whole_shard) whole_shard_locks_--;
  for (auto& k : e.locks) {
    auto it = locks_.find(k);
    if (it != locks_.end() && --it->second == 0) locks_.erase(it);
  }
}

bool ShardThread::Schedule(TxShardEntry* entry) {
  if (entry->txid < max_started_txid_) return false;
  queue_.emplace(entry->txid, entry);
  AddLocks(*entry);
  return true;
}

void ShardThread::RequestHop(TxShardEntry* entry, std::function<void()> hop) {
  entry->pending_hop = std::move(hop);
  Pump();
}

void ShardThread::Conclude(TxShardEntry* entry) {
  queue_.erase(entry->txid);
  RemoveLocks(*entry);
  RunDeferred();
  Pump();
}

// Runs the head transaction's pending hop. Only the head may run: transactions execute
// on every shard in txid order, which makes the schedule serializable.
// A hop may conclude its transaction (its op's last hop), which pumps again: the loop
// here runs what that made runnable, so the stack does not grow with the queue.
void ShardThread::Pump() {
  if (pumping_) return;
  pumping_ = true;
  while (!queue_.empty()) {
    TxShardEntry* head = queue_.begin()->second;
    if (!head->pending_hop) break;
    if (!head->started) {
      head->started = true;
      if (head->txid > max_started_txid_) max_started_txid_ = head->txid;
    }
    auto hop = std::move(head->pending_hop);
    head->pending_hop = nullptr;
    hop();
  }
  pumping_ = false;
}

std::string ShardThread::DescribeTxState() const {
  std::string s = "shard=" + std::to_string(index()) + " queue=" + std::to_string(queue_.size());
  if (!queue_.empty()) {
    const TxShardEntry* head = queue_.begin()->second;
    s += " head=" + std::to_string(head->txid) + (head->started ? "(started)" : "") +
         (head->pending_hop ? "(hop pending)" : "");
  }
  s += " max_started=" + std::to_string(max_started_txid_) + " locks=" + std::to_string(locks_.size()) +
       " whole_shard_locks=" + std::to_string(whole_shard_locks_) + " deferred=" + std::to_string(deferred_.size());
  return s;
}

void ShardThread::ScheduleExpiryTick() {
  expiry_timer_->expires_after(kExpiryPeriod);
  expiry_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    // While CLIENT PAUSE is in effect the dataset stays as it is (client_pause.h).
    const ObserverHooks& hooks = GetObserverHooks();
    if (hooks.dataset_frozen && hooks.dataset_frozen()) {
      ScheduleExpiryTick();
      return;
    }
    auto start = std::chrono::steady_clock::now();
    // Like Redis's cycle: keep going while a large share of what we look at has
    // expired, but never for long.
    while (active_expire()) {
      size_t deleted = shard_.ActiveExpireStep(store::UnixTimeMs(), kExpiryBudget);
      if (deleted < kExpiryBudget / 4 || std::chrono::steady_clock::now() - start > kExpiryMaxTime) break;
    }
    // The latency monitor's expire-cycle and eviction-cycle events (latency_family.h).
    auto expired = std::chrono::steady_clock::now();
    if (hooks.latency_event)
      hooks.latency_event("expire-cycle", std::chrono::duration_cast<std::chrono::milliseconds>(expired - start).count());
    EvictOnTick(shard_);
    if (hooks.latency_event && Introspection().latency_monitor_threshold.load(std::memory_order_relaxed) > 0)
      hooks.latency_event("eviction-cycle", std::chrono::duration_cast<std::chrono::milliseconds>(
                                                     std::chrono::steady_clock::now() - expired)
                                                     .count());
    ScheduleExpiryTick();
  });
}

void ShardThread::Run() {
  tl_shard_index = static_cast<int>(index());
  expiry_timer_ = std::make_unique<asio::steady_timer>(ctx_);
  ScheduleExpiryTick();
  ctx_.run();
  expiry_timer_.reset();
}

ShardSet::ShardSet(unsigned thread_count, unsigned db_count) {
  for (unsigned i = 0; i < thread_count; ++i) threads_.push_back(std::make_unique<ShardThread>(i, db_count));
}

ShardSet::~ShardSet() {
  Stop();
  // A handler destroyed with its loop may post to another shard's loop (an awaiting
  // coroutine's frame is released on its own thread): had that loop been destroyed
  // already, the post would write freed memory. So every loop drops its pending handlers
  // while all loops still exist, in rounds, since each round's destructors may queue
  // handlers on loops already cleared (a chain of frames is short: a few rounds do).
  for (int round = 0; round < 4; ++round)
    for (auto& t : threads_) t->ShutdownLoop();
}

void ShardSet::Start() {
  if (started_) return;
  started_ = true;
  for (auto& t : threads_) {
    guards_.push_back(std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(
        t->ctx().get_executor()));
    os_threads_.emplace_back([st = t.get()] { st->Run(); });
  }
}

void ShardSet::Stop() {
  for (auto& t : threads_) t->ctx().stop();
  for (auto& th : os_threads_)
    if (th.joinable()) th.join();
  os_threads_.clear();
  guards_.clear();
}

int ShardSet::CurrentIndex() { return tl_shard_index; }

}  // namespace darter::server
