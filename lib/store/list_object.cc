// EntryPack and ListObject (see list_object.h), and the list functions of
// collection_codec.h.
#include "store/list_object.h"

#include <algorithm>
#include <cstdlib>

#include "store/check.h"
#include "store/collection_codec.h"
#include "store/store_config.h"

namespace darter::store {

namespace {

size_t VarintSize(size_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

size_t PutVarint(char* p, size_t v) {
  size_t i = 0;
  while (v >= 0x80) {
    p[i++] = static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  p[i++] = static_cast<char>(v);
  return i;
}

size_t GetVarint(const char* p, size_t* v) {
  size_t out = 0, i = 0;
  unsigned shift = 0;
  uint8_t b;
  do {
    b = static_cast<uint8_t>(p[i++]);
    out |= static_cast<size_t>(b & 0x7F) << shift;
    shift += 7;
  } while (b & 0x80);
  *v = out;
  return i;
}

}  // namespace

// ---------------------------------------------------------------------------------
// EntryPack

EntryPack::EntryPack(const EntryPack& o) {
  if (o.p_) {
    size_t n = o.bytes();
    p_ = static_cast<char*>(std::malloc(n));
    DARTER_CHECK(p_, "out of memory");
    std::memcpy(p_, o.p_, n);
  }
}

size_t EntryPack::EntrySize(size_t len) { return VarintSize(len) + len; }

std::string_view EntryPack::At(size_t off, size_t* next) const {
  size_t len;
  size_t h = GetVarint(p_ + off, &len);
  *next = off + h + len;
  return {p_ + off + h, len};
}

size_t EntryPack::OffsetOf(size_t index) const {
  size_t off = begin();
  for (size_t i = 0; i < index; ++i) off = Next(off);
  return off;
}

void EntryPack::Resize(size_t bytes) {
  if (!p_) {
    p_ = static_cast<char*>(std::malloc(bytes));
    DARTER_CHECK(p_, "out of memory");
    Store(p_ + 4, 0);
  } else {
    char* np = static_cast<char*>(std::realloc(p_, bytes));
    DARTER_CHECK(np, "out of memory");
    p_ = np;
  }
  Store(p_, static_cast<uint32_t>(bytes));
}

size_t EntryPack::Insert(size_t off, std::string_view s) {
  size_t old = bytes();
  size_t esz = EntrySize(s.size());
  size_t cnt = count();
  Resize(old + esz);
  std::memmove(p_ + off + esz, p_ + off, old - off);
  size_t h = PutVarint(p_ + off, s.size());
  if (!s.empty()) std::memcpy(p_ + off + h, s.data(), s.size());
  SetCount(cnt + 1);
  return off;
}

void EntryPack::InsertAll(size_t off, std::span<const std::string_view> items, bool reversed) {
  if (items.empty()) return;
  size_t add = 0;
  for (std::string_view s : items) add += EntrySize(s.size());
  size_t old = bytes();
  size_t cnt = count();
  Resize(old + add);
  std::memmove(p_ + off + add, p_ + off, old - off);
  char* w = p_ + off;
  for (size_t i = 0; i < items.size(); ++i) {
    std::string_view s = items[reversed ? items.size() - 1 - i : i];
    w += PutVarint(w, s.size());
    if (!s.empty()) std::memcpy(w, s.data(), s.size());
    w += s.size();
  }
  SetCount(cnt + items.size());
}

void EntryPack::Erase(size_t off, size_t n) {
  if (n == 0) return;
  size_t cnt = count();
  if (n >= cnt && off == begin()) {
    Free();
    return;
  }
  size_t stop = off;
  for (size_t i = 0; i < n; ++i) stop = Next(stop);
  size_t old = bytes();
  std::memmove(p_ + off, p_ + stop, old - stop);
  Resize(old - (stop - off));
  SetCount(cnt - n);
}

void EntryPack::Replace(size_t off, std::string_view s) {
  size_t next;
  At(off, &next);
  size_t old_esz = next - off;
  size_t new_esz = EntrySize(s.size());
  size_t old = bytes();
  if (new_esz > old_esz) {
    Resize(old + new_esz - old_esz);
    std::memmove(p_ + off + new_esz, p_ + next, old - next);
  } else if (new_esz < old_esz) {
    std::memmove(p_ + off + new_esz, p_ + next, old - next);
    Resize(old - (old_esz - new_esz));
  }
  size_t h = PutVarint(p_ + off, s.size());
  if (!s.empty()) std::memcpy(p_ + off + h, s.data(), s.size());
}

EntryPack EntryPack::SplitAt(size_t index) {
  EntryPack tail;
  size_t cnt = count();
  if (index >= cnt) return tail;
  size_t off = OffsetOf(index);
  size_t old = bytes();
  tail.Resize(kHeader + (old - off));
  std::memcpy(tail.p_ + kHeader, p_ + off, old - off);
  tail.SetCount(cnt - index);
  if (index == 0) {
    Free();
  } else {
    Resize(off);
    SetCount(index);
  }
  return tail;
}

void EntryPack::Append(const EntryPack& other) {
  if (other.empty()) return;
  size_t old = bytes();
  size_t add = other.bytes() - kHeader;
  size_t cnt = count();
  Resize(old + add);
  std::memcpy(p_ + old, other.p_ + kHeader, add);
  SetCount(cnt + other.count());
}

// ---------------------------------------------------------------------------------
// ListObject

bool ListNodeFits(size_t bytes, size_t count) {
  if (count <= 1) return true;
  int64_t fill = GetStoreConfig().list_max_listpack_size.load(std::memory_order_relaxed);
  if (fill > 0) return count <= static_cast<uint64_t>(fill) && bytes <= 8192;
  int64_t level = std::clamp<int64_t>(-fill, 1, 5);
  return bytes <= (size_t{4096} << (level - 1));
}

ListObject::ListObject(const ListObject& o) : Object(), head_(o.head_) {
  if (o.quick_) quick_ = std::make_unique<Quick>(*o.quick_);
}

size_t ListObject::MallocUsed() const {
  size_t n = sizeof(*this) + head_.heap_bytes();
  if (quick_) {
    n += sizeof(Quick) + quick_->nodes.capacity() * sizeof(EntryPack);
    for (const auto& node : quick_->nodes) n += node.heap_bytes();
  }
  return n;
}

size_t ListObject::Locate(size_t index, size_t* local) const {
  if (!quick_) {
    *local = index;
    return 0;
  }
  const auto& v = quick_->nodes;
  if (index < quick_->len / 2) {
    for (size_t k = 0;; ++k) {
      size_t c = v[k].count();
      if (index < c) {
        *local = index;
        return k;
      }
      index -= c;
    }
  }
  size_t from_end = quick_->len - index;  // >= 1
  for (size_t k = v.size(); k-- > 0;) {
    size_t c = v[k].count();
    if (from_end <= c) {
      *local = c - from_end;
      return k;
    }
    from_end -= c;
  }
  *local = 0;
  return 0;  // unreachable for a valid index
}

void ListObject::Push(End end, std::string_view s) {
  size_t esz = EntryPack::EntrySize(s.size());
  if (!quick_) {
    if (head_.empty() || ListNodeFits(head_.bytes() + esz, head_.count() + 1)) {
      if (end == End::kHead) head_.PushFront(s);
      else head_.PushBack(s);
      return;
    }
    quick_ = std::make_unique<Quick>();
    quick_->len = head_.count();
    quick_->nodes.push_back(std::move(head_));
  }
  auto& v = quick_->nodes;
  EntryPack& node = end == End::kHead ? v.front() : v.back();
  if (ListNodeFits(node.bytes() + esz, node.count() + 1)) {
    if (end == End::kHead) node.PushFront(s);
    else node.PushBack(s);
  } else {
    EntryPack fresh;
    fresh.PushBack(s);
    if (end == End::kHead) v.insert(v.begin(), std::move(fresh));
    else v.push_back(std::move(fresh));
  }
  quick_->len++;
}

void ListObject::PushAll(End end, std::span<const std::string_view> items) {
  size_t add = 0;
  for (std::string_view s : items) add += EntryPack::EntrySize(s.size());
  EntryPack& node = quick_ ? (end == End::kHead ? quick_->nodes.front() : quick_->nodes.back()) : head_;
  if (ListNodeFits(node.bytes() + add, node.count() + items.size())) {
    if (end == End::kHead) node.InsertAll(node.begin(), items, /*reversed=*/true);
    else node.InsertAll(node.end(), items);
    AddLen(static_cast<ptrdiff_t>(items.size()));
    return;
  }
  for (std::string_view s : items) Push(end, s);
}

std::string ListObject::Pop(End end) {
  size_t k = end == End::kHead ? 0 : node_count() - 1;
  EntryPack& node = nodes()[k];
  size_t off = end == End::kHead ? node.begin() : node.OffsetOf(node.count() - 1);
  size_t next;
  std::string out(node.At(off, &next));
  node.Erase(off, 1);
  AddLen(-1);
  Compact(k, k);
  return out;
}

std::string_view ListObject::At(size_t index) const {
  size_t local;
  size_t k = Locate(index, &local);
  const EntryPack& node = nodes()[k];
  size_t next;
  return node.At(node.OffsetOf(local), &next);
}

void ListObject::Set(size_t index, std::string_view s) {
  size_t local;
  size_t k = Locate(index, &local);
  EntryPack& node = nodes()[k];
  node.Replace(node.OffsetOf(local), s);
  Normalize(k);
}

void ListObject::Insert(size_t index, std::string_view s) {
  if (index >= size()) {
    Push(End::kTail, s);
    return;
  }
  size_t local;
  size_t k = Locate(index, &local);
  EntryPack& node = nodes()[k];
  node.Insert(node.OffsetOf(local), s);
  AddLen(1);
  Normalize(k);
}

void ListObject::Normalize(size_t k) {
  EntryPack* node = &nodes()[k];
  if (ListNodeFits(node->bytes(), node->count())) return;
  if (!quick_) {
    quick_ = std::make_unique<Quick>();
    quick_->len = head_.count();
    quick_->nodes.push_back(std::move(head_));
    k = 0;
  }
  auto& v = quick_->nodes;
  EntryPack tail = v[k].SplitAt(v[k].count() / 2);
  v.insert(v.begin() + k + 1, std::move(tail));
  Normalize(k + 1);
  Normalize(k);
}

void ListObject::Compact(size_t a, size_t b) {
  if (!quick_) return;
  auto& v = quick_->nodes;
  b = std::min(b, v.size() - 1);
  size_t w = a;
  for (size_t r = a; r <= b; ++r)
    if (!v[r].empty()) {
      if (w != r) v[w] = std::move(v[r]);
      ++w;
    }
  v.erase(v.begin() + w, v.begin() + b + 1);
  if (!v.empty()) {
    size_t lo = a > 0 ? a - 1 : 0;
    size_t hi = std::min(w + 1, v.size());  // merge candidates: pairs (i, i+1) with i+1 < hi
    for (size_t i = lo; i + 1 < hi;) {
      if (ListNodeFits(v[i].bytes() + v[i + 1].bytes() - EntryPack::kHeader, v[i].count() + v[i + 1].count())) {
        v[i].Append(v[i + 1]);
        v.erase(v.begin() + i + 1);
        --hi;
      } else {
        ++i;
      }
    }
  }
  if (v.size() <= 1) {
    if (v.size() == 1) head_ = std::move(v[0]);
    quick_.reset();
  }
}

void ListObject::EraseRange(size_t index, size_t n) {
  if (n == 0) return;
  if (!quick_) {
    head_.Erase(head_.OffsetOf(index), n);
    return;
  }
  size_t local;
  size_t k = Locate(index, &local);
  size_t first = k;
  auto& v = quick_->nodes;
  while (n > 0) {
    size_t take = std::min(n, v[k].count() - local);
    v[k].Erase(v[k].OffsetOf(local), take);
    n -= take;
    quick_->len -= take;
    local = 0;
    ++k;
  }
  Compact(first, k - 1);
}

void ListObject::EraseIndices(const std::vector<size_t>& sorted) {
  if (sorted.empty()) return;
  for (size_t i = sorted.size(); i-- > 0;) {
    size_t local;
    size_t k = Locate(sorted[i], &local);
    EntryPack& node = nodes()[k];
    node.Erase(node.OffsetOf(local), 1);
    AddLen(-1);
  }
  if (quick_) Compact(0, quick_->nodes.size() - 1);
}

void ListObject::ForRange(size_t start, size_t n, const std::function<bool(size_t, std::string_view)>& fn) const {
  if (n == 0 || start >= size()) return;
  size_t local;
  size_t k = Locate(start, &local);
  size_t nn = node_count();
  size_t index = start;
  const EntryPack* v = nodes();
  size_t off = v[k].OffsetOf(local);
  while (n > 0 && k < nn) {
    if (off >= v[k].end()) {
      ++k;
      if (k < nn) off = v[k].begin();
      continue;
    }
    size_t next;
    std::string_view s = v[k].At(off, &next);
    if (!fn(index, s)) return;
    off = next;
    ++index;
    --n;
  }
}

void ListObject::ForRangeReverse(size_t start, const std::function<bool(size_t, std::string_view)>& fn) const {
  if (size() == 0) return;
  if (start >= size()) start = size() - 1;
  size_t local;
  size_t k = Locate(start, &local);
  const EntryPack* v = nodes();
  size_t index = start;
  std::vector<std::string_view> items;
  for (size_t kk = k + 1; kk-- > 0;) {
    items.clear();
    size_t limit = kk == k ? local + 1 : v[kk].count();
    size_t off = v[kk].begin();
    for (size_t i = 0; i < limit; ++i) {
      size_t next;
      items.push_back(v[kk].At(off, &next));
      off = next;
    }
    for (size_t i = items.size(); i-- > 0;) {
      if (!fn(index, items[i])) return;
      --index;
    }
  }
}

// ---------------------------------------------------------------------------------
// collection_codec.h

std::unique_ptr<Object> NewListForLoad() { return std::make_unique<ListObject>(); }

void ListAppendForLoad(Object& list, std::span<const std::string_view> elements) {
  auto& l = static_cast<ListObject&>(list);
  for (std::string_view e : elements) l.Push(ListObject::End::kTail, e);
}

size_t ListLength(const Object& list) { return static_cast<const ListObject&>(list).size(); }

void ListForEach(const Object& list, const std::function<void(std::string_view)>& fn) {
  const auto& l = static_cast<const ListObject&>(list);
  l.ForRange(0, l.size(), [&](size_t, std::string_view s) {
    fn(s);
    return true;
  });
}

}  // namespace darter::store
