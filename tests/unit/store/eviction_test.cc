#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "store/eviction.h"
#include "store/shard.h"
#include "store/store_config.h"

using namespace darter::store;

namespace {

// Records the DELs an eviction reports.
struct DelRecorder : WriteObserver {
  std::vector<std::string> deleted;
  void OnWrite(Shard&, const AppliedWrite& w) override {
    CHECK(w.args.size() == 2);
    CHECK(w.args[0] == "DEL");
    CHECK_FALSE(w.expired);
    deleted.emplace_back(w.args[1]);
  }
};

struct LockedKeys : EvictionGuard {
  std::set<std::string> keys;
  bool whole = false;
  bool ShardInUse() const override { return whole; }
  bool KeyInUse(unsigned, std::string_view key) const override { return keys.count(std::string(key)) > 0; }
};

void Fill(Shard& shard, const std::string& prefix, int n, int64_t expire_ms = 0) {
  for (int i = 0; i < n; ++i) {
    Slot* s = shard.Upsert(0, prefix + std::to_string(i), Value("v"), 1000);
    if (expire_ms) shard.SetExpire(0, s, expire_ms);
  }
}

struct PolicyScope {
  explicit PolicyScope(EvictionPolicy p) { Set(p); }
  ~PolicyScope() { Set(EvictionPolicy::kNoEviction); }
  static void Set(EvictionPolicy p) {
    GetStoreConfig().eviction_policy.store(static_cast<uint8_t>(p));
    GetStoreConfig().lfu_policy.store(p == EvictionPolicy::kAllKeysLfu || p == EvictionPolicy::kVolatileLfu);
  }
};

}  // namespace

TEST_CASE("policy names parse and print as Redis spells them") {
  for (const char* name : {"noeviction", "allkeys-lru", "volatile-lru", "allkeys-lfu", "volatile-lfu", "allkeys-random",
                           "volatile-random", "volatile-ttl"}) {
    auto p = ParseEvictionPolicy(name);
    REQUIRE(p);
    CHECK(std::string(EvictionPolicyName(*p)) == name);
  }
  CHECK(ParseEvictionPolicy("ALLKEYS-LRU") == EvictionPolicy::kAllKeysLru);
  CHECK_FALSE(ParseEvictionPolicy("most-recent"));
}

TEST_CASE("an eviction removes one key, counts it and reports it as DEL") {
  Shard shard(0, 2);
  DelRecorder rec;
  shard.AddWriteObserver(&rec);
  Fill(shard, "k", 100);
  CHECK(shard.EvictOne(EvictionPolicy::kAllKeysRandom, 1000));
  CHECK(shard.db(0).size() == 99);
  CHECK(shard.stats().evicted_keys == 1);
  REQUIRE(rec.deleted.size() == 1);
  CHECK(shard.db(0).Find(rec.deleted[0]) == nullptr);
  CHECK_FALSE(shard.EvictOne(EvictionPolicy::kNoEviction, 1000));
  shard.RemoveWriteObserver(&rec);
}

TEST_CASE("volatile policies take only keys with a TTL, however sparse, and then stop") {
  for (EvictionPolicy p : {EvictionPolicy::kVolatileLru, EvictionPolicy::kVolatileLfu, EvictionPolicy::kVolatileRandom,
                           EvictionPolicy::kVolatileTtl}) {
    std::string policy = EvictionPolicyName(p);
    CAPTURE(policy);
    PolicyScope scope(p);
    Shard shard(0, 1);
    Fill(shard, "persistent:", 20000);
    Fill(shard, "ttl:", 3, 1'000'000);
    for (int i = 0; i < 3; ++i) CHECK(shard.EvictOne(p, 1000));
    CHECK(shard.db(0).expire_count() == 0);
    CHECK_FALSE(shard.EvictOne(p, 1000));
    CHECK(shard.db(0).size() == 20000);
  }
}

TEST_CASE("allkeys-lru evicts the least recently used of its samples") {
  PolicyScope scope(EvictionPolicy::kAllKeysLru);
  Shard shard(0, 1);
  Fill(shard, "k", 1000);
  // Half the keys are one hour idle; evicting 400 must take (nearly) only those.
  uint32_t old_stamp = LruClock() - 3600;
  for (int i = 0; i < 1000; i += 2) {
    const Slot* s = shard.db(0).Find("k" + std::to_string(i));
    shard.ForChange(0, s)->access = old_stamp;
  }
  for (int i = 0; i < 400; ++i) REQUIRE(shard.EvictOne(EvictionPolicy::kAllKeysLru, 1000));
  int recent_left = 0;
  for (int i = 1; i < 1000; i += 2) recent_left += shard.db(0).Find("k" + std::to_string(i)) != nullptr;
  CHECK(recent_left >= 480);
}

TEST_CASE("volatile-ttl evicts the nearest deadlines first") {
  PolicyScope scope(EvictionPolicy::kVolatileTtl);
  Shard shard(0, 1);
  Fill(shard, "soon", 500, 2'000'000);
  Fill(shard, "late", 500, 9'000'000);
  for (int i = 0; i < 250; ++i) REQUIRE(shard.EvictOne(EvictionPolicy::kVolatileTtl, 1000));
  int late_left = 0;
  for (int i = 0; i < 500; ++i) late_left += shard.db(0).Find("late" + std::to_string(i)) != nullptr;
  CHECK(late_left >= 490);
}

TEST_CASE("keys a transaction holds are never evicted") {
  for (EvictionPolicy p : {EvictionPolicy::kAllKeysRandom, EvictionPolicy::kAllKeysLru}) {
    std::string policy = EvictionPolicyName(p);
    CAPTURE(policy);
    Shard shard(0, 1);
    LockedKeys guard;
    shard.set_eviction_guard(&guard);
    Fill(shard, "k", 200);
    for (int i = 0; i < 200; i += 2) guard.keys.insert("k" + std::to_string(i));
    int evicted = 0;
    while (evicted < 200 && shard.EvictOne(p, 1000)) ++evicted;
    CHECK(evicted == 100);  // every key not held, and only those
    for (const std::string& k : guard.keys) CHECK(shard.db(0).Find(k) != nullptr);
    // A transaction holding the whole shard: nothing goes.
    guard.whole = true;
    size_t left = shard.db(0).size();
    CHECK_FALSE(shard.EvictOne(p, 1000));
    CHECK(shard.db(0).size() == left);
    shard.set_eviction_guard(nullptr);
  }
}
