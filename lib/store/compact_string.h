// CompactString: a 16-byte owning byte string used for keys and string values.
//
// Strings of up to 15 bytes live inline (no allocation); longer ones live in one
// malloc'd block that the CompactString owns. Most Redis keys ("user:1234",
// "key:000001") and many values fit inline, which is the single biggest saving
// per key against Redis's dictEntry + sds + robj layout.
//
// Layout: bytes [0, 15) hold inline data; byte 15 is the tag.
//   tag < 16        inline, tag == length
//   tag == kHeapTag heap: bytes [0, 8) pointer, [8, 12) length (u32)
// Invariant: a heap string's length is > kInlineCapacity.
//
// Thread-safety: none; a CompactString belongs to whoever holds it (a shard's table,
// or a message in flight between shard threads — ownership moves with the value).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <string>
#include <string_view>

#include "store/check.h"

namespace darter::store {

class CompactString {
 public:
  static constexpr size_t kInlineCapacity = 15;

  CompactString() noexcept { bytes_[kTagByte] = 0; }
  explicit CompactString(std::string_view s) { Init(s); }
  CompactString(const CompactString& other) { Init(other.view()); }
  CompactString(CompactString&& other) noexcept {
    std::memcpy(bytes_, other.bytes_, sizeof bytes_);
    other.bytes_[kTagByte] = 0;
  }
  CompactString& operator=(const CompactString& other) {
    if (this != &other) Assign(other.view());
    return *this;
  }
  CompactString& operator=(CompactString&& other) noexcept {
    if (this != &other) {
      Release();
      std::memcpy(bytes_, other.bytes_, sizeof bytes_);
      other.bytes_[kTagByte] = 0;
    }
    return *this;
  }
  ~CompactString() { Release(); }

  void Assign(std::string_view s) {
    // `s` may point into our own storage (e.g. a substring of ourselves): copy first.
    CompactString tmp(s);
    *this = std::move(tmp);
  }

  bool is_heap() const { return static_cast<uint8_t>(bytes_[kTagByte]) == kHeapTag; }
  size_t size() const {
    if (!is_heap()) return static_cast<uint8_t>(bytes_[kTagByte]);
    uint32_t len;
    std::memcpy(&len, bytes_ + 8, 4);
    return len;
  }
  bool empty() const { return size() == 0; }
  const char* data() const { return is_heap() ? heap_ptr() : bytes_; }
  char* mutable_data() { return is_heap() ? heap_ptr() : bytes_; }
  std::string_view view() const { return {data(), size()}; }
  std::string str() const { return std::string(view()); }

  // Bytes allocated outside the 16-byte body (for INFO memory and MEMORY USAGE).
  size_t heap_bytes() const { return is_heap() ? malloc_usable_size(heap_ptr()) : 0; }

  // Resizes to `n` bytes keeping the common prefix; new bytes are zero. Used by
  // APPEND/SETRANGE/SETBIT, which grow strings in place: growth of a heap string reserves
  // half again (like Redis's sdsMakeRoomFor), so appending byte by byte is amortised
  // O(1). The spare room is the allocator's usable size, so nothing extra is stored.
  void Resize(size_t n) {
    size_t old = size();
    if (n == old) return;
    if (n <= kInlineCapacity) {
      char tmp[kInlineCapacity];
      std::memcpy(tmp, data(), old < n ? old : n);
      if (n > old) std::memset(tmp + old, 0, n - old);
      Release();
      std::memcpy(bytes_, tmp, n);
      bytes_[kTagByte] = static_cast<char>(n);
      return;
    }
    if (is_heap()) {
      char* p = heap_ptr();
      if (n > malloc_usable_size(p)) {
        p = static_cast<char*>(std::realloc(p, n > old ? n + n / 2 : n));
        DARTER_CHECK(p, "out of memory");
      }
      if (n > old) std::memset(p + old, 0, n - old);
      SetHeap(p, n);
      return;
    }
    char* p = static_cast<char*>(std::malloc(n));
    DARTER_CHECK(p, "out of memory");
    std::memcpy(p, data(), old < n ? old : n);
    if (n > old) std::memset(p + old, 0, n - old);
    Release();
    SetHeap(p, n);
  }

  bool operator==(std::string_view s) const { return view() == s; }

 private:
  static constexpr size_t kTagByte = 15;
  static constexpr uint8_t kHeapTag = 0x80;

  char* heap_ptr() const {
    char* p;
    std::memcpy(&p, bytes_, sizeof p);
    return p;
  }
  void SetHeap(char* p, size_t n) {
    std::memcpy(bytes_, &p, sizeof p);
    uint32_t len = static_cast<uint32_t>(n);
    std::memcpy(bytes_ + 8, &len, 4);
    bytes_[kTagByte] = static_cast<char>(kHeapTag);
  }
  void Init(std::string_view s) {
    if (s.size() <= kInlineCapacity) {
      std::memcpy(bytes_, s.data(), s.size());
      bytes_[kTagByte] = static_cast<char>(s.size());
    } else {
      char* p = static_cast<char*>(std::malloc(s.size()));
      DARTER_CHECK(p, "out of memory");
      std::memcpy(p, s.data(), s.size());
      SetHeap(p, s.size());
    }
  }
  void Release() {
    if (is_heap()) std::free(heap_ptr());
    bytes_[kTagByte] = 0;
  }

  char bytes_[16];
};

static_assert(sizeof(CompactString) == 16);

}  // namespace darter::store
