#include "store/shard.h"

#include <chrono>
#include <cstring>
#include <ctime>
#include <random>

#include "store/store_config.h"

namespace darter::store {

std::string_view KeyHashTag(std::string_view key) {
  size_t open = key.find('{');
  if (open == std::string_view::npos) return key;
  size_t close = key.find('}', open + 1);
  if (close == std::string_view::npos || close == open + 1) return key;
  return key.substr(open + 1, close - open - 1);
}

unsigned ShardOf(std::string_view key, unsigned shard_count) {
  if (shard_count == 1) return 0;
  // The table uses the hash's top bits and bits 8..23; take the shard from a multiply
  // of the whole hash so shards and table positions stay independent.
  uint64_t h = HashKey(KeyHashTag(key));
  return static_cast<unsigned>((static_cast<__uint128_t>(h * 0x9E3779B97F4A7C15ull) * shard_count) >> 64);
}

int64_t UnixTimeMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

uint32_t LruClock() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return static_cast<uint32_t>(ts.tv_sec);
}

namespace {
constexpr uint8_t kLfuInitValue = 5;

uint32_t LfuMinutes() { return (LruClock() / 60) & 0xFFFF; }

uint8_t LfuDecayed(uint32_t access) {
  uint32_t last = access >> 8, now = LfuMinutes();
  uint32_t elapsed = now >= last ? now - last : 0xFFFF - last + now;
  int64_t decay = GetStoreConfig().lfu_decay_time.load(std::memory_order_relaxed);
  uint32_t periods = decay > 0 ? static_cast<uint32_t>(elapsed / decay) : 0;
  uint32_t counter = access & 0xFF;
  return static_cast<uint8_t>(periods > counter ? 0 : counter - periods);
}
}  // namespace

uint32_t NewAccessStamp() {
  if (GetStoreConfig().lfu_policy.load(std::memory_order_relaxed)) return (LfuMinutes() << 8) | kLfuInitValue;
  return LruClock();
}

void TouchAccess(uint32_t* access) {
  if (!GetStoreConfig().lfu_policy.load(std::memory_order_relaxed)) {
    *access = LruClock();
    return;
  }
  uint32_t counter = LfuDecayed(*access);
  if (counter < 255) {
    thread_local std::mt19937 rng{std::random_device{}()};
    double r = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    double base = counter > kLfuInitValue ? counter - kLfuInitValue : 0;
    double factor = static_cast<double>(GetStoreConfig().lfu_log_factor.load(std::memory_order_relaxed));
    if (r < 1.0 / (base * factor + 1)) counter++;
  }
  *access = (LfuMinutes() << 8) | counter;
}

uint8_t LfuCounterNow(uint32_t access) { return LfuDecayed(access); }

Shard::Shard(unsigned index, unsigned db_count) : index_(index) {
  dbs_.reserve(db_count);
  for (unsigned i = 0; i < db_count; ++i) dbs_.push_back(std::make_unique<DbTable>());
}

void Shard::ExpireSlot(unsigned db, Slot* slot) {
  if (snapshot_count_ != 0) [[unlikely]]
    SnapshotBeforeChange(db, *slot);
  stats_.expired_keys++;
  RemoveAndReport(db, slot, /*expired=*/true);
}

void Shard::EvictKey(unsigned db, const Slot* slot) {
  Slot* s = ForChange(db, slot);
  stats_.evicted_keys++;
  RemoveAndReport(db, s, /*expired=*/false);
}

void Shard::RemoveAndReport(unsigned db, Slot* slot, bool expired) {
  // Expiry fires expired, eviction evicted (Redis's NOTIFY_EXPIRED / NOTIFY_EVICTED).
  uint32_t cls = expired ? kNotifyExpired : kNotifyEvicted;
  bool notify = keyspace_event_flags.load(std::memory_order_relaxed) & cls;
  if (observers_.empty() && !notify) {
    dbs_[db]->Erase(slot);
    return;
  }
  // The key's bytes go with the slot: keep a copy for the report (on the stack when short,
  // as most are: eviction runs before writes at the limit).
  char short_key[64];
  std::string long_key;
  std::string_view key = slot->key.view();
  if (key.size() <= sizeof short_key) {
    std::memcpy(short_key, key.data(), key.size());
    key = {short_key, key.size()};
  } else {
    long_key.assign(key);
    key = long_key;
  }
  dbs_[db]->Erase(slot);
  NotifyKeyspaceEvent(cls, expired ? "expired" : "evicted", db, key);
  if (observers_.empty()) return;
  std::string_view argv[2] = {"DEL", key};
  Effects effects;
  effects.MarkDirty();
  AppliedWrite write{db, ArgList(argv), effects, std::span<const std::string_view>(&argv[1], 1)};
  write.expired = expired;
  NotifyWrite(write);
}

Slot* Shard::Lookup(unsigned db, std::string_view key, int64_t now_ms) {
  DbTable& t = *dbs_[db];
  if (t.size() == 0) return nullptr;
  Slot* s = t.Find(key);
  if (!s) return nullptr;
  if (s->expire_ms && s->expire_ms <= now_ms && expire_on_access_) {
    ExpireSlot(db, s);
    return nullptr;
  }
  return s;
}

Slot* Shard::ReadLookup(unsigned db, std::string_view key, int64_t now_ms, bool notify_miss) {
  Slot* s = Lookup(db, key, now_ms);
  if (s && s->expire_ms && s->expire_ms <= now_ms) s = nullptr;  // a replica's expired key
  if (s) {
    stats_.keyspace_hits++;
  } else {
    stats_.keyspace_misses++;
    if (notify_miss) NotifyKeyspaceEvent(kNotifyKeyMiss, "keymiss", db, key);
  }
  return s;
}

const Slot* Shard::FindForRead(unsigned db, std::string_view key, int64_t now_ms) {
  Slot* s = ReadLookup(db, key, now_ms);
  // The access stamp is bookkeeping, not content: no snapshot hook.
  if (s) TouchAccess(&s->access);
  return s;
}

Slot* Shard::Upsert(unsigned db, std::string_view key, Value value, int64_t now_ms) {
  DbTable& t = *dbs_[db];
  uint64_t h = HashKey(key);
  Slot* s = t.Find(key, h);
  if (!s) {
    s = t.Insert(key, h);
    NotifyKeyspaceEvent(kNotifyNew, "new", db, key);
  } else if (snapshot_count_ != 0) [[unlikely]]
    SnapshotBeforeChange(db, *s);
  (void)now_ms;
  s->value = std::move(value);
  s->flags = 0;
  s->access = NewAccessStamp();
  t.SetExpire(s, 0);
  return s;
}

bool Shard::Delete(unsigned db, std::string_view key, int64_t now_ms) {
  // On a replica the write lookup returns an expired key: the primary's DEL removes it.
  Slot* s = Lookup(db, key, now_ms);
  if (!s) return false;
  Erase(db, s);
  return true;
}

size_t Shard::ActiveExpireStep(int64_t now_ms, size_t budget) {
  if (!expire_on_access_) return 0;  // a replica's primary does the expiring
  size_t deleted = 0;
  size_t visited = 0;
  for (unsigned tried = 0; tried < dbs_.size() && visited < budget; ++tried) {
    DbTable& t = *dbs_[expire_db_];
    if (t.expire_count() == 0) {
      t.ForgetTtlSamples();
      expire_db_ = (expire_db_ + 1) % dbs_.size();
      expire_cursor_ = 0;
      continue;
    }
    // Collect first, erase after: erasing while the table is being walked is safe for
    // this table (no entry moves on erase), but keeping the walk read-only is simpler to
    // reason about.
    std::vector<Slot*> expired;
    int64_t ttl_sum = 0, ttl_samples = 0;  // of keys that keep living (INFO's avg_ttl)
    expire_cursor_ = t.Traverse(expire_cursor_, budget - visited, [&](Slot& s) {
      visited++;
      if (!s.expire_ms) return;
      if (s.expire_ms <= now_ms) {
        expired.push_back(&s);
      } else {
        ttl_sum += s.expire_ms - now_ms;
        ttl_samples++;
      }
    });
    if (ttl_samples) t.RecordTtlSample(ttl_sum / ttl_samples);
    for (Slot* s : expired) ExpireSlot(expire_db_, s);
    deleted += expired.size();
    if (expire_cursor_ == 0) expire_db_ = (expire_db_ + 1) % dbs_.size();
  }
  return deleted;
}

size_t Shard::TotalKeys() const {
  size_t n = 0;
  for (auto& d : dbs_) n += d->size();
  return n;
}

size_t Shard::MemoryUsage() const {
  size_t n = 0;
  for (auto& d : dbs_) n += d->table_bytes();
  return n;
}

}  // namespace darter::store
