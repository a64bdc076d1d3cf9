// Small helpers every data family uses: typed lookups that reply WRONGTYPE, and
// creating or removing a key that holds a collection. Shard thread only.
#pragma once

#include <memory>
#include <string_view>

#include "resp/reply_builder.h"
#include "store/command_table.h"
#include "store/errors.h"
#include "store/shard.h"

namespace darter::store {

// Finds `key` for reading. Returns false after replying WRONGTYPE when the key holds
// another type; *slot is nullptr when the key is absent (or logically expired).
inline bool FindTyped(CommandContext& c, std::string_view key, ValueType type, const Slot** slot) {
  *slot = c.shard.FindForRead(c.db, key, c.now_ms);
  if (*slot && (*slot)->value.type() != type) {
    c.reply.Error(errors::kWrongType);
    return false;
  }
  return true;
}

// As FindTyped, for writers (no hit/miss accounting).
inline bool FindTypedForWrite(CommandContext& c, std::string_view key, ValueType type, Slot** slot) {
  *slot = c.shard.FindLive(c.db, key, c.now_ms);
  if (*slot && (*slot)->value.type() != type) {
    c.reply.Error(errors::kWrongType);
    return false;
  }
  return true;
}

// A source key of a command that may store its result (SORT .. STORE, GEORADIUS ..
// STORE, ZUNIONSTORE, ...): the write lookup when it stores (shard.h), so that a replica
// reads what its primary read; the read lookup otherwise.
// Redis 7.0 reads these sources with lookupKeyRead even when storing, so a missing one
// fires keymiss either way.
inline const Slot* FindSource(Shard& shard, unsigned db, std::string_view key, int64_t now_ms, bool stores) {
  if (!stores) return shard.FindForRead(db, key, now_ms);
  const Slot* s = shard.FindLive(db, key, now_ms);
  if (!s) shard.NotifyKeyspaceEvent(kNotifyKeyMiss, "keymiss", db, key);
  return s;
}

// Adds a new key holding `obj` (fires new). REQUIRES: key absent (FindLive returned nullptr).
inline Slot* AddObjectKey(Shard& shard, unsigned db, std::string_view key, std::unique_ptr<Object> obj) {
  Slot* s = shard.InsertNew(db, key);
  s->value.SetObject(std::move(obj));
  s->access = NewAccessStamp();
  return s;
}

// Removes a key whose collection became empty (Redis never keeps empty collections),
// firing del as Redis does; the caller fires the command's own event first.
inline void DeleteSlot(Shard& shard, unsigned db, Slot* slot, std::string_view key) {
  shard.Erase(db, slot);
  shard.NotifyKeyspaceEvent(kNotifyGeneric, "del", db, key);
}

}  // namespace darter::store
