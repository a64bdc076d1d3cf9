// When to evict: the process's memory against maxmemory, checked on the shards.
//
// used_memory is exact and cheap to read (memory_accounting.h), so each shard decides
// on its own, with no coordination: before a deny-oom command runs on a shard, and on
// the shard's 100 ms tick, a shard that finds the process over maxmemory evicts keys of
// its own (store/eviction.h) until it is back under. Writes land on shards in
// proportion to their keys, so evictions do too; a skewed keyspace (hash tags) is
// handled without a fixed per-shard share that would evict on a full shard while
// another has room. The tick lets a shard that receives no writes give memory back
// when the written shard has nothing evictable (volatile-* without TTL keys there),
// and covers multi-shard transactions, which never evict in the middle.
//
// Counted against the limit: used_memory less mem_not_counted_for_evict (what replicas
// have not yet read, as in Redis, and the shards' journal rings, Darter's replication
// buffer: evicting keys would not free either).
//
// A replica does not evict (its primary's DELs do) unless replica-ignore-maxmemory is
// off. With an evicting policy, a deny-oom command is refused with -OOM only when the
// process is over the limit and no shard found anything to evict at its last try.
#pragma once

#include <atomic>
#include <cstdint>

#include "store/shard.h"

namespace darter::server {

struct EvictionSettings {
  std::atomic<uint64_t> maxmemory{0};
  std::atomic<bool> replica_ignore_maxmemory{true};
  // Replicas' output buffers (their unsent bytes), kept exact by the feeds as their
  // buffers change (ReplicaFeed::Reaccount).
  std::atomic<int64_t> replication_buffers{0};
};
EvictionSettings& GetEvictionSettings();

// Shard `i`'s journal ring bytes, kept current by the journal (it grows with every
// write while replicas are attached, faster than a timer could follow).
std::atomic<int64_t>& JournalBytesOfShard(unsigned i);

// One owner's share of EvictionSettings::replication_buffers (a multi-flow flow's output
// and held journal): Set reports what the owner holds now; the destructor gives it back.
// Thread-compatible: one owner, any thread.
class ReplicationBufferShare {
 public:
  ReplicationBufferShare() = default;
  ReplicationBufferShare(const ReplicationBufferShare&) = delete;
  ReplicationBufferShare& operator=(const ReplicationBufferShare&) = delete;
  ~ReplicationBufferShare() { Set(0); }
  void Set(int64_t bytes) {
    if (bytes == held_) return;
    GetEvictionSettings().replication_buffers.fetch_add(bytes - held_, std::memory_order_relaxed);
    held_ = bytes;
  }

 private:
  int64_t held_ = 0;
};

// mem_not_counted_for_evict: replication buffers and journal rings.
int64_t MemoryNotCountedForEviction();
// used_memory - mem_not_counted_for_evict.
int64_t MemoryCountedForEviction();

// maxmemory is set and the policy evicts: one relaxed load each, for the hot path.
inline bool EvictionArmed() {
  return GetEvictionSettings().maxmemory.load(std::memory_order_relaxed) != 0 &&
         store::CurrentEvictionPolicy() != store::EvictionPolicy::kNoEviction;
}

// On `shard`'s thread, before a deny-oom command runs there (REQUIRES EvictionArmed()).
void EvictBeforeWrite(store::Shard& shard);
// On `shard`'s thread, from its periodic tick.
void EvictOnTick(store::Shard& shard);

// Over maxmemory with nothing evictable: every shard's last try found no candidate
// (or the policy is noeviction). The dispatcher's -OOM test.
bool OverMaxmemoryWithNothingToEvict(unsigned shard_count);

}  // namespace darter::server
