// FieldTable and HashObject (see hash_object.h), and the hash functions of
// collection_codec.h.
#include "store/hash_object.h"

#include <cstdlib>
#include <cstring>

#include "store/check.h"
#include "store/collection_codec.h"
#include "store/db_table.h"
#include "store/store_config.h"

namespace darter::store {

namespace {

uint64_t FieldHash(std::string_view f) { return HashKey(f); }

uint64_t Rev(uint64_t v) {
  v = ((v >> 1) & 0x5555555555555555ull) | ((v & 0x5555555555555555ull) << 1);
  v = ((v >> 2) & 0x3333333333333333ull) | ((v & 0x3333333333333333ull) << 2);
  v = ((v >> 4) & 0x0F0F0F0F0F0F0F0Full) | ((v & 0x0F0F0F0F0F0F0F0Full) << 4);
  v = ((v >> 8) & 0x00FF00FF00FF00FFull) | ((v & 0x00FF00FF00FF00FFull) << 8);
  v = ((v >> 16) & 0x0000FFFF0000FFFFull) | ((v & 0x0000FFFF0000FFFFull) << 16);
  return (v >> 32) | (v << 32);
}

size_t IndexCapFor(size_t n) {
  size_t cap = 8;
  while (cap * 3 / 4 < n) cap <<= 1;
  return cap;
}

bool FitsListpack(std::string_view field, std::string_view value) {
  auto& cfg = GetStoreConfig();
  int64_t lim = cfg.hash_max_listpack_value.load(std::memory_order_relaxed);
  return static_cast<int64_t>(field.size()) <= lim && static_cast<int64_t>(value.size()) <= lim;
}

int64_t MaxListpackEntries() { return GetStoreConfig().hash_max_listpack_entries.load(std::memory_order_relaxed); }

}  // namespace

// ---------------------------------------------------------------------------------
// FieldTable

FieldTable::FieldTable(size_t expected) {
  Rehash(IndexCapFor(expected));
  if (expected) ReserveEntries(expected);
}

FieldTable::FieldTable(const FieldTable& o) {
  Rehash(IndexCapFor(o.size_));
  ReserveEntries(o.size_);
  for (size_t i = 0; i < o.size_; ++i) Set(o.entries_[i].field.view(), o.entries_[i].value.view());
}

FieldTable::~FieldTable() {
  for (size_t i = 0; i < size_; ++i) entries_[i].~Entry();
  std::free(entries_);
  std::free(index_);
}

void FieldTable::ReserveEntries(size_t n) {
  if (n <= entries_cap_) return;
  // CompactString is trivially relocatable (no self-pointers), so realloc moves it.
  void* p = std::realloc(static_cast<void*>(entries_), n * sizeof(Entry));
  DARTER_CHECK(p, "out of memory");
  entries_ = static_cast<Entry*>(p);
  entries_cap_ = n;
}

void FieldTable::Rehash(size_t index_cap) {
  std::free(index_);
  index_ = static_cast<uint32_t*>(std::calloc(index_cap, sizeof(uint32_t)));
  DARTER_CHECK(index_, "out of memory");
  index_cap_ = index_cap;
  for (size_t e = 0; e < size_; ++e) {
    size_t i = FieldHash(entries_[e].field.view()) & mask();
    while (index_[i] != kEmpty) i = (i + 1) & mask();
    index_[i] = static_cast<uint32_t>(e + 2);
  }
  used_ = size_;
}

size_t FieldTable::FindSlot(std::string_view field, uint64_t hash) const {
  for (size_t i = hash & mask();; i = (i + 1) & mask()) {
    uint32_t v = index_[i];
    if (v == kEmpty) return SIZE_MAX;
    if (v != kDeleted && entries_[v - 2].field == field) return i;
  }
}

FieldTable::Entry* FieldTable::Find(std::string_view field) {
  size_t slot = FindSlot(field, FieldHash(field));
  return slot == SIZE_MAX ? nullptr : &entries_[index_[slot] - 2];
}

bool FieldTable::Set(std::string_view field, std::string_view value) {
  uint64_t h = FieldHash(field);
  size_t slot = FindSlot(field, h);
  if (slot != SIZE_MAX) {
    entries_[index_[slot] - 2].value.Assign(value);
    return false;
  }
  if ((used_ + 1) > index_cap_ * 3 / 4) Rehash(IndexCapFor(size_ + 1 > size_ * 2 ? size_ + 1 : size_ * 2));
  if (size_ == entries_cap_) ReserveEntries(entries_cap_ < 4 ? 4 : entries_cap_ * 2);
  new (&entries_[size_]) Entry{CompactString(field), CompactString(value)};
  size_t i = h & mask();
  while (index_[i] != kEmpty && index_[i] != kDeleted) i = (i + 1) & mask();
  if (index_[i] == kEmpty) ++used_;
  index_[i] = static_cast<uint32_t>(size_ + 2);
  ++size_;
  return true;
}

bool FieldTable::Erase(std::string_view field) {
  size_t slot = FindSlot(field, FieldHash(field));
  if (slot == SIZE_MAX) return false;
  size_t e = index_[slot] - 2;
  index_[slot] = kDeleted;
  size_t last = size_ - 1;
  if (e != last) {
    // Move the last entry into the hole and repoint its index slot.
    size_t ls = FindSlot(entries_[last].field.view(), FieldHash(entries_[last].field.view()));
    index_[ls] = static_cast<uint32_t>(e + 2);
    entries_[e] = std::move(entries_[last]);
  }
  entries_[last].~Entry();
  --size_;
  if (index_cap_ > 8 && size_ < index_cap_ / 8) {
    Rehash(IndexCapFor(size_));
    if (entries_cap_ > 4 && size_ < entries_cap_ / 4) {
      size_t n = size_ < 4 ? 4 : size_ * 2;
      void* p = std::realloc(static_cast<void*>(entries_), n * sizeof(Entry));
      if (p) {
        entries_ = static_cast<Entry*>(p);
        entries_cap_ = n;
      }
    }
  }
  return true;
}

uint64_t FieldTable::Scan(uint64_t cursor, const std::function<void(const Entry&)>& fn) const {
  size_t m = mask();
  size_t bucket = cursor & m;
  for (size_t i = bucket;; i = (i + 1) & m) {
    uint32_t v = index_[i];
    if (v == kEmpty) break;
    if (v == kDeleted) continue;
    const Entry& e = entries_[v - 2];
    if ((FieldHash(e.field.view()) & m) == bucket) fn(e);
  }
  uint64_t v = cursor | ~static_cast<uint64_t>(m);
  v = Rev(v);
  ++v;
  return Rev(v);
}

size_t FieldTable::MallocUsed() const {
  size_t n = sizeof(*this) + entries_cap_ * sizeof(Entry) + index_cap_ * sizeof(uint32_t);
  for (size_t i = 0; i < size_; ++i) n += entries_[i].field.heap_bytes() + entries_[i].value.heap_bytes();
  return n;
}

size_t FieldTable::MallocUsedSampled(size_t samples) const {
  if (samples == 0 || samples >= size_) return MallocUsed();
  size_t n = sizeof(*this) + entries_cap_ * sizeof(Entry) + index_cap_ * sizeof(uint32_t);
  size_t sampled = 0;
  // Scattered over the dense entry array (insertion order) by a fixed mix, so a
  // periodic pattern in what was inserted cannot line up with the samples.
  for (size_t k = 0; k < samples; ++k) {
    uint64_t x = (k + 1) * 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 31)) * 0xBF58476D1CE4E5B9ull;
    const Entry& e = entries_[(x ^ (x >> 29)) % size_];
    sampled += e.field.heap_bytes() + e.value.heap_bytes();
  }
  return n + sampled * size_ / samples;
}

// ---------------------------------------------------------------------------------
// HashObject

HashObject::HashObject(const HashObject& o) : Object(), pack_(o.pack_) {
  if (o.table_) table_ = std::make_unique<FieldTable>(*o.table_);
}

size_t HashObject::MallocUsed() const {
  return sizeof(*this) + pack_.heap_bytes() + (table_ ? table_->MallocUsed() : 0);
}

size_t HashObject::MallocUsedSampled(size_t samples) const {
  return sizeof(*this) + pack_.heap_bytes() + (table_ ? table_->MallocUsedSampled(samples) : 0);
}

std::optional<std::string_view> HashObject::Get(std::string_view field) const {
  if (table_) {
    auto* e = table_->Find(field);
    if (!e) return std::nullopt;
    return e->value.view();
  }
  for (size_t off = pack_.begin(), end = pack_.end(); off < end;) {
    size_t next;
    std::string_view f = pack_.At(off, &next);
    std::string_view v = pack_.At(next, &off);
    if (f == field) return v;
  }
  return std::nullopt;
}

bool HashObject::Set(std::string_view field, std::string_view value) {
  if (!table_ && !FitsListpack(field, value)) ConvertToTable();
  if (table_) return table_->Set(field, value);
  for (size_t off = pack_.begin(), end = pack_.end(); off < end;) {
    size_t voff;
    std::string_view f = pack_.At(off, &voff);
    if (f == field) {
      pack_.Replace(voff, value);
      return false;
    }
    pack_.At(voff, &off);
  }
  pack_.PushBack(field);
  pack_.PushBack(value);
  if (static_cast<int64_t>(size()) > MaxListpackEntries()) ConvertToTable();
  return true;
}

size_t HashObject::SetPairs(std::span<const std::string_view> pairs) {
  if (!table_) {
    for (size_t i = 0; i + 1 < pairs.size(); i += 2)
      if (!FitsListpack(pairs[i], pairs[i + 1])) ConvertToTable();
  }
  size_t created = 0;
  if (table_) {
    for (size_t i = 0; i + 1 < pairs.size(); i += 2) created += table_->Set(pairs[i], pairs[i + 1]);
    return created;
  }
  // New fields in first-seen order, each with its last value.
  std::vector<std::string_view> fresh;
  for (size_t i = 0; i + 1 < pairs.size(); i += 2) {
    std::string_view field = pairs[i], value = pairs[i + 1];
    bool done = false;
    for (size_t off = pack_.begin(), end = pack_.end(); off < end && !done;) {
      size_t voff;
      std::string_view f = pack_.At(off, &voff);
      if (f == field) {
        pack_.Replace(voff, value);
        done = true;
      } else {
        pack_.At(voff, &off);
      }
    }
    for (size_t j = 0; j < fresh.size() && !done; j += 2) {
      if (fresh[j] == field) {
        fresh[j + 1] = value;
        done = true;
      }
    }
    if (!done) {
      fresh.push_back(field);
      fresh.push_back(value);
    }
  }
  pack_.InsertAll(pack_.end(), fresh);
  created = fresh.size() / 2;
  if (static_cast<int64_t>(size()) > MaxListpackEntries()) ConvertToTable();
  return created;
}

bool HashObject::Delete(std::string_view field) {
  if (table_) return table_->Erase(field);
  for (size_t off = pack_.begin(), end = pack_.end(); off < end;) {
    size_t voff, next;
    std::string_view f = pack_.At(off, &voff);
    pack_.At(voff, &next);
    if (f == field) {
      pack_.Erase(off, 2);
      return true;
    }
    off = next;
  }
  return false;
}

void HashObject::ForEach(const std::function<void(std::string_view, std::string_view)>& fn) const {
  if (table_) {
    for (size_t i = 0; i < table_->size(); ++i) fn(table_->at(i).field.view(), table_->at(i).value.view());
    return;
  }
  for (size_t off = pack_.begin(), end = pack_.end(); off < end;) {
    size_t voff;
    std::string_view f = pack_.At(off, &voff);
    std::string_view v = pack_.At(voff, &off);
    fn(f, v);
  }
}

std::vector<std::pair<std::string_view, std::string_view>> HashObject::Entries() const {
  std::vector<std::pair<std::string_view, std::string_view>> out;
  out.reserve(size());
  ForEach([&](std::string_view f, std::string_view v) { out.emplace_back(f, v); });
  return out;
}

std::pair<std::string_view, std::string_view> HashObject::EntryAt(size_t i) const {
  if (table_) return {table_->at(i).field.view(), table_->at(i).value.view()};
  size_t off = pack_.OffsetOf(2 * i), voff, next;
  std::string_view f = pack_.At(off, &voff);
  return {f, pack_.At(voff, &next)};
}

uint64_t HashObject::Scan(uint64_t cursor, size_t count,
                          const std::function<void(std::string_view, std::string_view)>& fn) const {
  if (!table_) {
    ForEach(fn);
    return 0;
  }
  size_t emitted = 0;
  size_t budget = count * 10;
  do {
    cursor = table_->Scan(cursor, [&](const FieldTable::Entry& e) {
      fn(e.field.view(), e.value.view());
      ++emitted;
    });
  } while (cursor != 0 && emitted < count && --budget > 0);
  return cursor;
}

void HashObject::ConvertToTable() {
  if (table_) return;
  auto t = std::make_unique<FieldTable>(size());
  ForEach([&](std::string_view f, std::string_view v) { t->Set(f, v); });
  table_ = std::move(t);
  pack_ = EntryPack();
}

void HashObject::OnLoaded() {
  if (!table_) {
    if (static_cast<int64_t>(size()) > MaxListpackEntries()) ConvertToTable();
    return;
  }
  if (static_cast<int64_t>(size()) > MaxListpackEntries()) return;
  bool fits = true;
  ForEach([&](std::string_view f, std::string_view v) { fits = fits && FitsListpack(f, v); });
  if (!fits) return;
  EntryPack p;
  ForEach([&](std::string_view f, std::string_view v) {
    p.PushBack(f);
    p.PushBack(v);
  });
  pack_ = std::move(p);
  table_.reset();
}

// ---------------------------------------------------------------------------------
// collection_codec.h

std::unique_ptr<Object> NewHashForLoad(uint64_t size_hint) {
  auto h = std::make_unique<HashObject>();
  if (static_cast<int64_t>(size_hint) > MaxListpackEntries()) h->ConvertToTable();
  return h;
}

bool HashSetForLoad(Object& hash, std::string_view field, std::string_view value) {
  return static_cast<HashObject&>(hash).Set(field, value);
}

size_t HashSize(const Object& hash) { return static_cast<const HashObject&>(hash).size(); }

void HashForEach(const Object& hash, const std::function<void(std::string_view, std::string_view)>& fn) {
  static_cast<const HashObject&>(hash).ForEach(fn);
}

}  // namespace darter::store
