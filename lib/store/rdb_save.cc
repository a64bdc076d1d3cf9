#include "store/rdb_save.h"

#include "store/collection_codec.h"
#include "store/shard.h"
#include "store/store_config.h"
#include "store/stream_codec.h"

// See rdb_load.cc: families not linked yet make their type unsupported, not a link error.
#define DARTER_WEAK __attribute__((weak))
namespace darter::store {
DARTER_WEAK size_t ListLength(const Object&);
DARTER_WEAK void ListForEach(const Object&, const std::function<void(std::string_view)>&);
DARTER_WEAK size_t SetSize(const Object&);
DARTER_WEAK void SetForEach(const Object&, const std::function<void(std::string_view)>&);
DARTER_WEAK size_t HashSize(const Object&);
DARTER_WEAK void HashForEach(const Object&, const std::function<void(std::string_view, std::string_view)>&);
DARTER_WEAK size_t ZsetSize(const Object&);
DARTER_WEAK void ZsetForEach(const Object&, const std::function<void(std::string_view, double)>&);
}  // namespace darter::store

namespace darter::store {

namespace {

// Runs `body`, which may fail at any element; the first failure wins.
template <typename Body>
rdb::Status Collect(Body body) {
  rdb::Status st;
  body([&](rdb::Status s) {
    if (st.ok() && !s.ok()) st = std::move(s);
  });
  return st;
}

rdb::Status Unsupported(std::string_view key, const char* type) {
  return rdb::Status::Error("key '" + std::string(key) + "': saving " + type + " values is not supported by this build");
}

}  // namespace

rdb::Status WriteValue(rdb::Writer& w, const rdb::KeyModifiers& mods, std::string_view key, const Value& v) {
  if (v.is_string()) return w.WriteString(mods, key, v.string_view());
  const Object& obj = *v.object();
  switch (v.type()) {
    case ValueType::kList: {
      if (!ListLength) return Unsupported(key, "list");
      if (auto st = w.BeginList(mods, key, ListLength(obj)); !st.ok()) return st;
      if (auto st = Collect([&](auto fail) { ListForEach(obj, [&](std::string_view e) { fail(w.AppendListElement(e)); }); });
          !st.ok())
        return st;
      return w.EndValue();
    }
    case ValueType::kSet: {
      if (!SetSize) return Unsupported(key, "set");
      if (auto st = w.BeginSet(mods, key, SetSize(obj)); !st.ok()) return st;
      if (auto st = Collect([&](auto fail) { SetForEach(obj, [&](std::string_view m) { fail(w.AppendSetMember(m)); }); });
          !st.ok())
        return st;
      return w.EndValue();
    }
    case ValueType::kHash: {
      if (!HashSize) return Unsupported(key, "hash");
      if (auto st = w.BeginHash(mods, key, HashSize(obj)); !st.ok()) return st;
      if (auto st = Collect([&](auto fail) {
            HashForEach(obj, [&](std::string_view f, std::string_view val) { fail(w.AppendHashField(f, val)); });
          });
          !st.ok())
        return st;
      return w.EndValue();
    }
    case ValueType::kZset: {
      if (!ZsetSize) return Unsupported(key, "zset");
      if (auto st = w.BeginZSet(mods, key, ZsetSize(obj)); !st.ok()) return st;
      if (auto st = Collect([&](auto fail) {
            ZsetForEach(obj, [&](std::string_view m, double score) { fail(w.AppendZSetMember(m, score)); });
          });
          !st.ok())
        return st;
      return w.EndValue();
    }
    case ValueType::kStream:
      return SaveStream(static_cast<const StreamObject&>(obj), w, mods, key);
    case ValueType::kString:
      break;
  }
  return rdb::Status::Error("key '" + std::string(key) + "': unknown value type");
}

rdb::Status WriteSlot(rdb::Writer& writer, const Slot& slot, int64_t now_ms) {
  rdb::KeyModifiers mods;
  if (slot.expire_ms) mods.expire_ms = slot.expire_ms;
  (void)now_ms;
  // As Redis: FREQ under an LFU policy, IDLE under an LRU one, neither otherwise.
  if (GetStoreConfig().lfu_policy.load(std::memory_order_relaxed)) {
    mods.lfu_freq = LfuCounterNow(slot.access);
  } else if (GetStoreConfig().lru_policy.load(std::memory_order_relaxed)) {
    uint32_t now = LruClock();
    mods.lru_idle_s = now >= slot.access ? now - slot.access : 0;
  }
  return WriteValue(writer, mods, slot.key.view(), slot.value);
}

}  // namespace darter::store
