#include "store/eviction.h"

#include <algorithm>
#include <limits>

#include "store/shard.h"
#include "store/store_config.h"
#include "store/string_util.h"

namespace darter::store {

namespace {

constexpr struct {
  EvictionPolicy policy;
  const char* name;
} kPolicyNames[] = {
    {EvictionPolicy::kVolatileLru, "volatile-lru"},       {EvictionPolicy::kVolatileLfu, "volatile-lfu"},
    {EvictionPolicy::kVolatileRandom, "volatile-random"}, {EvictionPolicy::kVolatileTtl, "volatile-ttl"},
    {EvictionPolicy::kAllKeysLru, "allkeys-lru"},         {EvictionPolicy::kAllKeysLfu, "allkeys-lfu"},
    {EvictionPolicy::kAllKeysRandom, "allkeys-random"},   {EvictionPolicy::kNoEviction, "noeviction"},
};

bool VolatileOnly(EvictionPolicy p) {
  return p == EvictionPolicy::kVolatileLru || p == EvictionPolicy::kVolatileLfu ||
         p == EvictionPolicy::kVolatileRandom || p == EvictionPolicy::kVolatileTtl;
}

// Higher is a better victim. `lru_now`: the LRU clock, read once per sampling round.
uint64_t Score(EvictionPolicy p, const Slot& s, uint32_t lru_now) {
  switch (p) {
    case EvictionPolicy::kAllKeysLru:
    case EvictionPolicy::kVolatileLru:
      return lru_now >= s.access ? lru_now - s.access : 0;
    case EvictionPolicy::kAllKeysLfu:
    case EvictionPolicy::kVolatileLfu:
      return 255 - LfuCounterNow(s.access);
    case EvictionPolicy::kVolatileTtl:
      return std::numeric_limits<uint64_t>::max() - static_cast<uint64_t>(s.expire_ms);
    default:
      return 0;
  }
}

// A random table cursor (db_table.h's format: 32-bit hash prefix, bucket).
uint64_t RandomCursor(uint64_t rnd) {
  return ((rnd >> 32) << DbTable::kCursorBucketBits) | (rnd % DbTable::kBuckets);
}

// Visits whole buckets from `*cursor` on until `want` slots were taken or `max_visits`
// slots were seen, wrapping around at the end; leaves `*cursor` where it stopped. Of a
// bucket's qualifying slots it takes a run starting at a random position (`rnd`), not
// the first ones: a bucket's first positions are refilled first, so they would favour
// recently inserted keys; and not all of them, since each candidate costs a read of its
// key.
template <typename Fn>
void SampleSlots(const DbTable& t, uint64_t* cursor, size_t want, size_t max_visits, bool volatile_only, uint64_t rnd,
                 Fn&& take) {
  size_t taken = 0, visited = 0;
  std::array<const Slot*, 2 * DbTable::kSlotsPerBucket> found;
  while (taken < want && visited < max_visits) {
    size_t n = 0;
    *cursor = t.Traverse(*cursor, 1, [&](const Slot& s) {
      visited++;
      if ((volatile_only && s.expire_ms == 0) || n == found.size()) return;
      found[n++] = &s;
    });
    if (n == 0) continue;
    size_t first = rnd % n, count = std::min(n, want - taken);
    rnd = rnd * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < count; ++i) take(*found[(first + i) % n]);
    taken += count;
  }
}

}  // namespace

std::optional<EvictionPolicy> ParseEvictionPolicy(std::string_view name) {
  for (const auto& p : kPolicyNames)
    if (EqualsIgnoreCase(name, p.name)) return p.policy;
  return std::nullopt;
}

const char* EvictionPolicyName(EvictionPolicy p) {
  for (const auto& e : kPolicyNames)
    if (e.policy == p) return e.name;
  return "noeviction";
}

EvictionPolicy CurrentEvictionPolicy() {
  return static_cast<EvictionPolicy>(GetStoreConfig().eviction_policy.load(std::memory_order_relaxed));
}

uint64_t Evictor::NextRandom() {
  // splitmix64: cheap, and good enough to pick sampling points.
  uint64_t z = (rng_state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void Evictor::Offer(uint64_t score, unsigned db, std::string_view key) {
  // Unordered: with 16 entries a scan is cheaper than keeping them sorted, and no key
  // string moves (each entry's buffer is reused, as Redis's pool reuses its cached sds).
  unsigned k = pool_size_;
  if (pool_size_ == kPoolSize) {
    k = 0;
    for (unsigned i = 1; i < kPoolSize; ++i)
      if (pool_[i].score < pool_[k].score) k = i;
    if (pool_[k].score >= score) return;  // worse than every candidate held
  } else {
    pool_size_++;
  }
  pool_[k].score = score;
  pool_[k].db = db;
  pool_[k].key.assign(key);
}

bool Evictor::TakeBest(Candidate* out) {
  if (pool_size_ == 0) return false;
  unsigned best = 0;
  for (unsigned i = 1; i < pool_size_; ++i)
    if (pool_[i].score > pool_[best].score) best = i;
  std::swap(*out, pool_[best]);
  // Keep the entries packed: the last one fills the hole (its buffer moves, not copied).
  if (best != pool_size_ - 1) std::swap(pool_[best], pool_[pool_size_ - 1]);
  pool_size_--;
  return true;
}

void Evictor::Populate(const Shard& shard, EvictionPolicy policy, unsigned samples, int64_t now_ms) {
  (void)now_ms;
  bool volatile_only = VolatileOnly(policy);
  uint32_t lru_now = LruClock();
  for (unsigned db = 0; db < shard.db_count(); ++db) {
    const DbTable& t = shard.db(db);
    size_t eligible = volatile_only ? t.expire_count() : t.size();
    if (eligible == 0) continue;
    auto offer = [&](const Slot& s) { Offer(Score(policy, s, lru_now), db, s.key.view()); };
    // Runs of a bucket from a random point (a cache-friendly run rather than a miss per
    // sample, like Redis's dictGetSomeKeys); keys with a TTL: Redis samples its
    // expires dict; without one, the walk goes on from where the last one stopped, as far
    // as it takes (a whole pass at most), so a TTL key is found however sparse they are:
    // -OOM must not be answered while one exists.
    if (!volatile_only) {
      uint64_t cursor = RandomCursor(NextRandom());
      SampleSlots(t, &cursor, samples, samples * 4 + 64, false, NextRandom(), offer);
      continue;
    }
    if (volatile_cursor_.size() < shard.db_count()) volatile_cursor_.resize(shard.db_count(), 0);
    SampleSlots(t, &volatile_cursor_[db], samples, t.size() + DbTable::kSlotsPerBucket, true, NextRandom(), offer);
  }
}

bool Evictor::EvictFromPool(Shard& shard, EvictionPolicy policy, int64_t now_ms) {
  const EvictionGuard* guard = shard.eviction_guard();
  bool volatile_only = VolatileOnly(policy);
  auto samples = static_cast<unsigned>(
      std::clamp<int64_t>(GetStoreConfig().maxmemory_samples.load(std::memory_order_relaxed), 1, 64));
  // A few rounds: pool entries can be stale (the key was deleted or rewritten since it
  // was sampled) or in use; fresh samples replace them.
  for (int round = 0; round < 8; ++round) {
    Populate(shard, policy, samples, now_ms);
    if (pool_size_ == 0) return false;
    while (TakeBest(&taken_)) {
      const Candidate& c = taken_;
      if (c.db >= shard.db_count()) continue;
      const Slot* s = shard.db(c.db).Find(c.key);
      if (!s || (volatile_only && s->expire_ms == 0)) continue;
      if (guard && guard->KeyInUse(c.db, c.key)) continue;
      shard.EvictKey(c.db, s);
      return true;
    }
  }
  return EvictAnyByWalk(shard, volatile_only);
}

bool Evictor::EvictAnyByWalk(Shard& shard, bool volatile_only) {
  const EvictionGuard* guard = shard.eviction_guard();
  for (unsigned db = 0; db < shard.db_count(); ++db) {
    const DbTable& t = shard.db(db);
    if ((volatile_only ? t.expire_count() : t.size()) == 0) continue;
    std::string victim;
    uint64_t cursor = 0;
    do {
      cursor = t.Traverse(cursor, 64, [&](const Slot& s) {
        if (!victim.empty() || (volatile_only && s.expire_ms == 0)) return;
        if (guard && guard->KeyInUse(db, s.key.view())) return;
        victim.assign(s.key.view());
      });
    } while (victim.empty() && cursor != 0);
    if (victim.empty()) continue;
    shard.EvictKey(db, t.Find(victim));
    return true;
  }
  return false;
}

bool Evictor::EvictRandom(Shard& shard, bool volatile_only, int64_t now_ms) {
  (void)now_ms;
  const EvictionGuard* guard = shard.eviction_guard();
  unsigned n = shard.db_count();
  for (unsigned tries = 0; tries < n; ++tries) {
    unsigned db = next_db_++ % n;
    const DbTable& t = shard.db(db);
    if ((volatile_only ? t.expire_count() : t.size()) == 0) continue;
    for (int attempt = 0; attempt < 8; ++attempt) {
      const Slot* pick = nullptr;
      if (volatile_only) {
        // A random start, then as far as it takes (see Populate).
        uint64_t cursor = RandomCursor(NextRandom());
        SampleSlots(t, &cursor, 1, t.size() + DbTable::kSlotsPerBucket, true, NextRandom(),
                    [&](const Slot& s) { pick = &s; });
      } else {
        pick = t.RandomSlot(NextRandom());
      }
      if (!pick) break;
      if (guard && guard->KeyInUse(db, pick->key.view())) continue;
      shard.EvictKey(db, pick);
      return true;
    }
  }
  return EvictAnyByWalk(shard, volatile_only);
}

bool Evictor::EvictOne(Shard& shard, EvictionPolicy policy, int64_t now_ms) {
  const EvictionGuard* guard = shard.eviction_guard();
  if (guard && guard->ShardInUse()) return false;
  switch (policy) {
    case EvictionPolicy::kNoEviction:
      return false;
    case EvictionPolicy::kAllKeysRandom:
      return EvictRandom(shard, false, now_ms);
    case EvictionPolicy::kVolatileRandom:
      return EvictRandom(shard, true, now_ms);
    default:
      return EvictFromPool(shard, policy, now_ms);
  }
}

}  // namespace darter::store
