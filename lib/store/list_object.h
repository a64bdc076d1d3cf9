// EntryPack and ListObject: the list type's storage (and the compact blob that small
// hashes use too).
//
// EntryPack is a compact, contiguous sequence of byte strings in one malloc'd block
// (our own "listpack"-like layout; see docs/lists-hashes.md):
//
//   [u32 total_bytes][u32 count][entry]...      entry = varint(len) bytes[len]
//
// varint is LEB128 (7 bits a byte, low bits first), so an element of up to 127 bytes
// costs one byte of overhead. There is no back-length: walking backwards means walking
// a node forwards once, which is cheap because nodes are bounded (8 KiB by default).
// An empty pack owns no memory (null pointer).
//
// ListObject keeps a small list as a single EntryPack, and a list past
// list-max-listpack-size as a "quicklist": a vector of bounded EntryPack nodes plus the
// total length. Invariant: quicklist mode <=> at least two nodes, none empty.
// OBJECT ENCODING reports "quicklist" in both modes because Redis 7.0 (the reference)
// encodes every list as a quicklist; the single-pack mode is Redis 7.2's optimisation.
//
// Thread-safety: none. Owned by one shard's table (or a message between shards).
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/value.h"

namespace darter::store {

class EntryPack {
 public:
  static constexpr size_t kHeader = 8;

  EntryPack() = default;
  EntryPack(EntryPack&& o) noexcept : p_(o.p_) { o.p_ = nullptr; }
  EntryPack& operator=(EntryPack&& o) noexcept {
    if (this != &o) {
      Free();
      p_ = o.p_;
      o.p_ = nullptr;
    }
    return *this;
  }
  EntryPack(const EntryPack& o);
  EntryPack& operator=(const EntryPack&) = delete;
  ~EntryPack() { Free(); }

  size_t count() const { return p_ ? Load(p_ + 4) : 0; }
  // Total bytes including the header (kHeader for an empty pack).
  size_t bytes() const { return p_ ? Load(p_) : kHeader; }
  bool empty() const { return count() == 0; }
  // Heap bytes owned (malloc'd size).
  size_t heap_bytes() const { return p_ ? Load(p_) : 0; }

  // Offsets address entries; begin() is the first, end() is one past the last.
  size_t begin() const { return kHeader; }
  size_t end() const { return bytes(); }
  // The entry at `off`; *next receives the following offset. REQUIRES: off < end().
  std::string_view At(size_t off, size_t* next) const;
  size_t Next(size_t off) const {
    size_t n;
    At(off, &n);
    return n;
  }
  // Offset of the entry with this index (end() when index == count()).
  size_t OffsetOf(size_t index) const;

  // Inserts `s` before the entry at `off` (off == end() appends). Returns off.
  size_t Insert(size_t off, std::string_view s);
  void PushBack(std::string_view s) { Insert(end(), s); }
  void PushFront(std::string_view s) { Insert(begin(), s); }
  // Inserts all of `items` before the entry at `off` with one reallocation, in order
  // (or in reverse order when `reversed`, as LPUSH a b c leaves c b a).
  void InsertAll(size_t off, std::span<const std::string_view> items, bool reversed = false);
  // Erases `n` entries starting at `off`.
  void Erase(size_t off, size_t n);
  // Replaces the entry at `off` with `s`.
  void Replace(size_t off, std::string_view s);
  // Moves the entries from index `index` on into a new pack.
  EntryPack SplitAt(size_t index);
  // Appends all entries of `other`.
  void Append(const EntryPack& other);

  // Bytes an entry of this length takes.
  static size_t EntrySize(size_t len);

 private:
  static uint32_t Load(const char* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }
  static void Store(char* p, uint32_t v) { std::memcpy(p, &v, 4); }
  // Resizes the block to `bytes` (keeping content) and records the new size.
  void Resize(size_t bytes);
  void SetCount(size_t n) { Store(p_ + 4, static_cast<uint32_t>(n)); }
  void Free() {
    std::free(p_);
    p_ = nullptr;
  }

  char* p_ = nullptr;
};

class ListObject : public Object {
 public:
  enum class End { kHead, kTail };

  ListObject() = default;
  ListObject(const ListObject& o);

  ValueType type() const override { return ValueType::kList; }
  size_t MallocUsed() const override;
  std::string_view EncodingName() const override { return "quicklist"; }
  std::unique_ptr<Object> Clone() const override { return std::make_unique<ListObject>(*this); }
  void OnLoaded() override {}

  size_t size() const { return quick_ ? quick_->len : head_.count(); }
  bool is_quicklist() const { return quick_ != nullptr; }
  size_t node_count() const { return quick_ ? quick_->nodes.size() : 1; }
  // Bytes of node i's pack, header included (DEBUG OBJECT's ql_uncompressed_size).
  size_t node_bytes(size_t i) const { return nodes()[i].bytes(); }

  void Push(End end, std::string_view s);
  // Pushes each item in turn (LPUSH/RPUSH order), reallocating once when they fit the
  // end node.
  void PushAll(End end, std::span<const std::string_view> items);
  // REQUIRES: size() > 0.
  std::string Pop(End end);
  // Element at a non-negative index < size().
  std::string_view At(size_t index) const;
  void Set(size_t index, std::string_view s);
  void Insert(size_t index, std::string_view s);  // before `index` (size() appends)
  // Erases `n` elements starting at `index`.
  void EraseRange(size_t index, size_t n);
  // Calls fn(index, element) from `start` for `n` elements, head to tail; fn returns
  // false to stop.
  void ForRange(size_t start, size_t n, const std::function<bool(size_t, std::string_view)>& fn) const;
  // Tail to head, from index `start` down to 0.
  void ForRangeReverse(size_t start, const std::function<bool(size_t, std::string_view)>& fn) const;
  // Removes the elements at the given sorted, distinct indices.
  void EraseIndices(const std::vector<size_t>& sorted);

 private:
  struct Quick {
    std::vector<EntryPack> nodes;
    size_t len = 0;
  };
  // Nodes as a span, in either mode.
  EntryPack* nodes() { return quick_ ? quick_->nodes.data() : &head_; }
  const EntryPack* nodes() const { return quick_ ? quick_->nodes.data() : &head_; }
  // Node holding `index` and the index within it.
  size_t Locate(size_t index, size_t* local) const;
  // Splits node k (recursively) while it is over the size limit; may enter quicklist mode.
  void Normalize(size_t k);
  // Drops empty nodes among nodes [a, b], merges neighbours around them that fit one
  // node together, and returns to single-pack mode at one node.
  void Compact(size_t a, size_t b);
  void AddLen(ptrdiff_t d) {
    if (quick_) quick_->len += d;
  }

  EntryPack head_;               // the pack in single-pack mode; empty in quicklist mode
  std::unique_ptr<Quick> quick_;  // quicklist mode
};

// Whether an EntryPack of `bytes` bytes and `count` entries fits one list node under
// list-max-listpack-size.
bool ListNodeFits(size_t bytes, size_t count);

}  // namespace darter::store
