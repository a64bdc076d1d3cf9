// SetObject: the value of a Redis set key, in one of Redis 7.0's two encodings.
//
//  * "intset": while every member is an integer (Redis's string2ll rules) and the
//    count is at most set-max-intset-entries. A packed, ascending array of int16, int32
//    or int64 (the narrowest width that holds every member), one malloc block sized
//    exactly, as Redis's intset. Lookups are binary searches; inserts shift.
//  * "hashtable": otherwise. An open-addressing table (linear probing, power-of-two
//    capacity, load <= 7/8) of 16-byte CompactStrings (members up to 15 bytes inline)
//    plus one control byte per slot (empty, deleted, or 7 hash bits), in one block.
//    A hashtable set never goes back to intset, as in Redis (except that SPOP's
//    "rebuild from the remaining members" path creates a new set, as Redis does).
//
// SSCAN over the hashtable uses Redis's reverse-binary cursor over home slots
// (hash & mask), so a member present for the whole scan is returned at least once even
// when the table grows or shrinks between calls.
//
// Thread-safety: none. Owned by one shard's table (or a MultiShardOp in flight).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>

#include "store/compact_string.h"
#include "store/value.h"

namespace darter::store {

class SetObject final : public Object {
 public:
  enum class Encoding : uint8_t { kIntset, kHashtable };

  // An empty intset (Redis's createIntsetObject); Add converts as needed.
  SetObject();
  // An empty set in the encoding Redis's setTypeCreate(first) would pick.
  static std::unique_ptr<SetObject> CreateFor(std::string_view first);
  ~SetObject() override;
  SetObject(const SetObject&) = delete;
  SetObject& operator=(const SetObject&) = delete;

  ValueType type() const override { return ValueType::kSet; }
  size_t MallocUsed() const override;
  size_t MallocUsedSampled(size_t samples) const override;
  std::string_view EncodingName() const override;
  std::unique_ptr<Object> Clone() const override;
  void OnLoaded() override;

  Encoding encoding() const { return enc_; }
  size_t size() const { return size_; }

  // Returns true when the member was added (false: already present). Converts to a
  // hashtable when the member is not an integer or the intset grows past
  // set-max-intset-entries.
  bool Add(std::string_view member);
  // Adds without the intset size check (RDB load of a set that will be fixed by
  // OnLoaded); returns false when present.
  bool AddNoConvert(std::string_view member);
  bool Remove(std::string_view member);
  bool Contains(std::string_view member) const;

  // Visits every member once; intsets ascending. The callback must not modify the set.
  void ForEach(const std::function<void(std::string_view)>& fn) const;
  // A uniformly random member. REQUIRES: size() > 0.
  std::string RandomMember(std::mt19937_64& rng) const;
  // Removes and returns a random member. REQUIRES: size() > 0.
  std::string PopRandom(std::mt19937_64& rng);

  // One SSCAN step: visits members from `cursor`, until at least `count` were offered
  // or the set ends. Intsets are visited whole. Returns the next cursor (0 = done).
  uint64_t Scan(uint64_t cursor, size_t count, const std::function<void(std::string_view)>& fn) const;

  // Converts to a hashtable (no-op when already one).
  void ConvertToHashtable();

 private:
  // intset
  int64_t IntAt(uint32_t i) const;
  void IntSetAt(uint32_t i, int64_t v);
  bool IntFind(int64_t v, uint32_t* pos) const;
  void IntInsert(int64_t v, uint32_t pos);
  void IntRemoveAt(uint32_t pos);

  // hashtable
  size_t HtFind(std::string_view m, uint64_t h) const;  // slot index or SIZE_MAX
  void HtInsertNew(std::string_view m, uint64_t h);      // REQUIRES: absent, room
  void HtRehash(uint32_t new_cap);
  void HtMaybeGrow();
  void HtMaybeShrink();
  void HtEraseAt(size_t slot);
  // The hashtable block: this header, `cap` slots, then `cap` control bytes.
  struct HtHeader {
    uint32_t cap;   // slots, a power of two
    uint32_t used;  // occupied + deleted
  };
  static void* AllocTable(uint32_t cap);
  HtHeader& hdr() const { return *static_cast<HtHeader*>(buf_); }
  CompactString* slots() const {
    return reinterpret_cast<CompactString*>(static_cast<char*>(buf_) + sizeof(HtHeader));
  }
  uint8_t* ctrl() const {
    return reinterpret_cast<uint8_t*>(static_cast<char*>(buf_) + sizeof(HtHeader)) +
           static_cast<size_t>(hdr().cap) * sizeof(CompactString);
  }

  // Intset bytes live inline while they fit (10 int32 members, 20 int16), else in
  // the heap block buf_; the object is then 56 bytes, one 64-byte malloc chunk, instead
  // of an object chunk plus an array chunk.
  static constexpr size_t kInlineBytes = 40;
  bool IntInline() const { return static_cast<size_t>(size_) * width_ <= kInlineBytes; }
  char* IntData() { return IntInline() ? inline_ : static_cast<char*>(buf_); }
  const char* IntData() const { return IntInline() ? inline_ : static_cast<const char*>(buf_); }
  // Resizes the intset storage to `n` elements of the current width, keeping the first
  // min(size_, n) elements, moving between inline and heap storage as needed.
  void IntResize(uint32_t n);

  union {
    void* buf_;                   // intset past kInlineBytes, or the hashtable block
    char inline_[kInlineBytes];   // small intsets
  };
  uint32_t size_ = 0;
  uint8_t width_ = 2;    // intset element bytes
  Encoding enc_ = Encoding::kIntset;
};

// True when `s` would be stored in an intset (Redis's string2ll).
bool SetMemberIsInteger(std::string_view s, int64_t* out = nullptr);

}  // namespace darter::store
