#include <doctest/doctest.h>

#include <string>

#include "store/shard.h"

using namespace darter::store;

TEST_CASE("Hash tags put related keys on one shard") {
  for (unsigned n : {2u, 3u, 8u}) {
    unsigned s = ShardOf("{user1000}.following", n);
    CHECK(ShardOf("{user1000}.followers", n) == s);
    CHECK(s < n);
  }
  CHECK(KeyHashTag("foo{}bar") == "foo{}bar");
  CHECK(KeyHashTag("foo{bar}{zap}") == "bar");
  CHECK(KeyHashTag("{}{x}") == "{}{x}");
  CHECK(KeyHashTag("nobraces") == "nobraces");
}

TEST_CASE("Keys spread over shards") {
  int counts[4] = {};
  for (int i = 0; i < 40000; ++i) counts[ShardOf("key:" + std::to_string(i), 4)]++;
  for (int c : counts) CHECK(c > 9000);
}

TEST_CASE("Lazy expiry: an expired key reads as absent and is deleted on access") {
  Shard shard(0, 2);
  Slot* s = shard.Upsert(0, "k", Value("v"), 1000);
  shard.SetExpire(0, s, 5000);
  CHECK(shard.FindLive(0, "k", 4999) != nullptr);
  CHECK(shard.FindLive(0, "k", 5000) == nullptr);
  CHECK(shard.db(0).size() == 0);
  CHECK(shard.stats().expired_keys == 1);
}

TEST_CASE("On a replica, expired keys read as absent but stay until the primary deletes them") {
  Shard shard(0, 1);
  shard.set_expire_on_access(false);
  Slot* s = shard.Upsert(0, "k", Value("v"), 0);
  shard.SetExpire(0, s, 10);
  CHECK(shard.FindForRead(0, "k", 20) == nullptr);
  CHECK(shard.FindForReadNoTouch(0, "k", 20) == nullptr);
  CHECK(shard.FindLive(0, "k", 20) != nullptr);  // the primary's writes still reach it
  CHECK(shard.db(0).size() == 1);
}

TEST_CASE("Active expiry removes expired keys incrementally and leaves the rest") {
  Shard shard(0, 3);
  for (int i = 0; i < 10000; ++i) {
    Slot* s = shard.Upsert(1, "k" + std::to_string(i), Value("v"), 0);
    if (i % 2) shard.SetExpire(1, s, 100);
  }
  shard.Upsert(2, "persistent", Value("v"), 0);
  size_t deleted = 0;
  for (int round = 0; round < 100 && shard.db(1).expire_count() > 0; ++round)
    deleted += shard.ActiveExpireStep(200, 500);
  CHECK(deleted == 5000);
  CHECK(shard.db(1).size() == 5000);
  CHECK(shard.db(2).size() == 1);
  CHECK(shard.stats().expired_keys == 5000);
}

TEST_CASE("Active expiry keeps INFO's avg_ttl: the smoothed remaining TTL of keys that live on") {
  Shard shard(0, 2);
  CHECK(shard.db(0).avg_ttl_ms() == 0);  // nothing sampled yet
  const int64_t now = 1'000'000;
  for (int i = 0; i < 2000; ++i) {
    Slot* s = shard.Upsert(0, "k" + std::to_string(i), Value("v"), now);
    // Remaining TTLs of 50 s and 150 s, half each: 100 s on average.
    shard.SetExpire(0, s, now + (i % 2 ? 150'000 : 50'000));
  }
  shard.Upsert(1, "persistent", Value("v"), now);
  for (int round = 0; round < 200; ++round) shard.ActiveExpireStep(now, 100);
  CHECK(shard.db(0).avg_ttl_ms() > 90'000);
  CHECK(shard.db(0).avg_ttl_ms() <= 110'000);
  CHECK(shard.db(1).avg_ttl_ms() == 0);  // no key with a TTL there
  // Once no key has a TTL the estimate is dropped, as Redis does.
  for (int i = 0; i < 2000; ++i) shard.SetExpire(0, shard.FindLive(0, "k" + std::to_string(i), now), 0);
  shard.ActiveExpireStep(now, 100);
  CHECK(shard.db(0).avg_ttl_ms() == 0);
}
