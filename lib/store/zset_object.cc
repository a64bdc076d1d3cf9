// ZsetObject: listpack and skiplist encodings (see zset_object.h for the layouts).
#include "store/zset_object.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "resp/reply_builder.h"
#include "store/check.h"
#include "store/collection_codec.h"
#include "store/db_table.h"
#include "store/store_config.h"

namespace darter::store {

std::string FormatScore(double d) {
  char buf[40];
  size_t n = resp::ReplyBuilder::FormatDouble(d, buf);
  return std::string(buf, n);
}

// ---------------------------------------------------------------------------------
// Range parsing (Redis's zslParseRange and zslParseLexRangeItem rules).

namespace {

// strtod over the whole text, as zslParseRange does: "" and "(" parse as 0, and
// leading white space is accepted; trailing bytes and NaN are not.
bool ParseRangeDouble(std::string_view text, double* out) {
  std::string s(text);
  if (s.find('\0') != std::string::npos) return false;
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (*end != '\0' || std::isnan(d)) return false;
  *out = d;
  return true;
}

bool ParseScoreBound(std::string_view text, double* v, bool* ex) {
  *ex = !text.empty() && text[0] == '(';
  return ParseRangeDouble(*ex ? text.substr(1) : text, v);
}

bool ParseLexBound(std::string_view text, ZLexBound* b) {
  if (text.empty()) return false;
  switch (text[0]) {
    case '+':
      if (text.size() != 1) return false;
      b->kind = ZLexBound::kPosInf;
      return true;
    case '-':
      if (text.size() != 1) return false;
      b->kind = ZLexBound::kNegInf;
      return true;
    case '(':
    case '[':
      b->kind = ZLexBound::kValue;
      b->ex = text[0] == '(';
      b->value.assign(text.substr(1));
      return true;
    default:
      return false;
  }
}

}  // namespace

bool ParseZScoreRange(std::string_view min, std::string_view max, ZScoreRange* out) {
  return ParseScoreBound(min, &out->min, &out->min_ex) && ParseScoreBound(max, &out->max, &out->max_ex);
}

bool ParseZLexRange(std::string_view min, std::string_view max, ZLexRange* out) {
  return ParseLexBound(min, &out->min) && ParseLexBound(max, &out->max);
}

bool ZLexRange::GteMin(std::string_view m) const {
  switch (min.kind) {
    case ZLexBound::kNegInf: return true;
    case ZLexBound::kPosInf: return false;
    default: return min.ex ? m > std::string_view(min.value) : m >= std::string_view(min.value);
  }
}

bool ZLexRange::LteMax(std::string_view m) const {
  switch (max.kind) {
    case ZLexBound::kPosInf: return true;
    case ZLexBound::kNegInf: return false;
    default: return max.ex ? m < std::string_view(max.value) : m <= std::string_view(max.value);
  }
}

// ---------------------------------------------------------------------------------
// Listpack entry coding.

namespace {

constexpr uint8_t kScoreSmallMax = 0xDF;  // tags 0..0xDF are the integer itself
constexpr uint8_t kScoreIntTag = 0xE0;    // 0xE0 + n: n-byte signed integer follows
constexpr uint8_t kScoreDoubleTag = 0xFF;

size_t VarintLen(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

size_t PutVarint(char* p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  p[n++] = static_cast<char>(v);
  return n;
}

size_t GetVarint(const char* p, uint64_t* v) {
  uint64_t r = 0;
  size_t n = 0;
  unsigned shift = 0;
  for (;;) {
    uint8_t b = static_cast<uint8_t>(p[n++]);
    r |= static_cast<uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) break;
    shift += 7;
  }
  *v = r;
  return n;
}

// The integer a score is, when it is one exactly. -0 becomes 0, as in Redis, whose
// listpack stores a score as the text "-0" and reads it back as the integer 0.
bool ScoreAsInt(double d, int64_t* v) {
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return false;
  int64_t i = static_cast<int64_t>(d);
  if (static_cast<double>(i) != d) return false;
  *v = i;
  return true;
}

size_t IntBytes(int64_t v) {
  size_t n = 1;
  while (n < 8) {
    int64_t lim = int64_t{1} << (8 * n - 1);
    if (v >= -lim && v < lim) break;
    ++n;
  }
  return n;
}

size_t ScoreLen(double d) {
  int64_t v;
  if (!ScoreAsInt(d, &v)) return 9;
  if (v >= 0 && v <= kScoreSmallMax) return 1;
  return 1 + IntBytes(v);
}

size_t PutScore(char* p, double d) {
  int64_t v;
  if (!ScoreAsInt(d, &v)) {
    p[0] = static_cast<char>(kScoreDoubleTag);
    std::memcpy(p + 1, &d, 8);
    return 9;
  }
  if (v >= 0 && v <= kScoreSmallMax) {
    p[0] = static_cast<char>(v);
    return 1;
  }
  size_t n = IntBytes(v);
  p[0] = static_cast<char>(kScoreIntTag + n);
  uint64_t u = static_cast<uint64_t>(v);
  for (size_t i = 0; i < n; ++i) p[1 + i] = static_cast<char>(u >> (8 * i));
  return 1 + n;
}

size_t GetScore(const char* p, double* d) {
  uint8_t tag = static_cast<uint8_t>(p[0]);
  if (tag <= kScoreSmallMax) {
    *d = tag;
    return 1;
  }
  if (tag == kScoreDoubleTag) {
    std::memcpy(d, p + 1, 8);
    return 9;
  }
  size_t n = tag - kScoreIntTag;
  uint64_t u = 0;
  for (size_t i = 0; i < n; ++i) u |= static_cast<uint64_t>(static_cast<uint8_t>(p[1 + i])) << (8 * i);
  if (n < 8 && (u >> (8 * n - 1)) & 1) u |= ~uint64_t{0} << (8 * n);  // sign-extend
  *d = static_cast<double>(static_cast<int64_t>(u));
  return 1 + n;
}

size_t EntryLen(std::string_view member, double score) {
  return VarintLen(member.size()) + member.size() + ScoreLen(score);
}

size_t PutEntry(char* p, std::string_view member, double score) {
  size_t n = PutVarint(p, member.size());
  std::memcpy(p + n, member.data(), member.size());
  n += member.size();
  return n + PutScore(p + n, score);
}

struct LpEntry {
  std::string_view member;
  double score;
  size_t len;  // encoded bytes
};

LpEntry GetEntry(const char* p) {
  uint64_t mlen;
  size_t n = GetVarint(p, &mlen);
  LpEntry e;
  e.member = std::string_view(p + n, mlen);
  n += mlen;
  n += GetScore(p + n, &e.score);
  e.len = n;
  return e;
}

// (score, member) order.
inline bool KeyLess(double s1, std::string_view m1, double s2, std::string_view m2) {
  return s1 < s2 || (s1 == s2 && m1 < m2);
}

size_t MaxListpackEntries() {
  int64_t v = GetStoreConfig().zset_max_listpack_entries.load(std::memory_order_relaxed);
  return v < 0 ? 0 : static_cast<size_t>(v);
}
size_t MaxListpackValue() {
  int64_t v = GetStoreConfig().zset_max_listpack_value.load(std::memory_order_relaxed);
  return v < 0 ? 0 : static_cast<size_t>(v);
}

uint64_t NextRandom() {
  thread_local uint64_t x = 0x9E3779B97F4A7C15ull ^ reinterpret_cast<uintptr_t>(&x);
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return x;
}

// ---------------------------------------------------------------------------------
// Skiplist nodes and the member table.

constexpr int kMaxLevel = 32;

struct SkipNode {
  struct Link {
    SkipNode* next;
    size_t span;  // how many level-0 steps this link jumps
  };
  double score;
  CompactString member;
  SkipNode* backward;
  uint32_t level;

  Link* links() { return reinterpret_cast<Link*>(this + 1); }
  Link& link(int i) { return links()[i]; }
  SkipNode* next(int i) { return links()[i].next; }

  static size_t AllocSize(int level) { return sizeof(SkipNode) + sizeof(Link) * level; }
  static SkipNode* New(int level, double score, std::string_view member) {
    void* mem = std::malloc(AllocSize(level));
    DARTER_CHECK(mem, "out of memory");
    SkipNode* n = static_cast<SkipNode*>(mem);
    n->score = score;
    new (&n->member) CompactString(member);
    n->backward = nullptr;
    n->level = static_cast<uint32_t>(level);
    for (int i = 0; i < level; ++i) n->links()[i] = {nullptr, 0};
    return n;
  }
  static void Free(SkipNode* n) {
    n->member.~CompactString();
    std::free(n);
  }
};
static_assert(sizeof(SkipNode) == 40);

int RandomLevel() {
  int level = 1;
  // P(level > k) = 1/4^k, as in Redis (ZSKIPLIST_P = 0.25).
  uint64_t r = NextRandom();
  while ((r & 3) == 0 && level < kMaxLevel) {
    ++level;
    r >>= 2;
    if (r == 0) r = NextRandom();
  }
  return level;
}

inline bool NodeLess(const SkipNode* a, double score, std::string_view member) {
  return KeyLess(a->score, a->member.view(), score, member);
}

inline uint64_t MemberHash(std::string_view m) { return HashKey(m); }

// Open addressing with linear probing over node pointers; deletion shifts entries
// back (no tombstones), so an element always sits in the run of occupied slots that
// starts at its home slot. Scan relies on that.
class MemberIndex {
 public:
  ~MemberIndex() { std::free(slots_); }

  size_t capacity() const { return slots_ ? mask_ + 1 : 0; }
  size_t bytes() const { return capacity() * sizeof(SkipNode*); }

  SkipNode* Find(std::string_view m) const {
    if (!slots_) return nullptr;
    for (size_t i = MemberHash(m) & mask_;; i = (i + 1) & mask_) {
      SkipNode* n = slots_[i];
      if (!n) return nullptr;
      if (n->member.view() == m) return n;
    }
  }

  // REQUIRES: n->member absent.
  void Insert(SkipNode* n) {
    if ((size_ + 1) * 4 > capacity() * 3) Resize(capacity() ? capacity() * 2 : 8);
    Place(n);
    ++size_;
  }

  void Erase(std::string_view m) {
    size_t i = MemberHash(m) & mask_;
    while (slots_[i]->member.view() != m) i = (i + 1) & mask_;
    slots_[i] = nullptr;
    // Backward shift: move later entries of the run into the hole when their home
    // slot does not lie cyclically in (hole, position].
    for (size_t j = (i + 1) & mask_; slots_[j]; j = (j + 1) & mask_) {
      size_t home = MemberHash(slots_[j]->member.view()) & mask_;
      bool stays = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
      if (!stays) {
        slots_[i] = slots_[j];
        slots_[j] = nullptr;
        i = j;
      }
    }
    --size_;
    if (capacity() > 64 && size_ * 8 < capacity()) Resize(capacity() / 2);
  }

  // One Redis-style reverse-binary scan step over home slots.
  uint64_t ScanStep(uint64_t cursor, FunctionRef<void(SkipNode*)> fn) const {
    if (!slots_) return 0;
    size_t home = cursor & mask_;
    for (size_t i = home; slots_[i]; i = (i + 1) & mask_) {
      if ((MemberHash(slots_[i]->member.view()) & mask_) == home) fn(slots_[i]);
    }
    uint64_t v = cursor | ~static_cast<uint64_t>(mask_);
    v = Reverse(v);
    ++v;
    return Reverse(v);
  }

 private:
  static uint64_t Reverse(uint64_t v) {
    v = ((v >> 1) & 0x5555555555555555ull) | ((v & 0x5555555555555555ull) << 1);
    v = ((v >> 2) & 0x3333333333333333ull) | ((v & 0x3333333333333333ull) << 2);
    v = ((v >> 4) & 0x0F0F0F0F0F0F0F0Full) | ((v & 0x0F0F0F0F0F0F0F0Full) << 4);
    return __builtin_bswap64(v);
  }

  void Place(SkipNode* n) {
    size_t i = MemberHash(n->member.view()) & mask_;
    while (slots_[i]) i = (i + 1) & mask_;
    slots_[i] = n;
  }

  void Resize(size_t cap) {
    SkipNode** old = slots_;
    size_t old_cap = capacity();
    slots_ = static_cast<SkipNode**>(std::calloc(cap, sizeof(SkipNode*)));
    DARTER_CHECK(slots_, "out of memory");
    mask_ = cap - 1;
    for (size_t i = 0; i < old_cap; ++i)
      if (old[i]) Place(old[i]);
    std::free(old);
  }

  SkipNode** slots_ = nullptr;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace

struct ZsetObject::Skiplist {
  SkipNode* header;
  SkipNode* tail = nullptr;
  size_t length = 0;
  int level = 1;
  size_t node_bytes = 0;  // malloc'd by nodes, member heap included
  MemberIndex index;

  Skiplist() : header(SkipNode::New(kMaxLevel, 0, std::string_view(""))) {}
  ~Skiplist() {
    SkipNode* n = header->next(0);
    while (n) {
      SkipNode* next = n->next(0);
      SkipNode::Free(n);
      n = next;
    }
    SkipNode::Free(header);
  }

  // Fills update[] with the last node at each level that sorts before (score, member).
  void FindUpdate(double score, std::string_view member, SkipNode** update, size_t* rank) const {
    SkipNode* p = header;
    for (int i = level - 1; i >= 0; --i) {
      if (rank) rank[i] = i == level - 1 ? 0 : rank[i + 1];
      while (p->next(i) && NodeLess(p->next(i), score, member)) {
        if (rank) rank[i] += p->link(i).span;
        p = p->next(i);
      }
      update[i] = p;
    }
  }

  // Links a detached node (its level already chosen) into place.
  void Link(SkipNode* x) {
    SkipNode* update[kMaxLevel];
    size_t rank[kMaxLevel];
    FindUpdate(x->score, x->member.view(), update, rank);
    int lvl = static_cast<int>(x->level);
    if (lvl > level) {
      for (int i = level; i < lvl; ++i) {
        rank[i] = 0;
        update[i] = header;
        header->link(i).span = length;
      }
      level = lvl;
    }
    for (int i = 0; i < lvl; ++i) {
      x->link(i).next = update[i]->next(i);
      update[i]->link(i).next = x;
      x->link(i).span = update[i]->link(i).span - (rank[0] - rank[i]);
      update[i]->link(i).span = rank[0] - rank[i] + 1;
    }
    for (int i = lvl; i < level; ++i) update[i]->link(i).span++;
    x->backward = update[0] == header ? nullptr : update[0];
    if (x->next(0)) x->next(0)->backward = x;
    else tail = x;
    ++length;
  }

  void Unlink(SkipNode* x, SkipNode** update) {
    for (int i = 0; i < level; ++i) {
      if (update[i]->next(i) == x) {
        update[i]->link(i).span += x->link(i).span - 1;
        update[i]->link(i).next = x->next(i);
      } else {
        update[i]->link(i).span -= 1;
      }
    }
    if (x->next(0)) x->next(0)->backward = x->backward;
    else tail = x->backward;
    while (level > 1 && !header->next(level - 1)) --level;
    --length;
  }

  void Unlink(SkipNode* x) {
    SkipNode* update[kMaxLevel];
    FindUpdate(x->score, x->member.view(), update, nullptr);
    Unlink(x, update);
  }

  SkipNode* Insert(double score, std::string_view member) {
    SkipNode* x = SkipNode::New(RandomLevel(), score, member);
    node_bytes += SkipNode::AllocSize(static_cast<int>(x->level)) + x->member.heap_bytes();
    Link(x);
    index.Insert(x);
    return x;
  }

  void Erase(SkipNode* x) {
    Unlink(x);
    index.Erase(x->member.view());
    node_bytes -= SkipNode::AllocSize(static_cast<int>(x->level)) + x->member.heap_bytes();
    SkipNode::Free(x);
  }

  void UpdateScore(SkipNode* x, double score) {
    std::string_view m = x->member.view();
    bool fits_before = !x->backward || NodeLess(x->backward, score, m);
    bool fits_after = !x->next(0) || !NodeLess(x->next(0), score, m);
    if (fits_before && fits_after) {
      x->score = score;
      return;
    }
    Unlink(x);
    x->score = score;
    Link(x);
  }

  // 1-based rank of a node in the list.
  size_t RankOf(const SkipNode* x) const {
    size_t rank = 0;
    SkipNode* p = header;
    for (int i = level - 1; i >= 0; --i) {
      while (p->next(i) && !NodeLess(x, p->next(i)->score, p->next(i)->member.view())) {
        rank += p->link(i).span;
        p = p->next(i);
      }
      if (p == x) return rank;
    }
    return rank;
  }

  // The node at 1-based rank r. REQUIRES: 1 <= r <= length.
  SkipNode* ByRank(size_t r) const {
    size_t traversed = 0;
    SkipNode* p = header;
    for (int i = level - 1; i >= 0; --i) {
      while (p->next(i) && traversed + p->link(i).span <= r) {
        traversed += p->link(i).span;
        p = p->next(i);
      }
      if (traversed == r) return p;
    }
    return nullptr;
  }

  // How many leading elements satisfy `pred` (which must hold for a prefix).
  template <typename Pred>
  size_t CountPrefix(Pred pred) const {
    size_t rank = 0;
    SkipNode* p = header;
    for (int i = level - 1; i >= 0; --i) {
      while (p->next(i) && pred(p->next(i))) {
        rank += p->link(i).span;
        p = p->next(i);
      }
    }
    return rank;
  }
};

// ---------------------------------------------------------------------------------
// ZsetObject.

ZsetObject::ZsetObject() : lp_(nullptr) {}

ZsetObject::~ZsetObject() {
  if (is_listpack()) std::free(lp_);
  else delete sl_;
}

std::unique_ptr<ZsetObject> ZsetObject::NewForAdd(size_t first_member_len) {
  auto z = std::make_unique<ZsetObject>();
  if (MaxListpackEntries() == 0 || first_member_len > MaxListpackValue()) z->ConvertToSkiplist();
  return z;
}

std::unique_ptr<ZsetObject> ZsetObject::Build(std::vector<std::pair<std::string, double>> items) {
  auto z = std::make_unique<ZsetObject>();
  size_t max_len = 0;
  for (auto& [m, s] : items) max_len = std::max(max_len, m.size());
  if (items.size() <= MaxListpackEntries() && max_len <= MaxListpackValue()) {
    std::sort(items.begin(), items.end(),
              [](const auto& a, const auto& b) { return KeyLess(a.second, a.first, b.second, b.first); });
    size_t bytes = 0;
    for (auto& [m, s] : items) bytes += EntryLen(m, s);
    z->lp_ = static_cast<char*>(std::malloc(bytes ? bytes : 1));
    DARTER_CHECK(z->lp_, "out of memory");
    size_t off = 0;
    for (auto& [m, s] : items) off += PutEntry(z->lp_ + off, m, s);
    z->lp_bytes_ = static_cast<uint32_t>(bytes);
    z->lp_count_ = static_cast<uint32_t>(items.size());
    return z;
  }
  z->ConvertToSkiplist();
  for (auto& [m, s] : items) z->sl_->Insert(s, m);
  return z;
}

size_t ZsetObject::size() const { return is_listpack() ? lp_count_ : sl_->length; }

size_t ZsetObject::MallocUsed() const {
  if (is_listpack()) return sizeof(*this) + lp_bytes_;
  return sizeof(*this) + sizeof(Skiplist) + SkipNode::AllocSize(kMaxLevel) + sl_->node_bytes + sl_->index.bytes();
}

std::unique_ptr<Object> ZsetObject::Clone() const {
  auto z = std::make_unique<ZsetObject>();
  if (is_listpack()) {
    z->lp_ = static_cast<char*>(std::malloc(lp_bytes_ ? lp_bytes_ : 1));
    DARTER_CHECK(z->lp_, "out of memory");
    if (lp_bytes_) std::memcpy(z->lp_, lp_, lp_bytes_);
    z->lp_bytes_ = lp_bytes_;
    z->lp_count_ = lp_count_;
    return z;
  }
  z->ConvertToSkiplist();
  for (SkipNode* n = sl_->header->next(0); n; n = n->next(0)) z->sl_->Insert(n->score, n->member.view());
  return z;
}

void ZsetObject::ConvertToSkiplist() {
  if (!is_listpack()) return;
  auto* sl = new Skiplist();
  for (size_t off = 0; off < lp_bytes_;) {
    LpEntry e = GetEntry(lp_ + off);
    sl->Insert(e.score, e.member);
    off += e.len;
  }
  std::free(lp_);
  sl_ = sl;
  lp_bytes_ = kSkiplistMark;
  lp_count_ = 0;
}

void ZsetObject::ConvertToListpackIfFits() {
  if (is_listpack()) return;
  if (sl_->length > MaxListpackEntries()) return;
  size_t bytes = 0, max_value = MaxListpackValue();
  for (SkipNode* n = sl_->header->next(0); n; n = n->next(0)) {
    if (n->member.size() > max_value) return;
    bytes += EntryLen(n->member.view(), n->score);
  }
  char* blob = static_cast<char*>(std::malloc(bytes ? bytes : 1));
  DARTER_CHECK(blob, "out of memory");
  size_t off = 0;
  for (SkipNode* n = sl_->header->next(0); n; n = n->next(0)) off += PutEntry(blob + off, n->member.view(), n->score);
  uint32_t count = static_cast<uint32_t>(sl_->length);
  delete sl_;
  lp_ = blob;
  lp_bytes_ = static_cast<uint32_t>(bytes);
  lp_count_ = count;
}

void ZsetObject::OnLoaded() {
  if (is_listpack()) {
    bool too_big = lp_count_ > MaxListpackEntries();
    size_t max_value = MaxListpackValue();
    for (size_t off = 0; !too_big && off < lp_bytes_;) {
      LpEntry e = GetEntry(lp_ + off);
      too_big = e.member.size() > max_value;
      off += e.len;
    }
    if (too_big) ConvertToSkiplist();
  } else {
    ConvertToListpackIfFits();
  }
}

std::optional<double> ZsetObject::Score(std::string_view member) const {
  if (is_listpack()) {
    for (size_t off = 0; off < lp_bytes_;) {
      LpEntry e = GetEntry(lp_ + off);
      if (e.member == member) return e.score;
      off += e.len;
    }
    return std::nullopt;
  }
  SkipNode* n = sl_->index.Find(member);
  if (!n) return std::nullopt;
  return n->score;
}

void ZsetObject::InsertNew(double score, std::string_view member) {
  if (!is_listpack()) {
    sl_->Insert(score, member);
    return;
  }
  size_t off = 0;
  while (off < lp_bytes_) {
    LpEntry e = GetEntry(lp_ + off);
    if (KeyLess(score, member, e.score, e.member)) break;
    off += e.len;
  }
  size_t len = EntryLen(member, score);
  char* blob = static_cast<char*>(std::realloc(lp_, lp_bytes_ + len));
  DARTER_CHECK(blob, "out of memory");
  std::memmove(blob + off + len, blob + off, lp_bytes_ - off);
  PutEntry(blob + off, member, score);
  lp_ = blob;
  lp_bytes_ += static_cast<uint32_t>(len);
  ++lp_count_;
}

bool ZsetObject::Remove(std::string_view member) {
  if (!is_listpack()) {
    SkipNode* n = sl_->index.Find(member);
    if (!n) return false;
    sl_->Erase(n);
    return true;
  }
  for (size_t off = 0; off < lp_bytes_;) {
    LpEntry e = GetEntry(lp_ + off);
    if (e.member == member) {
      std::memmove(lp_ + off, lp_ + off + e.len, lp_bytes_ - off - e.len);
      lp_bytes_ -= static_cast<uint32_t>(e.len);
      --lp_count_;
      return true;
    }
    off += e.len;
  }
  return false;
}

bool ZsetObject::Add(double score, std::string_view member, unsigned flags, unsigned* out, double* new_score) {
  bool incr = flags & kZAddIncr, nx = flags & kZAddNx, xx = flags & kZAddXx;
  bool gt = flags & kZAddGt, lt = flags & kZAddLt;
  *out = 0;
  SkipNode* node = is_listpack() ? nullptr : sl_->index.Find(member);
  std::optional<double> cur = node ? std::optional<double>(node->score) : (is_listpack() ? Score(member) : std::nullopt);
  if (cur) {
    if (nx) {
      *out = kZAddOutNop;
      return true;
    }
    if (incr) {
      score += *cur;
      if (std::isnan(score)) return false;
    }
    if ((lt && score >= *cur) || (gt && score <= *cur)) {
      *out = kZAddOutNop;
      return true;
    }
    if (new_score) *new_score = score;
    if (score != *cur) {
      if (node) {
        sl_->UpdateScore(node, score);
      } else {
        Remove(member);
        InsertNew(score, member);
      }
      *out = kZAddOutUpdated;
    }
    return true;
  }
  if (xx) {
    *out = kZAddOutNop;
    return true;
  }
  if (is_listpack() && (lp_count_ + 1 > MaxListpackEntries() || member.size() > MaxListpackValue()))
    ConvertToSkiplist();
  InsertNew(score, member);
  if (new_score) *new_score = score;
  *out = kZAddOutAdded;
  return true;
}

std::optional<size_t> ZsetObject::Rank(std::string_view member) const {
  if (is_listpack()) {
    size_t rank = 0;
    for (size_t off = 0; off < lp_bytes_; ++rank) {
      LpEntry e = GetEntry(lp_ + off);
      if (e.member == member) return rank;
      off += e.len;
    }
    return std::nullopt;
  }
  SkipNode* n = sl_->index.Find(member);
  if (!n) return std::nullopt;
  return sl_->RankOf(n) - 1;
}

size_t ZsetObject::CountScoreBelow(double s, bool inclusive) const {
  auto below = [&](double score) { return score < s || (inclusive && score <= s); };
  if (is_listpack()) {
    size_t count = 0;
    for (size_t off = 0; off < lp_bytes_; ++count) {
      LpEntry e = GetEntry(lp_ + off);
      if (!below(e.score)) break;
      off += e.len;
    }
    return count;
  }
  return sl_->CountPrefix([&](const SkipNode* n) { return below(n->score); });
}

std::pair<size_t, size_t> ZsetObject::ScoreRankRange(const ZScoreRange& r) const {
  size_t first = CountScoreBelow(r.min, r.min_ex);
  size_t last = CountScoreBelow(r.max, !r.max_ex);
  return {first, std::max(first, last)};
}

std::pair<size_t, size_t> ZsetObject::LexRankRange(const ZLexRange& r) const {
  if (is_listpack()) {
    // As Redis's listpack code: the first entry >= min, then entries while <= max.
    size_t rank = 0, off = 0;
    for (; off < lp_bytes_; ++rank) {
      LpEntry e = GetEntry(lp_ + off);
      if (r.GteMin(e.member)) break;
      off += e.len;
    }
    size_t first = rank;
    for (; off < lp_bytes_; ++rank) {
      LpEntry e = GetEntry(lp_ + off);
      if (!r.LteMax(e.member)) break;
      off += e.len;
    }
    return {first, rank};
  }
  size_t first = sl_->CountPrefix([&](const SkipNode* n) { return !r.GteMin(n->member.view()); });
  size_t last = sl_->CountPrefix([&](const SkipNode* n) { return r.LteMax(n->member.view()); });
  return {first, std::max(first, last)};
}

void ZsetObject::Walk(size_t first, size_t last, bool reverse, FunctionRef<bool(std::string_view, double)> fn) const {
  if (first >= last) return;
  if (is_listpack()) {
    size_t off = 0, rank = 0;
    for (; rank < first; ++rank) off += GetEntry(lp_ + off).len;
    if (!reverse) {
      for (; rank < last; ++rank) {
        LpEntry e = GetEntry(lp_ + off);
        if (!fn(e.member, e.score)) return;
        off += e.len;
      }
      return;
    }
    std::vector<uint32_t> offs;
    offs.reserve(last - first);
    for (; rank < last; ++rank) {
      offs.push_back(static_cast<uint32_t>(off));
      off += GetEntry(lp_ + off).len;
    }
    for (size_t i = offs.size(); i-- > 0;) {
      LpEntry e = GetEntry(lp_ + offs[i]);
      if (!fn(e.member, e.score)) return;
    }
    return;
  }
  if (!reverse) {
    SkipNode* n = sl_->ByRank(first + 1);
    for (size_t k = first; k < last && n; ++k, n = n->next(0))
      if (!fn(n->member.view(), n->score)) return;
    return;
  }
  SkipNode* n = sl_->ByRank(last);
  for (size_t k = last; k > first && n; --k, n = n->backward)
    if (!fn(n->member.view(), n->score)) return;
}

size_t ZsetObject::RemoveRankRange(size_t first, size_t last) {
  last = std::min(last, size());
  if (first >= last) return 0;
  size_t count = last - first;
  if (is_listpack()) {
    size_t off = 0, rank = 0;
    for (; rank < first; ++rank) off += GetEntry(lp_ + off).len;
    size_t end = off;
    for (; rank < last; ++rank) end += GetEntry(lp_ + end).len;
    std::memmove(lp_ + off, lp_ + end, lp_bytes_ - end);
    lp_bytes_ -= static_cast<uint32_t>(end - off);
    lp_count_ -= static_cast<uint32_t>(count);
    return count;
  }
  // Find the predecessors of rank `first` once; they stay the predecessors while the
  // following nodes are removed one by one.
  SkipNode* update[kMaxLevel];
  size_t traversed = 0;
  SkipNode* p = sl_->header;
  for (int i = sl_->level - 1; i >= 0; --i) {
    while (p->next(i) && traversed + p->link(i).span <= first) {
      traversed += p->link(i).span;
      p = p->next(i);
    }
    update[i] = p;
  }
  for (size_t k = 0; k < count; ++k) {
    SkipNode* x = update[0]->next(0);
    sl_->Unlink(x, update);
    sl_->index.Erase(x->member.view());
    sl_->node_bytes -= SkipNode::AllocSize(static_cast<int>(x->level)) + x->member.heap_bytes();
    SkipNode::Free(x);
  }
  return count;
}

uint64_t ZsetObject::Scan(uint64_t cursor, size_t count,
                          FunctionRef<void(std::string_view, std::string_view)> fn) const {
  if (is_listpack()) {
    for (size_t off = 0; off < lp_bytes_;) {
      LpEntry e = GetEntry(lp_ + off);
      fn(e.member, FormatScore(e.score));
      off += e.len;
    }
    return 0;
  }
  size_t visited = 0;
  // Like Redis's dictScan loop: whole home slots until `count` elements were offered,
  // with a bound on empty steps so a sparse table still answers quickly.
  size_t steps = 0;
  do {
    cursor = sl_->index.ScanStep(cursor, [&](SkipNode* n) {
      fn(n->member.view(), FormatScore(n->score));
      ++visited;
    });
    ++steps;
  } while (cursor != 0 && visited < count && steps < count * 10);
  return cursor;
}

// ---------------------------------------------------------------------------------
// collection_codec.h

std::unique_ptr<Object> NewZsetForLoad(uint64_t size_hint) {
  auto z = std::make_unique<ZsetObject>();
  if (size_hint > MaxListpackEntries()) z->ConvertToSkiplist();
  return z;
}

bool ZsetAddForLoad(Object& zset, std::string_view member, double score) {
  auto& z = static_cast<ZsetObject&>(zset);
  if (z.Score(member)) return false;
  // A listpack that grows past the thresholds while loading converts now, so a big
  // set never pays quadratic listpack inserts; OnLoaded settles the final encoding.
  if (z.is_listpack() && (z.size() + 1 > MaxListpackEntries() || member.size() > MaxListpackValue()))
    z.ConvertToSkiplist();
  z.InsertNew(score, member);
  return true;
}

size_t ZsetSize(const Object& zset) { return static_cast<const ZsetObject&>(zset).size(); }

void ZsetForEach(const Object& zset, const std::function<void(std::string_view, double)>& fn) {
  static_cast<const ZsetObject&>(zset).ForEach([&](std::string_view m, double s) {
    fn(m, s);
    return true;
  });
}

}  // namespace darter::store
