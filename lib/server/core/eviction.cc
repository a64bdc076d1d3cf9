#include "server/core/eviction.h"

#include <algorithm>
#include <chrono>

#include "server/core/memory_accounting.h"

namespace darter::server {

namespace {

constexpr unsigned kMaxFlaggedShards = 1024;
// A shard whose last eviction attempt, while over the limit, found no candidate.
std::atomic<bool> g_nothing_to_evict[kMaxFlaggedShards];

// Bounds per call: a command waits for at most this much eviction; the tick finishes
// the rest (Redis bounds its loop by time for the same reason).
constexpr unsigned kMaxKeysBeforeWrite = 64;
constexpr auto kMaxTimeOnTick = std::chrono::milliseconds(2);

bool ShardAllowedToEvict(const store::Shard& shard) {
  // expire_on_access is off exactly on a replica (server.cc).
  return shard.expire_on_access() || !GetEvictionSettings().replica_ignore_maxmemory.load(std::memory_order_relaxed);
}

void Flag(const store::Shard& shard, bool nothing) {
  if (shard.index() >= kMaxFlaggedShards) return;
  std::atomic<bool>& f = g_nothing_to_evict[shard.index()];
  if (f.load(std::memory_order_relaxed) != nothing) f.store(nothing, std::memory_order_relaxed);
}

// Evicts until under the limit; `more` says whether to keep going after each key.
template <typename More>
void EvictWhileOver(store::Shard& shard, More&& more) {
  if (!ShardAllowedToEvict(shard)) return;
  auto limit = static_cast<int64_t>(GetEvictionSettings().maxmemory.load(std::memory_order_relaxed));
  if (limit == 0 || MemoryCountedForEviction() <= limit) {
    Flag(shard, false);
    return;
  }
  store::EvictionPolicy policy = store::CurrentEvictionPolicy();
  int64_t now = store::UnixTimeMs();
  for (unsigned n = 0;; ++n) {
    if (!shard.EvictOne(policy, now)) {
      Flag(shard, true);
      return;
    }
    if (MemoryCountedForEviction() <= limit) break;
    if (!more(n)) break;
  }
  Flag(shard, false);
}

}  // namespace

EvictionSettings& GetEvictionSettings() {
  static EvictionSettings settings;
  return settings;
}

namespace {
struct alignas(64) JournalBytes {
  std::atomic<int64_t> bytes{0};
};
JournalBytes g_journal_bytes[kMaxFlaggedShards];
std::atomic<unsigned> g_journal_shards{0};  // 1 + the highest index handed out
}  // namespace

std::atomic<int64_t>& JournalBytesOfShard(unsigned i) {
  i = std::min(i, kMaxFlaggedShards - 1);
  unsigned seen = g_journal_shards.load(std::memory_order_relaxed);
  while (seen < i + 1 && !g_journal_shards.compare_exchange_weak(seen, i + 1)) {
  }
  return g_journal_bytes[i].bytes;
}

int64_t MemoryNotCountedForEviction() {
  int64_t n = GetEvictionSettings().replication_buffers.load(std::memory_order_relaxed);
  unsigned shards = g_journal_shards.load(std::memory_order_relaxed);
  for (unsigned i = 0; i < shards; ++i) n += g_journal_bytes[i].bytes.load(std::memory_order_relaxed);
  return n;
}

int64_t MemoryCountedForEviction() { return memory::AllocatedBytes() - MemoryNotCountedForEviction(); }

void EvictBeforeWrite(store::Shard& shard) {
  EvictWhileOver(shard, [](unsigned n) { return n + 1 < kMaxKeysBeforeWrite; });
}

void EvictOnTick(store::Shard& shard) {
  if (!EvictionArmed()) {
    Flag(shard, false);
    return;
  }
  auto start = std::chrono::steady_clock::now();
  EvictWhileOver(shard, [start](unsigned n) {
    return (n & 15) != 15 || std::chrono::steady_clock::now() - start < kMaxTimeOnTick;
  });
}

bool OverMaxmemoryWithNothingToEvict(unsigned shard_count) {
  auto limit = static_cast<int64_t>(GetEvictionSettings().maxmemory.load(std::memory_order_relaxed));
  if (limit == 0 || MemoryCountedForEviction() <= limit) return false;
  if (store::CurrentEvictionPolicy() == store::EvictionPolicy::kNoEviction) return true;
  for (unsigned i = 0; i < shard_count && i < kMaxFlaggedShards; ++i)
    if (!g_nothing_to_evict[i].load(std::memory_order_relaxed)) return false;
  return true;
}

}  // namespace darter::server
