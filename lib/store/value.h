// Value: the 16-byte value stored beside each key in a shard's table.
//
// A Value is either a string (inline up to 15 bytes, else one heap block, exactly as
// CompactString) or an owning pointer to a collection Object (list, hash, set, zset,
// stream). The discriminator lives in byte 15, shared with CompactString's tag:
//   0..15, 0x80   string (CompactString's own tags)
//   0xC0 | type   object pointer in bytes [0, 8)
// so a Value is self-describing and can move between shard threads (RENAME, MOVE,
// COPY) without its slot.
//
// Thread-safety: none. A Value is owned by one shard's table, or by a message in
// flight between threads; ownership moves, it is never shared.
#pragma once

#include <cstdint>
#include <memory>
#include <new>
#include <string_view>
#include <utility>

#include "store/compact_string.h"

namespace darter::store {

enum class ValueType : uint8_t { kString = 0, kList = 1, kSet = 2, kZset = 3, kHash = 4, kStream = 5 };

// Redis's TYPE names.
std::string_view TypeName(ValueType t);

// Base of every collection. Collections live in their family's files.
class Object {
 public:
  virtual ~Object() = default;
  virtual ValueType type() const = 0;
  // Bytes this object owns on the heap, including itself (MEMORY USAGE, INFO).
  virtual size_t MallocUsed() const = 0;
  // MallocUsed with the elements' own heap blocks estimated from about `samples` of
  // them (MEMORY USAGE ... SAMPLES). Only hash tables of members (hash, set) override
  // it: there each element's block costs a cache miss to size, while every other
  // encoding sizes a whole node of elements per block and stays exact.
  virtual size_t MallocUsedSampled(size_t samples) const {
    (void)samples;
    return MallocUsed();
  }
  // OBJECT ENCODING name ("listpack", "hashtable", ...).
  virtual std::string_view EncodingName() const = 0;
  // Deep copy (COPY). Never null.
  virtual std::unique_ptr<Object> Clone() const = 0;
  // Called once after RDB loading appended every element: pick the final encoding.
  virtual void OnLoaded() {}
};

class Value {
 public:
  Value() noexcept { new (&str_) CompactString(); }
  explicit Value(std::string_view s) { new (&str_) CompactString(s); }
  explicit Value(std::unique_ptr<Object> obj) { SetObjectBits(obj.release()); }
  Value(Value&& other) noexcept {
    std::memcpy(static_cast<void*>(this), &other, sizeof(Value));
    new (&other.str_) CompactString();
  }
  Value& operator=(Value&& other) noexcept {
    if (this != &other) {
      Destroy();
      std::memcpy(static_cast<void*>(this), &other, sizeof(Value));
      new (&other.str_) CompactString();
    }
    return *this;
  }
  Value(const Value&) = delete;
  Value& operator=(const Value&) = delete;
  ~Value() { Destroy(); }

  // Deep copy, for COPY.
  Value Clone() const {
    if (is_object()) return Value(object()->Clone());
    return Value(str_.view());
  }

  bool is_object() const { return (tag() & kObjectMask) == kObjectMask; }
  bool is_string() const { return !is_object(); }
  ValueType type() const { return is_object() ? static_cast<ValueType>(tag() & 0x0F) : ValueType::kString; }

  // REQUIRES: is_string().
  std::string_view string_view() const { return str_.view(); }
  CompactString& mutable_string() { return str_; }
  const CompactString& string() const { return str_; }

  void SetString(std::string_view s) {
    if (is_object()) {
      Destroy();
      new (&str_) CompactString(s);
    } else {
      str_.Assign(s);
    }
  }
  void SetObject(std::unique_ptr<Object> obj) {
    Destroy();
    SetObjectBits(obj.release());
  }

  // REQUIRES: is_object().
  Object* object() const {
    Object* p;
    std::memcpy(&p, bytes(), sizeof p);
    return p;
  }
  template <typename T>
  T* As() const { return static_cast<T*>(object()); }

  size_t MallocUsed() const { return is_object() ? object()->MallocUsed() : str_.heap_bytes(); }

 private:
  static constexpr uint8_t kObjectMask = 0xC0;

  const char* bytes() const { return reinterpret_cast<const char*>(this); }
  uint8_t tag() const { return static_cast<uint8_t>(bytes()[15]); }
  void SetObjectBits(Object* p) {
    char* b = reinterpret_cast<char*>(this);
    std::memset(b, 0, 16);
    std::memcpy(b, &p, sizeof p);
    b[15] = static_cast<char>(kObjectMask | static_cast<uint8_t>(p->type()));
  }
  void Destroy() {
    if (is_object()) {
      delete object();
      new (&str_) CompactString();
    } else {
      str_.~CompactString();
    }
  }

  union {
    CompactString str_;
  };
};

static_assert(sizeof(Value) == 16);

}  // namespace darter::store
