#include "store/set_object.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "store/check.h"
#include "store/collection_codec.h"
#include "store/db_table.h"
#include "store/store_config.h"
#include "store/string_util.h"

namespace darter::store {
namespace {

constexpr uint8_t kEmpty = 0x80;
constexpr uint8_t kDeleted = 0xFE;
constexpr uint32_t kMinCap = 8;

uint8_t WidthFor(int64_t v) {
  if (v >= INT16_MIN && v <= INT16_MAX) return 2;
  if (v >= INT32_MIN && v <= INT32_MAX) return 4;
  return 8;
}

uint8_t H2(uint64_t h) { return static_cast<uint8_t>(h >> 57); }  // 0..127: never kEmpty/kDeleted

void* CheckedMalloc(size_t n) {
  void* p = std::malloc(n ? n : 1);
  DARTER_CHECK(p, "out of memory");
  return p;
}

int64_t IntsetMax() { return GetStoreConfig().set_max_intset_entries.load(std::memory_order_relaxed); }

// Smallest power-of-two capacity holding n members at load <= 7/8.
uint32_t CapFor(size_t n) {
  uint32_t cap = kMinCap;
  while (static_cast<uint64_t>(cap) * 7 / 8 < n) cap *= 2;
  return cap;
}

// Bit reversal, for Redis's reverse-binary scan cursor (dictScan).
uint64_t Rev(uint64_t v) {
  uint64_t r = 0;
  for (int i = 0; i < 64; ++i) {
    r = (r << 1) | (v & 1);
    v >>= 1;
  }
  return r;
}

}  // namespace

static_assert(sizeof(SetObject) == 56, "SetObject should fill a 64-byte glibc malloc chunk exactly");

bool SetMemberIsInteger(std::string_view s, int64_t* out) {
  auto v = ParseInt64(s);
  if (!v) return false;
  if (out) *out = *v;
  return true;
}

SetObject::SetObject() { buf_ = nullptr; }

std::unique_ptr<SetObject> SetObject::CreateFor(std::string_view first) {
  auto s = std::make_unique<SetObject>();
  if (!SetMemberIsInteger(first)) s->ConvertToHashtable();
  return s;
}

SetObject::~SetObject() {
  if (enc_ == Encoding::kIntset) {
    if (!IntInline()) std::free(buf_);
    return;
  }
  CompactString* sl = slots();
  uint8_t* c = ctrl();
  for (uint32_t i = 0; i < hdr().cap; ++i)
    if (c[i] < kEmpty) sl[i].~CompactString();
  std::free(buf_);
}

size_t SetObject::MallocUsed() const {
  size_t n = sizeof(*this);
  if (enc_ == Encoding::kIntset) return n + (IntInline() ? 0 : static_cast<size_t>(size_) * width_);
  n += sizeof(HtHeader) + static_cast<size_t>(hdr().cap) * (sizeof(CompactString) + 1);
  CompactString* sl = slots();
  uint8_t* c = ctrl();
  for (uint32_t i = 0; i < hdr().cap; ++i)
    if (c[i] < kEmpty) n += sl[i].heap_bytes();
  return n;
}

size_t SetObject::MallocUsedSampled(size_t samples) const {
  if (enc_ == Encoding::kIntset || samples == 0 || samples >= size_) return MallocUsed();
  const uint32_t cap = hdr().cap;
  size_t n = sizeof(*this) + sizeof(HtHeader) + static_cast<size_t>(cap) * (sizeof(CompactString) + 1);
  CompactString* sl = slots();
  uint8_t* c = ctrl();
  // The first member at or after each of `samples` evenly spaced slots.
  size_t sampled = 0, found = 0;
  for (size_t k = 0; k < samples; ++k) {
    for (size_t i = k * cap / samples; i < cap; ++i) {
      if (c[i] < kEmpty) {
        sampled += sl[i].heap_bytes();
        ++found;
        break;
      }
    }
  }
  return found ? n + sampled * size_ / found : MallocUsed();
}

std::string_view SetObject::EncodingName() const { return enc_ == Encoding::kIntset ? "intset" : "hashtable"; }

std::unique_ptr<Object> SetObject::Clone() const {
  auto o = std::make_unique<SetObject>();
  o->enc_ = enc_;
  o->size_ = size_;
  o->width_ = width_;
  if (enc_ == Encoding::kIntset) {
    size_t bytes = static_cast<size_t>(size_) * width_;
    if (!IntInline()) o->buf_ = CheckedMalloc(bytes);
    std::memcpy(o->IntData(), IntData(), bytes);
    return o;
  }
  uint32_t cap = hdr().cap;
  o->buf_ = AllocTable(cap);
  o->hdr().used = hdr().used;
  std::memcpy(o->ctrl(), ctrl(), cap);
  for (uint32_t i = 0; i < cap; ++i)
    if (ctrl()[i] < kEmpty) new (&o->slots()[i]) CompactString(slots()[i]);
  return o;
}

void SetObject::OnLoaded() {
  if (enc_ == Encoding::kIntset && size_ > IntsetMax()) ConvertToHashtable();
}

// ---- intset ----

int64_t SetObject::IntAt(uint32_t i) const {
  const char* p = IntData() + static_cast<size_t>(i) * width_;
  switch (width_) {
    case 2: {
      int16_t v;
      std::memcpy(&v, p, 2);
      return v;
    }
    case 4: {
      int32_t v;
      std::memcpy(&v, p, 4);
      return v;
    }
    default: {
      int64_t v;
      std::memcpy(&v, p, 8);
      return v;
    }
  }
}

void SetObject::IntSetAt(uint32_t i, int64_t v) {
  char* p = IntData() + static_cast<size_t>(i) * width_;
  switch (width_) {
    case 2: {
      int16_t x = static_cast<int16_t>(v);
      std::memcpy(p, &x, 2);
      break;
    }
    case 4: {
      int32_t x = static_cast<int32_t>(v);
      std::memcpy(p, &x, 4);
      break;
    }
    default:
      std::memcpy(p, &v, 8);
  }
}

bool SetObject::IntFind(int64_t v, uint32_t* pos) const {
  uint32_t lo = 0, hi = size_;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    int64_t m = IntAt(mid);
    if (m < v) lo = mid + 1;
    else if (m > v) hi = mid;
    else {
      *pos = mid;
      return true;
    }
  }
  *pos = lo;
  return false;
}

void SetObject::IntResize(uint32_t n) {
  size_t old_bytes = static_cast<size_t>(size_) * width_;
  size_t new_bytes = static_cast<size_t>(n) * width_;
  bool old_in = old_bytes <= kInlineBytes, new_in = new_bytes <= kInlineBytes;
  if (old_in && !new_in) {
    void* p = CheckedMalloc(new_bytes);
    std::memcpy(p, inline_, old_bytes);
    buf_ = p;
  } else if (!old_in && new_in) {
    char tmp[kInlineBytes];
    void* heap = buf_;
    std::memcpy(tmp, heap, new_bytes);
    std::free(heap);
    std::memcpy(inline_, tmp, new_bytes);
  } else if (!old_in && !new_in) {
    void* p = std::realloc(buf_, new_bytes);
    DARTER_CHECK(p, "out of memory");
    buf_ = p;
  }
  size_ = n;
}

void SetObject::IntInsert(int64_t v, uint32_t pos) {
  uint8_t need = WidthFor(v);
  if (need > width_) {
    // Upgrade: re-encode every element at the wider width. The new value is either
    // below or above every existing one (it does not fit the old width).
    std::vector<int64_t> vals(size_);
    for (uint32_t i = 0; i < size_; ++i) vals[i] = IntAt(i);
    IntResize(0);
    width_ = need;
    IntResize(static_cast<uint32_t>(vals.size() + 1));
    bool front = v < 0;
    uint32_t off = front ? 1 : 0;
    for (uint32_t i = 0; i < vals.size(); ++i) IntSetAt(i + off, vals[i]);
    IntSetAt(front ? 0 : static_cast<uint32_t>(vals.size()), v);
    return;
  }
  uint32_t old = size_;
  IntResize(size_ + 1);
  char* b = IntData();
  std::memmove(b + static_cast<size_t>(pos + 1) * width_, b + static_cast<size_t>(pos) * width_,
               static_cast<size_t>(old - pos) * width_);
  IntSetAt(pos, v);
}

void SetObject::IntRemoveAt(uint32_t pos) {
  char* b = IntData();
  std::memmove(b + static_cast<size_t>(pos) * width_, b + static_cast<size_t>(pos + 1) * width_,
               static_cast<size_t>(size_ - pos - 1) * width_);
  IntResize(size_ - 1);
}

// ---- hashtable ----

void* SetObject::AllocTable(uint32_t cap) {
  void* p = CheckedMalloc(sizeof(HtHeader) + static_cast<size_t>(cap) * (sizeof(CompactString) + 1));
  auto* h = static_cast<HtHeader*>(p);
  h->cap = cap;
  h->used = 0;
  std::memset(static_cast<char*>(p) + sizeof(HtHeader) + static_cast<size_t>(cap) * sizeof(CompactString), kEmpty,
              cap);
  return p;
}

size_t SetObject::HtFind(std::string_view m, uint64_t h) const {
  uint32_t mask = hdr().cap - 1;
  uint8_t tag = H2(h);
  const uint8_t* c = ctrl();
  const CompactString* sl = slots();
  for (uint32_t i = static_cast<uint32_t>(h) & mask;; i = (i + 1) & mask) {
    if (c[i] == kEmpty) return SIZE_MAX;
    if (c[i] == tag && sl[i].view() == m) return i;
  }
}

void SetObject::HtInsertNew(std::string_view m, uint64_t h) {
  uint32_t mask = hdr().cap - 1;
  uint8_t* c = ctrl();
  uint32_t i = static_cast<uint32_t>(h) & mask;
  while (c[i] < kEmpty) i = (i + 1) & mask;
  if (c[i] == kEmpty) ++hdr().used;
  c[i] = H2(h);
  new (&slots()[i]) CompactString(m);
  ++size_;
}

void SetObject::HtRehash(uint32_t new_cap) {
  void* old = buf_;
  uint32_t old_cap = hdr().cap;
  CompactString* old_slots = slots();
  uint8_t* old_ctrl = ctrl();
  buf_ = AllocTable(new_cap);
  hdr().used = size_;
  uint32_t mask = new_cap - 1;
  for (uint32_t j = 0; j < old_cap; ++j) {
    if (old_ctrl[j] >= kEmpty) continue;
    uint64_t h = HashKey(old_slots[j].view());
    uint32_t i = static_cast<uint32_t>(h) & mask;
    while (ctrl()[i] != kEmpty) i = (i + 1) & mask;
    ctrl()[i] = H2(h);
    // CompactString is trivially relocatable: move the 16 bytes.
    std::memcpy(static_cast<void*>(&slots()[i]), &old_slots[j], sizeof(CompactString));
  }
  std::free(old);
}

void SetObject::HtMaybeGrow() {
  if (static_cast<uint64_t>(hdr().used + 1) * 8 <= static_cast<uint64_t>(hdr().cap) * 7) return;
  // Mostly tombstones: rehash at the same size; else double.
  uint32_t nc = static_cast<uint64_t>(size_ + 1) * 16 > static_cast<uint64_t>(hdr().cap) * 7 ? hdr().cap * 2 : hdr().cap;
  HtRehash(std::max(nc, CapFor(size_ + 1)));
}

void SetObject::HtMaybeShrink() {
  if (hdr().cap <= kMinCap || static_cast<uint64_t>(size_) * 8 >= hdr().cap) return;
  uint32_t nc = std::max(kMinCap, CapFor(size_) * 2);
  if (nc < hdr().cap) HtRehash(nc);
}

void SetObject::HtEraseAt(size_t i) {
  slots()[i].~CompactString();
  uint32_t mask = hdr().cap - 1;
  // When the next slot is empty no probe chain passes through here: mark it empty.
  if (ctrl()[(i + 1) & mask] == kEmpty) {
    ctrl()[i] = kEmpty;
    --hdr().used;
  } else {
    ctrl()[i] = kDeleted;
  }
  --size_;
}

void SetObject::ConvertToHashtable() {
  if (enc_ == Encoding::kHashtable) return;
  std::vector<int64_t> vals(size_);
  for (uint32_t i = 0; i < size_; ++i) vals[i] = IntAt(i);
  IntResize(0);
  enc_ = Encoding::kHashtable;
  buf_ = AllocTable(CapFor(vals.size()));
  size_ = 0;
  for (int64_t v : vals) {
    std::string s = FormatInt64(v);
    HtInsertNew(s, HashKey(s));
  }
}

// ---- public ----

bool SetObject::AddNoConvert(std::string_view member) {
  if (enc_ == Encoding::kIntset) {
    int64_t v;
    if (SetMemberIsInteger(member, &v)) {
      uint32_t pos;
      if (IntFind(v, &pos)) return false;
      IntInsert(v, pos);
      return true;
    }
    ConvertToHashtable();
  }
  uint64_t h = HashKey(member);
  if (HtFind(member, h) != SIZE_MAX) return false;
  HtMaybeGrow();
  HtInsertNew(member, h);
  return true;
}

bool SetObject::Add(std::string_view member) {
  if (!AddNoConvert(member)) return false;
  if (enc_ == Encoding::kIntset && size_ > IntsetMax()) ConvertToHashtable();
  return true;
}

bool SetObject::Remove(std::string_view member) {
  if (enc_ == Encoding::kIntset) {
    int64_t v;
    uint32_t pos;
    if (!SetMemberIsInteger(member, &v) || !IntFind(v, &pos)) return false;
    IntRemoveAt(pos);
    return true;
  }
  size_t i = HtFind(member, HashKey(member));
  if (i == SIZE_MAX) return false;
  HtEraseAt(i);
  HtMaybeShrink();
  return true;
}

bool SetObject::Contains(std::string_view member) const {
  if (enc_ == Encoding::kIntset) {
    int64_t v;
    uint32_t pos;
    return SetMemberIsInteger(member, &v) && IntFind(v, &pos);
  }
  return HtFind(member, HashKey(member)) != SIZE_MAX;
}

void SetObject::ForEach(const std::function<void(std::string_view)>& fn) const {
  if (enc_ == Encoding::kIntset) {
    char buf[24];
    for (uint32_t i = 0; i < size_; ++i) {
      auto r = std::to_chars(buf, buf + sizeof buf, IntAt(i));
      fn(std::string_view(buf, r.ptr - buf));
    }
    return;
  }
  const uint8_t* c = ctrl();
  const CompactString* sl = slots();
  for (uint32_t i = 0; i < hdr().cap; ++i)
    if (c[i] < kEmpty) fn(sl[i].view());
}

std::string SetObject::RandomMember(std::mt19937_64& rng) const {
  if (enc_ == Encoding::kIntset) return FormatInt64(IntAt(static_cast<uint32_t>(rng() % size_)));
  const uint8_t* c = ctrl();
  uint32_t mask = hdr().cap - 1;
  while (true) {
    uint32_t i = static_cast<uint32_t>(rng()) & mask;
    if (c[i] < kEmpty) return slots()[i].str();
  }
}

std::string SetObject::PopRandom(std::mt19937_64& rng) {
  if (enc_ == Encoding::kIntset) {
    uint32_t pos = static_cast<uint32_t>(rng() % size_);
    std::string s = FormatInt64(IntAt(pos));
    IntRemoveAt(pos);
    return s;
  }
  const uint8_t* c = ctrl();
  uint32_t mask = hdr().cap - 1;
  while (true) {
    uint32_t i = static_cast<uint32_t>(rng()) & mask;
    if (c[i] < kEmpty) {
      std::string s = slots()[i].str();
      HtEraseAt(i);
      HtMaybeShrink();
      return s;
    }
  }
}

uint64_t SetObject::Scan(uint64_t cursor, size_t count, const std::function<void(std::string_view)>& fn) const {
  if (enc_ == Encoding::kIntset || size_ == 0) {
    ForEach(fn);
    return 0;
  }
  const uint64_t mask = hdr().cap - 1;
  const uint8_t* c = ctrl();
  const CompactString* sl = slots();
  size_t emitted = 0;
  uint64_t v = cursor;
  do {
    uint64_t home = v & mask;
    for (uint64_t i = home; c[i] != kEmpty; i = (i + 1) & mask) {
      if (c[i] < kEmpty && (HashKey(sl[i].view()) & mask) == home) {
        fn(sl[i].view());
        ++emitted;
      }
    }
    v |= ~mask;
    v = Rev(Rev(v) + 1);
  } while (v != 0 && emitted < count);
  return v;
}

// ---- collection_codec.h ----

std::unique_ptr<Object> NewSetForLoad(uint64_t) { return std::make_unique<SetObject>(); }

bool SetAddForLoad(Object& set, std::string_view member) {
  return static_cast<SetObject&>(set).AddNoConvert(member);
}

size_t SetSize(const Object& set) { return static_cast<const SetObject&>(set).size(); }

void SetForEach(const Object& set, const std::function<void(std::string_view)>& fn) {
  static_cast<const SetObject&>(set).ForEach(fn);
}

}  // namespace darter::store
