// HashObject: the hash type's storage.
//
// Two encodings, as Redis 7.0 reports them:
//  * "listpack": an EntryPack (list_object.h) of field, value, field, value, ... in
//    insertion order, while the hash has at most hash-max-listpack-entries fields and
//    every field and value is at most hash-max-listpack-value bytes;
//  * "hashtable": a FieldTable. A hash never converts back (as in Redis), except when
//    RDB loading settles the encoding (OnLoaded).
//
// FieldTable is a compact dictionary (after CPython's compact dict): entries are
// {CompactString field, CompactString value} (32 bytes, strings up to 15 bytes inline)
// in one dense array, and an open-addressing index of u32 (0 empty, 1 deleted,
// i + 2 = entry i) with linear probing, load <= 3/4. Deleting moves the last entry
// into the hole, so the dense array has no gaps and a random field is one random
// index. SCAN walks the index's home buckets with Redis's reverse-binary cursor: an
// entry never moves in the index except on a rehash, and the entries whose home is
// bucket b lie between b and the next empty slot, so every field present for a whole
// scan is returned at least once however the table grows or shrinks meanwhile.
//
// Thread-safety: none. Owned by one shard's table (or a message between shards).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>
#include <string_view>
#include <utility>

#include "store/compact_string.h"
#include "store/list_object.h"
#include "store/value.h"

namespace darter::store {

class FieldTable {
 public:
  struct Entry {
    CompactString field;
    CompactString value;
  };

  explicit FieldTable(size_t expected = 0);
  FieldTable(const FieldTable& o);
  FieldTable& operator=(const FieldTable&) = delete;
  ~FieldTable();

  size_t size() const { return size_; }
  Entry* Find(std::string_view field);
  // Inserts or overwrites. Returns true when the field is new.
  bool Set(std::string_view field, std::string_view value);
  bool Erase(std::string_view field);
  // Dense access, 0 <= i < size().
  const Entry& at(size_t i) const { return entries_[i]; }
  // Visits the entries whose home bucket is `cursor`'s; returns the next cursor (0 at
  // the end of the scan).
  uint64_t Scan(uint64_t cursor, const std::function<void(const Entry&)>& fn) const;
  size_t MallocUsed() const;
  // The entries' heap bytes estimated from `samples` entries spread over the table.
  size_t MallocUsedSampled(size_t samples) const;

 private:
  static constexpr uint32_t kEmpty = 0;
  static constexpr uint32_t kDeleted = 1;

  size_t FindSlot(std::string_view field, uint64_t hash) const;  // index slot or SIZE_MAX
  void Rehash(size_t index_cap);
  void ReserveEntries(size_t n);
  size_t mask() const { return index_cap_ - 1; }

  Entry* entries_ = nullptr;
  uint32_t* index_ = nullptr;
  size_t size_ = 0;
  size_t entries_cap_ = 0;
  size_t index_cap_ = 0;  // power of two
  size_t used_ = 0;       // non-empty index slots (live + deleted)
};

class HashObject : public Object {
 public:
  HashObject() = default;
  HashObject(const HashObject& o);

  ValueType type() const override { return ValueType::kHash; }
  size_t MallocUsed() const override;
  size_t MallocUsedSampled(size_t samples) const override;
  std::string_view EncodingName() const override { return table_ ? "hashtable" : "listpack"; }
  std::unique_ptr<Object> Clone() const override { return std::make_unique<HashObject>(*this); }
  void OnLoaded() override;

  size_t size() const { return table_ ? table_->size() : pack_.count() / 2; }
  bool is_table() const { return table_ != nullptr; }

  // The value, valid until the next change.
  std::optional<std::string_view> Get(std::string_view field) const;
  // Inserts or overwrites, converting to a hash table when the thresholds say so.
  // Returns true when the field is new.
  bool Set(std::string_view field, std::string_view value);
  // HSET's field, value, field, value, ...: as Set on each pair in turn, but a
  // listpack grows once for all the new fields. Returns how many fields were new.
  size_t SetPairs(std::span<const std::string_view> pairs);
  bool Delete(std::string_view field);
  // Insertion order for a listpack; table order otherwise.
  void ForEach(const std::function<void(std::string_view, std::string_view)>& fn) const;
  // Every field and value, in ForEach order.
  std::vector<std::pair<std::string_view, std::string_view>> Entries() const;
  // The i-th field and value in ForEach order (O(1) for a hash table, a walk for a
  // listpack). REQUIRES: i < size().
  std::pair<std::string_view, std::string_view> EntryAt(size_t i) const;
  // HSCAN step: a listpack answers everything at once (cursor 0).
  uint64_t Scan(uint64_t cursor, size_t count,
                const std::function<void(std::string_view, std::string_view)>& fn) const;

  void ConvertToTable();

 private:
  EntryPack pack_;
  std::unique_ptr<FieldTable> table_;
};

}  // namespace darter::store
