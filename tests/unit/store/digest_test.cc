// DEBUG DIGEST's algorithm: SHA-1 vectors, and shards combining to the single-shard result.
#include <doctest/doctest.h>

#include <string>

#include "store/digest.h"
#include "store/sha1.h"
#include "store/shard.h"

using namespace darter::store;

TEST_CASE("SHA-1 test vectors") {
  Sha1 s;
  CHECK(DigestHex(s.Final()) == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  s.Update("abc");
  CHECK(DigestHex(s.Final()) == "a9993e364706816aba3e25717850c26c9cd0d89d");
  s.Update("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq");
  CHECK(DigestHex(s.Final()) == "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  std::string million(1000000, 'a');
  for (size_t i = 0; i < million.size(); i += 777) s.Update(std::string_view(million).substr(i, 777));
  CHECK(DigestHex(s.Final()) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST_CASE("The digest of keys spread over shards equals the digest of one shard holding them all") {
  const unsigned n = 3;
  Shard one(0, 4);
  std::vector<std::unique_ptr<Shard>> many;
  for (unsigned i = 0; i < n; ++i) many.push_back(std::make_unique<Shard>(i, 4));
  for (int i = 0; i < 500; ++i) {
    std::string key = "k" + std::to_string(i);
    unsigned db = i % 3 == 0 ? 2 : 0;
    Slot* a = one.Upsert(db, key, Value("v" + std::to_string(i)), 0);
    Slot* b = many[ShardOf(key, n)]->Upsert(db, key, Value("v" + std::to_string(i)), 0);
    if (i % 7 == 0) {
      one.SetExpire(db, a, 1ll << 50);
      many[ShardOf(key, n)]->SetExpire(db, b, 1ll << 50);
    }
  }
  std::vector<ShardDigest> parts;
  for (auto& s : many) parts.push_back(ComputeShardDigest(*s));
  Digest combined = CombineShardDigests(parts);
  Digest single = CombineShardDigests({ComputeShardDigest(one)});
  CHECK(DigestHex(combined) == DigestHex(single));
  CHECK(DigestHex(single) != std::string(40, '0'));
  CHECK(DigestHex(CombineShardDigests({ComputeShardDigest(*std::make_unique<Shard>(0, 4))})) == std::string(40, '0'));
}
