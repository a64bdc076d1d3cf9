// Key eviction: which key of a shard goes when memory is over maxmemory.
//
// The choice follows Redis 6.2's evict.c: for the LRU, LFU and TTL policies each call
// samples `maxmemory-samples` keys of every database (keys with a TTL only, for the
// volatile ones) into a pool of the 16 best candidates seen so far, kept across calls,
// and evicts the best one that still exists; the random policies pick a random key
// (with a TTL, for volatile-random), visiting the databases in turn. Scores:
//   LRU  idle seconds from the access stamp (Slot::access, store/shard.h),
//   LFU  255 - the decayed logarithmic counter,
//   TTL  the sooner the deadline, the higher.
//
// Deciding *when* to evict (the memory gauge against maxmemory) is the server's; this
// is the shard-local part, and runs on the shard's thread like everything else here.
// A key the guard says is in use (locked by a running transaction) is never chosen, so
// eviction is invisible to transactions and scripts, as in Redis, which never evicts
// in the middle of one.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace darter::store {

class Shard;

enum class EvictionPolicy : uint8_t {
  kNoEviction = 0,
  kAllKeysLru,
  kVolatileLru,
  kAllKeysLfu,
  kVolatileLfu,
  kAllKeysRandom,
  kVolatileRandom,
  kVolatileTtl,
};

// Redis's names ("allkeys-lru", ...), case-insensitive.
std::optional<EvictionPolicy> ParseEvictionPolicy(std::string_view name);
const char* EvictionPolicyName(EvictionPolicy p);
// The policy CONFIG SET last stored (store_config.h).
EvictionPolicy CurrentEvictionPolicy();

// Keys that must not be evicted right now.
class EvictionGuard {
 public:
  virtual ~EvictionGuard() = default;
  // Nothing of this shard may go (a transaction holds the whole shard).
  virtual bool ShardInUse() const = 0;
  virtual bool KeyInUse(unsigned db, std::string_view key) const = 0;
};

// One shard's eviction state: the candidate pool and the random policies' database
// cursor. Owned by the Shard.
class Evictor {
 public:
  static constexpr unsigned kPoolSize = 16;

  // Evicts one key of `shard` chosen by `policy` (not kNoEviction), as a DEL reported
  // to the shard's write observers (journal, WATCH, tracking) and counted in
  // evicted_keys. False when no key qualifies.
  bool EvictOne(Shard& shard, EvictionPolicy policy, int64_t now_ms);

  // Forgets every candidate (a policy change makes old scores meaningless).
  void Reset() { pool_size_ = 0; }

 private:
  struct Candidate {
    uint64_t score = 0;
    unsigned db = 0;
    std::string key;
  };
  void Populate(const Shard& shard, EvictionPolicy policy, unsigned samples, int64_t now_ms);
  void Offer(uint64_t score, unsigned db, std::string_view key);
  // Moves the best candidate out into *out (swapping buffers); false when empty.
  bool TakeBest(Candidate* out);
  bool EvictFromPool(Shard& shard, EvictionPolicy policy, int64_t now_ms);
  bool EvictRandom(Shard& shard, bool volatile_only, int64_t now_ms);
  // The fallback when sampling keeps finding keys in use: the first qualifying key not
  // in use, by a walk of the whole table. False means there truly is none, which is
  // what lets the server answer -OOM.
  bool EvictAnyByWalk(Shard& shard, bool volatile_only);
  uint64_t NextRandom();

  std::array<Candidate, kPoolSize> pool_;  // [0, pool_size_) in use, in no order
  unsigned pool_size_ = 0;
  Candidate taken_;  // the candidate being tried (its buffer is reused)
  unsigned next_db_ = 0;
  std::vector<uint64_t> volatile_cursor_;  // per database: where the TTL-key walk stopped
  uint64_t rng_state_ = 0x9E3779B97F4A7C15ull;
};

}  // namespace darter::store
