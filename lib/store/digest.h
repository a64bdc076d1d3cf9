// DEBUG DIGEST / DEBUG DIGEST-VALUE with Redis's algorithm, so digests taken on Redis,
// on a Darter primary and on a Darter replica compare directly.
//
// Redis's scheme (debug.c, read for behaviour): xor(d, s) xors SHA1(s) into d (order
// free); mix(d, s) sets d = SHA1(d xor SHA1(s)) (order matters). A key's digest starts
// at zero: mix(key), mix(big-endian 32-bit type id), then the value — strings mixed;
// list elements mixed head to tail; set members xored; hash and zset pairs each make
// an element digest (mix(field) mix(value), or mix(member) mix(score as text)) that is
// xored in; stream entries mixed as "ms.seq" then each field and value — then
// xor("!!expire!!") when the key has a TTL. The dataset digest: for each non-empty
// database in order, mix(final, big-endian db index), then xor(final, key digest) for
// every key (xor hashes its input: the SHA1 of each key digest is xored in).
//
// Shards: the key digests of a database are xored, so each shard computes its part per
// database and CombineShardDigests applies the per-database mixing once, in db order.
//
// Thread-safety: shard thread only for the Shard functions.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/db_table.h"

namespace darter::store {

class Shard;

using Digest = std::array<uint8_t, 20>;

// DIGEST-VALUE of one slot: type, value and TTL marker, without the key.
Digest ValueDigest(const Slot& slot);

struct ShardDigest {
  std::vector<Digest> per_db;     // xor of SHA1(key digest) over each database's keys
  std::vector<bool> non_empty;    // whether the database holds keys on this shard
};
// Includes keys past their deadline that are not deleted yet, as Redis does.
ShardDigest ComputeShardDigest(Shard& shard);
Digest CombineShardDigests(const std::vector<ShardDigest>& shards);

std::string DigestHex(const Digest& d);

}  // namespace darter::store
