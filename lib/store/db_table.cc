#include "store/db_table.h"

#include <bit>
#include <cassert>
#include <cstring>
#include <new>
#include <random>

#include "store/check.h"

namespace darter::store {

namespace {

// Seeded per process so that an attacker who knows the hash function cannot pick
// keys that all land in one segment. The seed is the same for every thread, so
// every thread maps a key to the same shard.
const uint64_t kHashSeed = [] {
  std::random_device rd;
  return (uint64_t{rd()} << 32) ^ rd();
}();

constexpr uint64_t kMul1 = 0x9E3779B97F4A7C15ull;
constexpr uint64_t kMul2 = 0xC2B2AE3D27D4EB4Full;
constexpr uint64_t kMul3 = 0x165667B19E3779F9ull;

inline uint64_t Load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

inline uint64_t Fold(uint64_t a, uint64_t b) {
  __uint128_t r = static_cast<__uint128_t>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

}  // namespace

uint64_t HashKey(std::string_view key) {
  const char* p = key.data();
  size_t n = key.size();
  uint64_t h = kHashSeed ^ (n * kMul1);
  while (n >= 16) {
    h = Fold(Load64(p) ^ kMul2 ^ h, Load64(p + 8) ^ kMul3);
    p += 16;
    n -= 16;
  }
  uint64_t a = 0, b = 0;
  if (n >= 8) {
    a = Load64(p);
    b = Load64(p + n - 8);
  } else if (n >= 4) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + n - 4, 4);
    a = lo;
    b = hi;
  } else if (n > 0) {
    a = (uint64_t(uint8_t(p[0])) << 16) | (uint64_t(uint8_t(p[n / 2])) << 8) | uint8_t(p[n - 1]);
  }
  h = Fold(a ^ kMul2 ^ h, b ^ kMul3 ^ n);
  return Fold(h ^ kMul1, kMul2 ^ kHashSeed);
}

struct DbTable::Bucket {
  static constexpr uint32_t kFull = (1u << kSlotsPerBucket) - 1;
  uint16_t busy = 0;      // bit i: slot i holds an entry
  uint16_t overflow = 0;  // home buckets only: entries of this home that live in a stash bucket
  uint8_t fp[kSlotsPerBucket] = {};
  alignas(Slot) unsigned char storage[kSlotsPerBucket * sizeof(Slot)];

  Slot* slot(unsigned i) { return std::launder(reinterpret_cast<Slot*>(storage) + i); }
  bool full() const { return busy == kFull; }
  unsigned count() const { return std::popcount(busy); }
  unsigned FreeIndex() const { return std::countr_one(busy); }  // kSlotsPerBucket when full
  bool Contains(const Slot* s) const {
    auto* base = reinterpret_cast<const Slot*>(storage);
    return s >= base && s < base + kSlotsPerBucket;
  }
  unsigned IndexOf(const Slot* s) const { return static_cast<unsigned>(s - reinterpret_cast<const Slot*>(storage)); }
};

struct DbTable::Segment {
  explicit Segment(unsigned depth) : local_depth(depth) {}
  ~Segment() {
    for (auto& b : buckets) {
      for (unsigned i = 0; i < kSlotsPerBucket; ++i)
        if (b.busy & (1u << i)) b.slot(i)->~Slot();
    }
  }
  Bucket buckets[kBuckets];
  unsigned local_depth;
  size_t count = 0;
};

namespace {
inline unsigned HomeBucket(uint64_t hash) { return (hash >> 8) % DbTable::kHomeBuckets; }
inline uint8_t Fingerprint(uint64_t hash) { return static_cast<uint8_t>(hash >> 16); }
}  // namespace

DbTable::DbTable() = default;

DbTable::~DbTable() { Clear(); }

void DbTable::Clear() {
  // A segment appears in the directory once per entry it covers; delete it once.
  for (size_t i = 0; i < dir_.size();) {
    Segment* seg = dir_[i];
    size_t span = size_t{1} << (global_depth_ - seg->local_depth);
    delete seg;
    i += span;
  }
  dir_.clear();
  global_depth_ = 0;
  size_ = 0;
  expire_count_ = 0;
  avg_ttl_ms_ = 0;
  segment_count_ = 0;
}

void DbTable::Swap(DbTable& other) noexcept {
  std::swap(dir_, other.dir_);
  std::swap(global_depth_, other.global_depth_);
  std::swap(size_, other.size_);
  std::swap(expire_count_, other.expire_count_);
  std::swap(segment_count_, other.segment_count_);
}

size_t DbTable::DirIndex(uint64_t hash) const { return global_depth_ == 0 ? 0 : hash >> (64 - global_depth_); }

DbTable::Segment* DbTable::SegmentFor(uint64_t hash) const {
  if (dir_.empty()) return nullptr;
  return dir_[DirIndex(hash)];
}

Slot* DbTable::Find(std::string_view key, uint64_t hash) {
  Segment* seg = SegmentFor(hash);
  if (!seg) return nullptr;
  unsigned home = HomeBucket(hash);
  uint8_t fp = Fingerprint(hash);
  auto probe = [&](Bucket& b) -> Slot* {
    unsigned mask = b.busy;
    while (mask) {
      unsigned i = std::countr_zero(mask);
      mask &= mask - 1;
      if (b.fp[i] == fp) {
        Slot* s = b.slot(i);
        if (s->key.view() == key) return s;
      }
    }
    return nullptr;
  };
  if (Slot* s = probe(seg->buckets[home])) return s;
  if (Slot* s = probe(seg->buckets[(home + 1) % kHomeBuckets])) return s;
  if (seg->buckets[home].overflow) {
    for (unsigned b = kHomeBuckets; b < kBuckets; ++b)
      if (Slot* s = probe(seg->buckets[b])) return s;
  }
  return nullptr;
}

bool DbTable::TryPlace(Segment* seg, uint64_t hash, Slot** out) {
  unsigned home = HomeBucket(hash);
  unsigned next = (home + 1) % kHomeBuckets;
  Bucket* target = nullptr;
  Bucket& a = seg->buckets[home];
  Bucket& b = seg->buckets[next];
  if (!a.full() || !b.full()) target = (a.count() <= b.count()) ? &a : &b;
  bool stashed = false;
  if (!target) {
    for (unsigned i = kHomeBuckets; i < kBuckets; ++i) {
      if (!seg->buckets[i].full()) {
        target = &seg->buckets[i];
        stashed = true;
        break;
      }
    }
  }
  if (!target) return false;
  unsigned idx = target->FreeIndex();
  if (idx >= kSlotsPerBucket) return false;  // unreachable: target is not full
  target->busy |= (1u << idx);
  target->fp[idx] = Fingerprint(hash);
  if (stashed) a.overflow++;
  *out = new (target->slot(idx)) Slot();
  seg->count++;
  return true;
}

Slot* DbTable::Insert(std::string_view key, uint64_t hash) {
  if (dir_.empty()) {
    dir_.push_back(new Segment(0));
    segment_count_ = 1;
  }
  Slot* slot = nullptr;
  while (!TryPlace(SegmentFor(hash), hash, &slot)) Split(DirIndex(hash));
  slot->key.Assign(key);
  slot->snap = snap_stamp_;
  size_++;
  return slot;
}

void DbTable::Split(size_t dir_index) {
  Segment* seg = dir_[dir_index];
  if (seg->local_depth == global_depth_) {
    // Only reachable with > 2^32 segments' worth of colliding prefixes, i.e. never
    // for a real dataset; abort rather than loop.
    DARTER_CHECK(global_depth_ < kMaxGlobalDepth, "keyspace directory at its maximum depth");
    std::vector<Segment*> bigger(dir_.size() * 2);
    for (size_t i = 0; i < dir_.size(); ++i) bigger[2 * i] = bigger[2 * i + 1] = dir_[i];
    dir_.swap(bigger);
    global_depth_++;
    dir_index = dir_index * 2;
  }
  unsigned depth = seg->local_depth;
  size_t span = size_t{1} << (global_depth_ - depth);
  size_t start = dir_index & ~(span - 1);
  auto* sibling = new Segment(depth + 1);
  seg->local_depth = depth + 1;
  segment_count_++;
  for (size_t i = start + span / 2; i < start + span; ++i) dir_[i] = sibling;

  // Entries whose next hash bit is 1 move to the sibling, into the same bucket and
  // slot position: the layout is identical, so placement cannot fail, and home /
  // neighbour / stash membership is preserved.
  const uint64_t bit = uint64_t{1} << (63 - depth);
  for (unsigned b = 0; b < kBuckets; ++b) {
    Bucket& from = seg->buckets[b];
    unsigned mask = from.busy;
    while (mask) {
      unsigned i = std::countr_zero(mask);
      mask &= mask - 1;
      Slot* s = from.slot(i);
      uint64_t h = HashKey(s->key.view());
      if (!(h & bit)) continue;
      Bucket& to = sibling->buckets[b];
      new (to.slot(i)) Slot(std::move(*s));
      s->~Slot();
      to.busy |= (1u << i);
      to.fp[i] = from.fp[i];
      from.busy &= ~(1u << i);
      seg->count--;
      sibling->count++;
      if (b >= kHomeBuckets) {
        unsigned home = HomeBucket(h);
        seg->buckets[home].overflow--;
        sibling->buckets[home].overflow++;
      }
    }
  }
}

void DbTable::Erase(Slot* slot) {
  uint64_t hash = HashKey(slot->key.view());
  Segment* seg = SegmentFor(hash);
  assert(seg);
  for (unsigned b = 0; b < kBuckets; ++b) {
    Bucket& bucket = seg->buckets[b];
    if (!bucket.Contains(slot)) continue;
    unsigned i = bucket.IndexOf(slot);
    if (slot->expire_ms) expire_count_--;
    slot->~Slot();
    bucket.busy &= ~(1u << i);
    if (b >= kHomeBuckets) seg->buckets[HomeBucket(hash)].overflow--;
    seg->count--;
    size_--;
    return;
  }
  assert(false && "slot not in its segment");
}

bool DbTable::Erase(std::string_view key) {
  Slot* s = Find(key);
  if (!s) return false;
  Erase(s);
  return true;
}

void DbTable::SetExpire(Slot* slot, int64_t expire_ms) {
  if (slot->expire_ms && !expire_ms) expire_count_--;
  if (!slot->expire_ms && expire_ms) expire_count_++;
  slot->expire_ms = expire_ms;
}

uint64_t DbTable::Traverse(uint64_t cursor, size_t min_visits, const std::function<void(Slot&)>& fn) {
  if (dir_.empty()) return 0;
  uint64_t prefix = cursor >> kCursorBucketBits;  // 32-bit hash prefix
  unsigned bucket = cursor & ((1u << kCursorBucketBits) - 1);
  if (prefix >> 32) return 0;  // not a cursor we produced
  size_t visited = 0;
  while (true) {
    size_t dir_index = global_depth_ == 0 ? 0 : prefix >> (32 - global_depth_);
    Segment* seg = dir_[dir_index];
    for (; bucket < kBuckets; ++bucket) {
      Bucket& b = seg->buckets[bucket];
      unsigned mask = b.busy;
      while (mask) {
        unsigned i = std::countr_zero(mask);
        mask &= mask - 1;
        fn(*b.slot(i));
        visited++;
      }
      if (visited >= min_visits) {
        ++bucket;
        if (bucket < kBuckets) return (prefix << kCursorBucketBits) | bucket;
        break;
      }
    }
    // Next segment: the first prefix past this segment's range.
    uint64_t seg_span = uint64_t{1} << (32 - seg->local_depth);
    uint64_t next = (prefix & ~(seg_span - 1)) + seg_span;
    if (next >= (uint64_t{1} << 32)) return 0;
    prefix = next;
    bucket = 0;
    if (visited >= min_visits) return prefix << kCursorBucketBits;
  }
}

Slot* DbTable::RandomSlot(uint64_t rnd) {
  if (size_ == 0) return nullptr;
  size_t start_dir = rnd % dir_.size();
  unsigned start_bucket = (rnd >> 32) % kBuckets;
  // Walk segments from a random point; the first busy slot found wins. Not exactly
  // uniform (like Redis's RANDOMKEY, which is not either), but O(1) expected.
  for (size_t d = 0; d <= dir_.size(); ++d) {
    Segment* seg = dir_[(start_dir + d) % dir_.size()];
    if (seg->count == 0) continue;
    for (unsigned k = 0; k < kBuckets; ++k) {
      Bucket& b = seg->buckets[(start_bucket + k) % kBuckets];
      if (b.busy) {
        unsigned pick = (rnd >> 16) % b.count();
        unsigned mask = b.busy;
        for (unsigned j = 0; j < pick; ++j) mask &= mask - 1;
        return b.slot(std::countr_zero(mask));
      }
    }
  }
  return nullptr;
}

size_t DbTable::table_bytes() const { return segment_count_ * sizeof(Segment) + dir_.capacity() * sizeof(Segment*); }

}  // namespace darter::store
