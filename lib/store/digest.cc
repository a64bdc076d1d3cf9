#include "store/digest.h"

#include <cstdio>

#include "store/collection_codec.h"
#include "store/shard.h"
#include "store/sha1.h"
#include "store/stream_object.h"

namespace darter::store {

namespace {

void XorDigest(Digest& d, const void* p, size_t n) {
  Sha1 sha;
  sha.Update(p, n);
  Digest h = sha.Final();
  for (int i = 0; i < 20; ++i) d[i] ^= h[i];
}
void XorDigest(Digest& d, std::string_view s) { XorDigest(d, s.data(), s.size()); }

void MixDigest(Digest& d, const void* p, size_t n) {
  XorDigest(d, p, n);
  Sha1 sha;
  sha.Update(d.data(), d.size());
  d = sha.Final();
}
void MixDigest(Digest& d, std::string_view s) { MixDigest(d, s.data(), s.size()); }

void MixBigEndian32(Digest& d, uint32_t v) {
  uint8_t b[4] = {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8),
                  static_cast<uint8_t>(v)};
  MixDigest(d, b, 4);
}

// Redis 7.0 hashes a score as printf("%.17g").
std::string_view ScoreText(double score, char (&buf)[64]) {
  int n = std::snprintf(buf, sizeof buf, "%.17g", score);
  return std::string_view(buf, static_cast<size_t>(n));
}

// Mixes the value (with its type id) into `d`, then the TTL marker.
void ObjectDigest(Digest& d, const Slot& slot) {
  const Value& v = slot.value;
  ValueType type = v.type();
  // Redis's OBJ_* ids: string 0, list 1, set 2, zset 3, hash 4, (module 5), stream 6.
  MixBigEndian32(d, type == ValueType::kStream ? 6u : static_cast<uint32_t>(type));
  switch (type) {
    case ValueType::kString:
      MixDigest(d, v.string_view());
      break;
    case ValueType::kList:
      ListForEach(*v.object(), [&](std::string_view e) { MixDigest(d, e); });
      break;
    case ValueType::kSet:
      SetForEach(*v.object(), [&](std::string_view m) { XorDigest(d, m); });
      break;
    case ValueType::kHash:
      HashForEach(*v.object(), [&](std::string_view f, std::string_view val) {
        Digest e{};
        MixDigest(e, f);
        MixDigest(e, val);
        XorDigest(d, e.data(), e.size());
      });
      break;
    case ValueType::kZset:
      ZsetForEach(*v.object(), [&](std::string_view m, double score) {
        char buf[64];
        Digest e{};
        MixDigest(e, m);
        MixDigest(e, ScoreText(score, buf));
        XorDigest(d, e.data(), e.size());
      });
      break;
    case ValueType::kStream: {
      const auto& s = static_cast<const StreamObject&>(*v.object());
      s.Range(kMinStreamId, kMaxStreamId, false, [&](StreamId id, StreamFields fv) {
        std::string item = std::to_string(id.ms) + "." + std::to_string(id.seq);
        MixDigest(d, item);
        for (std::string_view x : fv) MixDigest(d, x);
        return true;
      });
      break;
    }
  }
  if (slot.expire_ms) XorDigest(d, "!!expire!!", 10);
}

}  // namespace

Digest ValueDigest(const Slot& slot) {
  Digest d{};
  ObjectDigest(d, slot);
  return d;
}

ShardDigest ComputeShardDigest(Shard& shard) {
  ShardDigest out;
  out.per_db.assign(shard.db_count(), Digest{});
  out.non_empty.assign(shard.db_count(), false);
  for (unsigned db = 0; db < shard.db_count(); ++db) {
    const DbTable& t = shard.db(db);
    if (t.size() == 0) continue;
    out.non_empty[db] = true;
    Digest& acc = out.per_db[db];
    t.Traverse(0, SIZE_MAX, [&](const Slot& s) {
      Digest k{};
      MixDigest(k, s.key.view());
      ObjectDigest(k, s);
      XorDigest(acc, k.data(), k.size());  // Redis xors SHA1(key digest) into the total
    });
  }
  return out;
}

Digest CombineShardDigests(const std::vector<ShardDigest>& shards) {
  Digest final{};
  size_t dbs = shards.empty() ? 0 : shards[0].per_db.size();
  for (size_t db = 0; db < dbs; ++db) {
    bool any = false;
    for (auto& s : shards) any = any || s.non_empty[db];
    if (!any) continue;
    MixBigEndian32(final, static_cast<uint32_t>(db));
    for (auto& s : shards)
      for (int i = 0; i < 20; ++i) final[i] ^= s.per_db[db][i];
  }
  return final;
}

std::string DigestHex(const Digest& d) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : d) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

}  // namespace darter::store
