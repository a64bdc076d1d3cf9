// DbTable: one logical database's keyspace within one shard.
//
// A segmented hash table with extendible hashing (after Dash, arXiv 2003.07302, and
// Dragonfly's dashtable): a directory of 2^G pointers to fixed-size segments; the top
// G bits of a key's hash pick the directory entry. Each segment has 64 home buckets
// plus 4 stash buckets of 12 slots (12 rather than 8: fuller segments before a split,
// 73 rather than 85 table bytes per key on average over 0.5M..1.5M keys). An entry lives in its home bucket, the next one,
// or a stash bucket. A full segment splits in two by one more hash bit; only that
// segment's entries move, so the table never stops the world to grow.
//
// Invariants that SCAN and snapshots rely on:
//  * Entries move only when their segment splits, and then only to the new sibling,
//    which covers the upper half of the old hash range — a range a cursor has not
//    reached yet. So a cursor of (hash prefix, bucket) visits every key that is present
//    for the whole scan at least once, however much the table grows meanwhile.
//  * Each slot carries one bit per running snapshot (store/snapshot.h); splits move a slot
//    with its bits.
//
// Slot pointers are stable until the next insert into the same table (a split may move
// entries) or the slot's deletion.
//
// Thread-safety: requires external synchronization; in the server a DbTable is owned
// by its shard thread and touched only there.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "store/compact_string.h"
#include "store/value.h"

namespace darter::store {

// Per-slot flags.
enum SlotFlags : uint8_t {
  kSlotRawString = 1,  // string was modified in place (APPEND/SETRANGE): OBJECT ENCODING says "raw"
};

struct Slot {
  CompactString key;
  Value value;
  int64_t expire_ms = 0;  // absolute unix ms; 0 = persistent
  uint32_t access = 0;    // LRU clock (seconds) or LFU (minutes << 8 | counter), per maxmemory-policy
  uint8_t flags = 0;
  // One bit per running fork-less snapshot (snapshot.h); padding otherwise. Only
  // DbTable::Insert and the snapshot code touch it.
  uint8_t snap = 0;
};

uint64_t HashKey(std::string_view key);

class DbTable {
 public:
  static constexpr unsigned kHomeBuckets = 64;
  static constexpr unsigned kStashBuckets = 4;
  static constexpr unsigned kBuckets = kHomeBuckets + kStashBuckets;
  static constexpr unsigned kSlotsPerBucket = 12;  // <= 16: `busy` is a uint16_t
  static constexpr unsigned kMaxGlobalDepth = 32;
  // A cursor is (32-bit hash prefix of a segment start) << kCursorBucketBits | bucket.
  static constexpr unsigned kCursorBucketBits = 7;

  DbTable();
  ~DbTable();
  DbTable(const DbTable&) = delete;
  DbTable& operator=(const DbTable&) = delete;

  size_t size() const { return size_; }
  size_t expire_count() const { return expire_count_; }
  // INFO keyspace's avg_ttl: a running estimate of the remaining TTL (ms) of keys with
  // one, from active expiry's samples, smoothed as Redis does; 0 when unknown.
  int64_t avg_ttl_ms() const { return avg_ttl_ms_; }
  void RecordTtlSample(int64_t sample_avg_ms) {
    if (avg_ttl_ms_ == 0) avg_ttl_ms_ = sample_avg_ms;
    avg_ttl_ms_ = (avg_ttl_ms_ / 50) * 49 + sample_avg_ms / 50;
  }
  void ForgetTtlSamples() { avg_ttl_ms_ = 0; }

  Slot* Find(std::string_view key) { return Find(key, HashKey(key)); }
  Slot* Find(std::string_view key, uint64_t hash);
  const Slot* Find(std::string_view key) const { return Find(key, HashKey(key)); }
  const Slot* Find(std::string_view key, uint64_t hash) const {
    return const_cast<DbTable*>(this)->Find(key, hash);  // a lookup changes nothing
  }

  // The mutating members below (and the mutable Find/Traverse/RandomSlot) are for the
  // Shard and the snapshot code only: a slot may change only after every running
  // snapshot has serialized it (snapshot.h), which the Shard's write lookup and its
  // Insert/Erase/SetExpire/Upsert/Delete guarantee. Everything else reaches a DbTable
  // through Shard::db(), which is const.

  // Inserts a new key. REQUIRES: key absent. Returns the new slot (value empty string).
  Slot* Insert(std::string_view key, uint64_t hash);
  Slot* Insert(std::string_view key) { return Insert(key, HashKey(key)); }

  // Removes the slot (it must come from this table).
  void Erase(Slot* slot);
  bool Erase(std::string_view key);

  void SetExpire(Slot* slot, int64_t expire_ms);

  void Clear();

  // Visits the slots of whole buckets starting at `cursor` until at least `min_visits`
  // slots were offered or the table ends. Returns the next cursor (0 at the end).
  uint64_t Traverse(uint64_t cursor, size_t min_visits, const std::function<void(Slot&)>& fn);
  uint64_t Traverse(uint64_t cursor, size_t min_visits, const std::function<void(const Slot&)>& fn) const {
    return const_cast<DbTable*>(this)->Traverse(cursor, min_visits, [&fn](Slot& s) { fn(s); });
  }

  // A uniformly-ish random slot, or nullptr when empty. `rnd` is any random number.
  Slot* RandomSlot(uint64_t rnd);
  const Slot* RandomSlot(uint64_t rnd) const { return const_cast<DbTable*>(this)->RandomSlot(rnd); }

  // Bytes held by the table's structure (segments and directory), not by keys/values.
  size_t table_bytes() const;
  size_t segment_count() const { return segment_count_; }

  void Swap(DbTable& other) noexcept;

  // Snapshot bits stamped on every new slot (the shard's snapshot parity): a key
  // created while a snapshot runs is not part of it.
  void set_snap_stamp(uint8_t bits) { snap_stamp_ = bits; }

 private:
  struct Bucket;
  struct Segment;

  Segment* SegmentFor(uint64_t hash) const;
  size_t DirIndex(uint64_t hash) const;
  void Split(size_t dir_index);
  static bool TryPlace(Segment* seg, uint64_t hash, Slot** out);

  std::vector<Segment*> dir_;
  unsigned global_depth_ = 0;
  size_t size_ = 0;
  size_t expire_count_ = 0;
  int64_t avg_ttl_ms_ = 0;
  size_t segment_count_ = 0;
  uint8_t snap_stamp_ = 0;
};

}  // namespace darter::store
