// Shard: one thread's share of every logical database, plus the per-shard state that
// commands need (expiry, statistics, intent locks of multi-shard transactions).
//
// The store is single-threaded: a Shard is owned by its shard thread and touched only
// there (lib/server guarantees it). It needs no thread or socket, so it is unit-tested
// directly.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/db_table.h"
#include "store/eviction.h"
#include "store/keyspace_events.h"
#include "store/write_observer.h"

namespace darter::store {

class ShardSnapshot;

// Which shard a key belongs to: hash of the key, or of its {hashtag} when it has a
// non-empty one (Redis Cluster's rule: the first '{' and the first '}' after it).
std::string_view KeyHashTag(std::string_view key);
unsigned ShardOf(std::string_view key, unsigned shard_count);

int64_t UnixTimeMs();
// Seconds clock used for LRU idle time.
uint32_t LruClock();

// A key's access stamp (Slot::access), as Redis keeps it in robj->lru: the LRU clock in
// seconds, or under an LFU maxmemory-policy (minutes mod 2^16) << 8 | a logarithmic
// access counter that starts at 5 and decays by one per idle minute.
uint32_t NewAccessStamp();
// Records an access (reads and writes that "touch" the key).
void TouchAccess(uint32_t* access);
// The LFU counter after decay (OBJECT FREQ).
uint8_t LfuCounterNow(uint32_t access);

struct ShardStats {
  uint64_t expired_keys = 0;
  uint64_t expired_stale_perc = 0;
  uint64_t keyspace_hits = 0;
  uint64_t keyspace_misses = 0;
  uint64_t evicted_keys = 0;
};

class Shard {
 public:
  Shard(unsigned index, unsigned db_count);

  unsigned index() const { return index_; }
  unsigned db_count() const { return static_cast<unsigned>(dbs_.size()); }
  // Read-only view of a database (sizes, reads, walks). Every change to a key goes
  // through the Shard methods below, which is what keeps snapshots point-in-time: before
  // a slot can change, each running snapshot for which it is still pending serializes it
  // (snapshot.h). There is deliberately no mutable accessor for families or the server.
  const DbTable& db(unsigned i) const { return *dbs_[i]; }

  // Off on a replica: its primary does the expiring. A key past its deadline stays
  // until the primary's DEL arrives; ordinary clients' reads see it as absent, while
  // writes (which on a replica come from the primary) apply to the key as stored, as
  // Redis's lookupKeyWrite does. Otherwise a lagging replica would drop a key the
  // primary has just given a new TTL, or recreate one the primary is about to delete.
  void set_expire_on_access(bool on) { expire_on_access_ = on; }
  bool expire_on_access() const { return expire_on_access_; }

  // Lookups come in two kinds, as Redis's lookupKeyRead / lookupKeyWrite. A command
  // that writes uses the write lookup for every key it reads or writes (the sources of
  // SUNIONSTORE too), so a replica applies it to exactly what its primary had.
  //
  // Write lookup: the slot for `key`, or nullptr. On a primary an expired key is
  // deleted (counting in expired_keys) and reads as absent; on a replica it is returned.
  // The only way to a slot that may be changed: before returning it, every running
  // snapshot for which it is still pending serializes it (serialize-before-write). With
  // no snapshot running that costs one predictable branch.
  Slot* FindLive(unsigned db, std::string_view key, int64_t now_ms) {
    Slot* s = Lookup(db, key, now_ms);
    if (snapshot_count_ != 0 && s) [[unlikely]]
      SnapshotBeforeChange(db, *s);
    return s;
  }
  // Read lookups: an expired key is absent (and deleted on a primary). Both count
  // keyspace hits and misses; FindForRead also records the access (LRU/LFU), the
  // NoTouch form does not (TYPE, TTL, EXISTS, OBJECT: Redis's LOOKUP_NOTOUCH).
  // They return const slots: a command that changes what it found must use FindLive.
  const Slot* FindForRead(unsigned db, std::string_view key, int64_t now_ms);
  // `notify_miss` false: no keymiss event (OBJECT, as Redis's LOOKUP_NONOTIFY).
  const Slot* FindForReadNoTouch(unsigned db, std::string_view key, int64_t now_ms, bool notify_miss = true) {
    return ReadLookup(db, key, now_ms, notify_miss);
  }

  // ---- Mutations. Each serializes the slot for running snapshots first. ----

  // Inserts or overwrites `key` with `value`, clearing any TTL. Returns the slot.
  Slot* Upsert(unsigned db, std::string_view key, Value value, int64_t now_ms);
  // Inserts a new key (value: empty string, no TTL, access stamp unset). REQUIRES: key
  // absent (a write lookup returned nullptr). A new slot is not part of any running
  // snapshot, so nothing is emitted. Slot pointers of this database may move.
  Slot* Insert(unsigned db, std::string_view key) { return dbs_[db]->Insert(key); }
  Slot* Insert(unsigned db, std::string_view key, uint64_t hash) { return dbs_[db]->Insert(key, hash); }
  // Removes a slot of database `db`.
  void Erase(unsigned db, Slot* slot) {
    if (snapshot_count_ != 0) [[unlikely]]
      SnapshotBeforeChange(db, *slot);
    dbs_[db]->Erase(slot);
  }
  // Sets the slot's deadline (0 = persistent).
  void SetExpire(unsigned db, Slot* slot, int64_t expire_ms) {
    if (snapshot_count_ != 0) [[unlikely]]
      SnapshotBeforeChange(db, *slot);
    dbs_[db]->SetExpire(slot, expire_ms);
  }
  // A slot found through a read-only path (a read lookup, Shard::db()), made changeable:
  // PFCOUNT updating the cache kept inside its value, the RDB loader overwriting a key
  // a file holds twice. Serializes it first, like FindLive.
  Slot* ForChange(unsigned db, const Slot* slot) {
    Slot* s = const_cast<Slot*>(slot);
    if (snapshot_count_ != 0) [[unlikely]]
      SnapshotBeforeChange(db, *s);
    return s;
  }
  // Removes `key`; true if it was there. On a replica (no local expiry) a key past its
  // deadline is removed too: that is how the primary's DEL of an expired key lands.
  bool Delete(unsigned db, std::string_view key, int64_t now_ms);

  // One step of active expiry: visits up to `budget` slots of databases that have keys
  // with a TTL and deletes the expired ones. Returns how many it deleted.
  size_t ActiveExpireStep(int64_t now_ms, size_t budget);

  // Both finish any running snapshot first (snapshot.h).
  void SwapDb(unsigned a, unsigned b) {
    if (snapshot_count_) FinishSnapshots();
    dbs_[a].swap(dbs_[b]);
  }
  void FlushDb(unsigned db) {
    if (snapshot_count_) FinishSnapshots();
    for (WriteObserver* o : observers_) o->BeforeClear(*this, db);
    dbs_[db]->Clear();
  }

  // ---- Keyspace notifications (keyspace_events.h). ----
  // Fires `event` of class `cls` on `key`: free (one relaxed load, one branch) unless
  // the class is enabled. Read misses fire keymiss, expiry fires expired, and
  // InsertNew / Upsert of an absent key fire new (Redis 7.0's dbAdd); the families fire
  // the rest, in Redis's order.
  void NotifyKeyspaceEvent(uint32_t cls, std::string_view event, unsigned db, std::string_view key) {
    if ((keyspace_event_flags.load(std::memory_order_relaxed) & cls) == 0) [[likely]]
      return;
    if (KeyspaceEventSink* sink = GetKeyspaceEventSink()) sink->Publish(cls, event, db, key);
  }
  // Insert (REQUIRES: key absent) for a key a command creates: fires new. Insert itself
  // stays silent for loading, which in Redis fires nothing.
  Slot* InsertNew(unsigned db, std::string_view key) {
    Slot* s = Insert(db, key);
    NotifyKeyspaceEvent(kNotifyNew, "new", db, key);
    return s;
  }

  bool snapshot_running() const { return snapshot_count_ != 0; }

  // ---- Eviction (eviction.h) ----
  // Evicts one key chosen by `policy`; false when none qualifies.
  bool EvictOne(EvictionPolicy policy, int64_t now_ms) { return evictor_.EvictOne(*this, policy, now_ms); }
  // Removes `slot` as an eviction: counted in evicted_keys and reported to the write
  // observers as DEL key (so replicas, the journal, WATCH and tracking see it).
  void EvictKey(unsigned db, const Slot* slot);
  // Not owned; set once by the shard's thread before it serves commands.
  void set_eviction_guard(const EvictionGuard* g) { eviction_guard_ = g; }
  const EvictionGuard* eviction_guard() const { return eviction_guard_; }
  void ResetEvictionPool() { evictor_.Reset(); }

  size_t TotalKeys() const;
  // Bytes used by tables, keys and values (approximate, for INFO memory).
  size_t MemoryUsage() const;

  ShardStats& stats() { return stats_; }

  // Write observers (write_observer.h). Not owned; an observer removes itself before
  // it goes away. Expiry reports each removed key as DEL key with expired = true.
  void AddWriteObserver(WriteObserver* o) { observers_.push_back(o); }
  void RemoveWriteObserver(WriteObserver* o) { std::erase(observers_, o); }
  void NotifyWrite(const AppliedWrite& write) {
    if (write.effects.dirty() == 0) return;
    for (WriteObserver* o : observers_) o->OnWrite(*this, write);
  }
  void NotifyTxEnd(uint64_t txid, unsigned tx_shards, bool ran_here = true) {
    for (WriteObserver* o : observers_) o->OnTxEnd(*this, txid, tx_shards, ran_here);
  }

 private:
  friend class ShardSnapshot;
  void ExpireSlot(unsigned db, Slot* slot);
  // Erases `slot` and reports it as DEL key (expiry and eviction).
  void RemoveAndReport(unsigned db, Slot* slot, bool expired);
  // The slot for `key` with expiry applied (shard.h's write lookup), no snapshot hook.
  Slot* Lookup(unsigned db, std::string_view key, int64_t now_ms);
  // The read lookups' common part: Lookup, a replica's expired key hidden, hits counted.
  // Internal only: the slot is mutable so FindForRead can record the access.
  Slot* ReadLookup(unsigned db, std::string_view key, int64_t now_ms, bool notify_miss = true);
  // snapshot.cc: every running snapshot for which `slot` is pending emits it now.
  void SnapshotBeforeChange(unsigned db, Slot& slot);
  void FinishSnapshots();

  unsigned index_;
  std::vector<std::unique_ptr<DbTable>> dbs_;
  bool expire_on_access_ = true;
  ShardStats stats_;
  Evictor evictor_;
  const EvictionGuard* eviction_guard_ = nullptr;
  // Active expiry resumes where it stopped: database, then table cursor.
  unsigned expire_db_ = 0;
  uint64_t expire_cursor_ = 0;
  std::vector<WriteObserver*> observers_;
  // Running snapshots by bit; snap_parity_ bit k is what Slot::snap bit k holds once
  // snapshot k has nothing left to do with the slot.
  ShardSnapshot* snapshots_[4] = {};
  unsigned snapshot_count_ = 0;
  uint8_t snap_parity_ = 0;
};

}  // namespace darter::store
