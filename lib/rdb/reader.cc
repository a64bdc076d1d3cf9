#include "rdb/reader.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "rdb/crc64.h"
#include "rdb/intset.h"
#include "rdb/listpack.h"
#include "rdb/lzf.h"
#include "rdb/ziplist.h"
#include "rdb/zipmap.h"

namespace darter::rdb {
namespace {

// Outcome of decoding one record: done, needs more bytes, or failed.
enum class R : uint8_t { kOk, kShort, kErr };

#define NEED(expr)                     \
  do {                                 \
    R need_r_ = (expr);                \
    if (need_r_ != R::kOk) return need_r_; \
  } while (0)

// Window over the bytes available for the record being decoded.
struct Cur {
  const uint8_t* p;      // next byte
  const uint8_t* begin;  // first byte of the record
  const uint8_t* end;
  size_t need = 0;       // on kShort: bytes the record needs, counted from begin
};

// A string as stored: raw bytes, an integer, or LZF-compressed bytes. Kept
// undecoded until the whole record is present, so a short read costs nothing.
struct RStr {
  enum Kind : uint8_t { kRaw, kInt, kLzf } kind = kRaw;
  const char* data = nullptr;  // raw or compressed bytes
  size_t len = 0;              // raw length or compressed length
  uint64_t ulen = 0;           // LZF: uncompressed length
  int64_t ival = 0;
  const uint8_t* at = nullptr;  // first byte of the encoding (for errors)
};

// Per-chunk scratch memory for element text that does not live in the input
// (integers turned into decimal text, LZF-decompressed elements). Reset
// after each chunk is handed to the sink.
class Arena {
 public:
  char* Alloc(size_t n) {
    if (n > kBlock / 4) {
      big_.emplace_back(new char[n]);
      used_bytes_ += n;
      return big_.back().get();
    }
    if (blocks_.empty() || kBlock - pos_ < n) {
      if (cur_ + 1 < blocks_.size()) {  // reuse a block kept from an earlier chunk
        ++cur_;
      } else {
        blocks_.emplace_back(new char[kBlock]);
        cur_ = blocks_.size() - 1;
      }
      pos_ = 0;
    }
    char* r = blocks_[cur_].get() + pos_;
    pos_ += n;
    used_bytes_ += n;
    return r;
  }
  void Reset() {
    cur_ = 0;
    pos_ = 0;
    big_.clear();
    used_bytes_ = 0;
    if (blocks_.size() > 4) blocks_.resize(4);  // keep a little for reuse
  }
  size_t used_bytes() const { return used_bytes_; }

 private:
  static constexpr size_t kBlock = 64 * 1024;
  std::vector<std::unique_ptr<char[]>> blocks_;
  std::vector<std::unique_ptr<char[]>> big_;
  size_t cur_ = 0;
  size_t pos_ = 0;
  size_t used_bytes_ = 0;
};

inline uint64_t LoadLE64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline uint64_t LoadBE64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

// Strings longer than this are refused outright rather than waited for
// (Redis's own limit is 512 MB by default).
constexpr uint64_t kMaxStringLen = uint64_t{1} << 36;

std::string Printable(std::string_view s) {
  std::string out;
  size_t n = std::min<size_t>(s.size(), 64);
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F && c != '\'' && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      static const char* kHex = "0123456789abcdef";
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  if (s.size() > n) out += "...";
  return out;
}

}  // namespace

class Reader::Impl {
 public:
  Impl(Sink* sink, ReaderOptions o) : sink_(sink), opt_(o) {
    if (opt_.chunk_elements == 0) opt_.chunk_elements = 1;
  }

  Status Feed(std::string_view data, size_t* consumed);
  Status Finish();

  enum class St : uint8_t {
    kMagic,
    kTop,
    kChecksum,
    kDone,
    kFailed,
    kKeyValue,        // type byte read: key (and for strings the value)
    kPlainCount,
    kPlainElems,
    kBlobValue,
    kQuickCount,
    kQuickNodes,
    kStreamCount,
    kStreamNodes,
    kStreamMeta,
    kStreamGroup,
    kStreamPel,
    kStreamConsumerCount,
    kStreamConsumer,
    kStreamConsumerPel,
    kModuleId,
    kModuleOps,
  };

  Sink* sink_;
  ReaderOptions opt_;
  St state_ = St::kMagic;
  Status status_;
  int version_ = 0;
  Flavor flavor_ = Flavor::kRedis;
  bool value_only_ = false;

  // Input bookkeeping.
  std::string buf_;        // unconsumed tail of earlier Feed calls
  size_t buf_pos_ = 0;
  size_t need_ = 0;        // bytes the pending record needs (from buf_pos_)
  uint64_t consumed_ = 0;  // file offset of the next record
  uint64_t fed_ = 0;       // bytes accepted by Feed

  // The region decoded by the current Run() call.
  const uint8_t* region_ = nullptr;
  uint64_t region_base_ = 0;
  const uint8_t* crc_from_ = nullptr;
  uint64_t crc_ = 0;
  uint64_t computed_crc_ = 0;

  // Current database and key modifiers awaiting their key.
  uint64_t db_ = 0;
  int64_t pending_expire_ = kNoExpire;
  int64_t pending_idle_ = -1;
  int pending_freq_ = -1;

  // Current key.
  KeyMeta meta_;
  std::string key_;
  bool in_value_ = false;
  uint8_t type_ = 0;
  uint64_t remaining_ = 0;
  uint64_t declared_ = 0;
  int64_t min_expire_ = 0;  // Redis 7.4 hash metadata base
  bool begun_ = false;      // BeginCollection sent
  uint64_t delivered_ = 0;  // elements handed to the sink for this key
  CollectionKind kind_ = CollectionKind::kList;
  uint64_t size_hint_ = 0;

  // Streams.
  uint64_t stream_live_ = 0;
  StreamId stream_last_entry_;
  StreamId stream_first_entry_;
  bool stream_has_entry_ = false;
  uint64_t groups_left_ = 0;
  uint64_t consumers_left_ = 0;

  // Modules.
  uint64_t module_id_ = 0;
  uint64_t module_start_ = 0;
  int module_when_ = 0;
  bool module_aux_ = false;

  // Pending chunk.
  enum class Chunk : uint8_t { kNone, kViews, kHash, kZSet, kEntries, kPel, kIds };
  Chunk chunk_ = Chunk::kNone;
  std::vector<std::string_view> views_;
  std::vector<HashField> hash_;
  std::vector<ZSetMember> zset_;
  struct PendingEntry {
    StreamId id;
    size_t first;
    size_t count;
  };
  std::vector<PendingEntry> entries_;
  std::vector<StreamEntry> entry_spans_;
  std::vector<StreamPendingEntry> pel_;
  std::vector<StreamId> ids_;
  Arena arena_;
  std::string blob_;     // decompressed blob of the current record
  std::string scratch_;  // decompressed key / value of the current record
  std::string scratch2_;

  // ---- helpers -----------------------------------------------------------
  uint64_t Off(const uint8_t* p) const { return region_base_ + static_cast<uint64_t>(p - region_); }

  std::string Context() const {
    if (!in_value_) return {};
    std::string s = " (key '";
    s += Printable(key_);
    s += "', type ";
    s += TypeCodeName(flavor_, type_);
    s += ")";
    return s;
  }
  R Err(const uint8_t* at, std::string_view what) {
    status_ = Status::Corrupt(Off(at), std::string(what) + Context());
    return R::kErr;
  }
  R ErrS(const uint8_t* at, const Status& inner) {
    return Err(at, inner.message());
  }
  // A sink refusal inside a value is reported at the key's offset: when a
  // chunk is handed over depends on how the input was split, and the
  // error must not.
  R SinkErr(const Status& s, const uint8_t* at) {
    status_ = Status::Corrupt(in_value_ ? meta_.offset : Off(at), "sink refused: " + s.message() + Context());
    return R::kErr;
  }

  static R Short(Cur& c, uint64_t n) {
    uint64_t have = static_cast<uint64_t>(c.p - c.begin);
    c.need = static_cast<size_t>(have + n);
    return R::kShort;
  }
  static R Bytes(Cur& c, size_t n, const uint8_t** out) {
    if (static_cast<size_t>(c.end - c.p) < n) return Short(c, n);
    *out = c.p;
    c.p += n;
    return R::kOk;
  }
  static R Byte(Cur& c, uint8_t* v) {
    if (c.p >= c.end) return Short(c, 1);
    *v = *c.p++;
    return R::kOk;
  }
  // Length encoding. With `special` non-null, 11xxxxxx forms are returned
  // as *special = true, *v = low six bits; otherwise they are an error.
  R Len(Cur& c, uint64_t* v, bool* special = nullptr) {
    if (c.p >= c.end) return Short(c, 1);
    const uint8_t* at = c.p;
    uint8_t b = *c.p;
    switch (b >> 6) {
      case 0:
        *v = b & 0x3F;
        c.p += 1;
        break;
      case 1:
        if (c.end - c.p < 2) return Short(c, 2);
        *v = (uint64_t{b & 0x3Fu} << 8) | c.p[1];
        c.p += 2;
        break;
      case 2:
        if (b == 0x80) {
          if (c.end - c.p < 5) return Short(c, 5);
          *v = uint64_t{c.p[1]} << 24 | uint64_t{c.p[2]} << 16 | uint64_t{c.p[3]} << 8 | c.p[4];
          c.p += 5;
        } else if (b == 0x81) {
          if (c.end - c.p < 9) return Short(c, 9);
          *v = LoadBE64(c.p + 1);
          c.p += 9;
        } else {
        {
          char buf[64];
          std::snprintf(buf, sizeof buf, "invalid length encoding byte 0x%02x", b);
          return Err(at, buf);
        }
        }
        break;
      default:
        if (!special) return Err(at, "expected a length, found a special string encoding");
        *special = true;
        *v = b & 0x3F;
        c.p += 1;
        return R::kOk;
    }
    if (special) *special = false;
    return R::kOk;
  }
  R Str(Cur& c, RStr* s) {
    s->at = c.p;
    uint64_t v;
    bool special;
    NEED(Len(c, &v, &special));
    if (!special) {
      if (v > kMaxStringLen) return Err(s->at, "string length " + std::to_string(v) + " is implausible");
      if (static_cast<uint64_t>(c.end - c.p) < v) return Short(c, v);
      s->kind = RStr::kRaw;
      s->data = reinterpret_cast<const char*>(c.p);
      s->len = static_cast<size_t>(v);
      c.p += v;
      return R::kOk;
    }
    switch (v) {
      case 0: {
        if (c.p >= c.end) return Short(c, 1);
        s->kind = RStr::kInt;
        s->ival = static_cast<int8_t>(*c.p);
        c.p += 1;
        return R::kOk;
      }
      case 1: {
        if (c.end - c.p < 2) return Short(c, 2);
        int16_t x;
        std::memcpy(&x, c.p, 2);
        s->kind = RStr::kInt;
        s->ival = x;
        c.p += 2;
        return R::kOk;
      }
      case 2: {
        if (c.end - c.p < 4) return Short(c, 4);
        int32_t x;
        std::memcpy(&x, c.p, 4);
        s->kind = RStr::kInt;
        s->ival = x;
        c.p += 4;
        return R::kOk;
      }
      case 3: {
        uint64_t clen, ulen;
        NEED(Len(c, &clen));
        NEED(Len(c, &ulen));
        if (clen > kMaxStringLen)
          return Err(s->at, "LZF compressed length " + std::to_string(clen) + " is implausible");
        if (ulen > clen * kLzfMaxExpansion)
          return Err(s->at, "LZF uncompressed length " + std::to_string(ulen) +
                                " cannot come from " + std::to_string(clen) + " compressed bytes");
        if (static_cast<uint64_t>(c.end - c.p) < clen) return Short(c, clen);
        s->kind = RStr::kLzf;
        s->data = reinterpret_cast<const char*>(c.p);
        s->len = static_cast<size_t>(clen);
        s->ulen = ulen;
        c.p += clen;
        return R::kOk;
      }
      default:
        return Err(s->at, "unknown special string encoding " + std::to_string(v));
    }
  }
  // Skips a string without decoding it; returns its stored size.
  R SkipStr(Cur& c, uint64_t* stored) {
    RStr s;
    NEED(Str(c, &s));
    *stored = static_cast<uint64_t>(c.p - s.at);
    return R::kOk;
  }

  // Materialisation: turn an RStr into text. The storage decides lifetime.
  // Into `dst` (replaced); returns a view that may point into the input.
  R Text(const RStr& s, std::string* dst, std::string_view* out) {
    switch (s.kind) {
      case RStr::kRaw:
        *out = std::string_view(s.data, s.len);
        return R::kOk;
      case RStr::kInt: {
        char buf[kIntTextMax];
        dst->assign(IntToText(s.ival, buf));
        *out = *dst;
        return R::kOk;
      }
      case RStr::kLzf: {
        std::string err;
        if (!LzfDecompress(std::string_view(s.data, s.len), static_cast<size_t>(s.ulen), dst, &err))
          return Err(s.at, err);
        *out = *dst;
        return R::kOk;
      }
    }
    return R::kOk;
  }
  // Into the chunk arena (valid until the chunk is flushed).
  R Keep(const RStr& s, std::string_view* out) {
    switch (s.kind) {
      case RStr::kRaw:
        *out = std::string_view(s.data, s.len);
        return R::kOk;
      case RStr::kInt: {
        char* b = arena_.Alloc(kIntTextMax);
        *out = IntToText(s.ival, b);
        return R::kOk;
      }
      case RStr::kLzf: {
        size_t n = static_cast<size_t>(s.ulen);
        char* b = arena_.Alloc(n == 0 ? 1 : n);
        std::string err;
        if (!LzfDecompressTo(std::string_view(s.data, s.len), b, n, &err)) return Err(s.at, err);
        *out = std::string_view(b, n);
        return R::kOk;
      }
    }
    return R::kOk;
  }
  std::string_view KeepInt(int64_t v) {
    char* b = arena_.Alloc(kIntTextMax);
    return IntToText(v, b);
  }
  std::string_view ElemText(const BlobElement& e) { return e.is_int ? KeepInt(e.ival) : e.str; }

  // ---- chunks --------------------------------------------------------------
  bool ChunkFull() const {
    size_t n = 0;
    switch (chunk_) {
      case Chunk::kViews: n = views_.size(); break;
      case Chunk::kHash: n = hash_.size(); break;
      case Chunk::kZSet: n = zset_.size(); break;
      case Chunk::kEntries: n = std::max(entries_.size(), views_.size() / 2); break;
      case Chunk::kPel: n = pel_.size(); break;
      case Chunk::kIds: n = ids_.size(); break;
      case Chunk::kNone: return false;
    }
    return n >= opt_.chunk_elements || arena_.used_bytes() >= opt_.chunk_bytes;
  }

  Status BeginIfNeeded() {
    if (begun_) return {};
    begun_ = true;
    return sink_->BeginCollection(meta_, key_, kind_, size_hint_);
  }

  // Hands the pending chunk to the sink. Called when the chunk is full, at
  // the end of a value, before any non-chunk sink call, and at the end of
  // every Run() (the views may point into input that is about to go away).
  Status FlushChunk() {
    Status s;
    switch (chunk_) {
      case Chunk::kNone:
        return {};
      case Chunk::kViews:
        if (views_.empty()) break;
        s = BeginIfNeeded();
        if (s.ok()) {
          delivered_ += views_.size();
          s = kind_ == CollectionKind::kList ? sink_->OnListElements(views_) : sink_->OnSetMembers(views_);
        }
        views_.clear();
        break;
      case Chunk::kHash:
        if (hash_.empty()) break;
        s = BeginIfNeeded();
        if (s.ok()) {
          delivered_ += hash_.size();
          s = sink_->OnHashFields(hash_);
        }
        hash_.clear();
        break;
      case Chunk::kZSet:
        if (zset_.empty()) break;
        s = BeginIfNeeded();
        if (s.ok()) {
          delivered_ += zset_.size();
          s = sink_->OnZSetMembers(zset_);
        }
        zset_.clear();
        break;
      case Chunk::kEntries:
        if (!entries_.empty()) {
          entry_spans_.clear();
          for (const auto& e : entries_)
            entry_spans_.push_back(StreamEntry{e.id, std::span<const std::string_view>(views_.data() + e.first, e.count)});
          s = sink_->OnStreamEntries(entry_spans_);
        }
        entries_.clear();
        views_.clear();
        break;
      case Chunk::kPel:
        if (!pel_.empty()) s = sink_->OnStreamPending(pel_);
        pel_.clear();
        break;
      case Chunk::kIds:
        if (!ids_.empty()) s = sink_->OnStreamConsumerPending(ids_);
        ids_.clear();
        break;
    }
    arena_.Reset();
    return s;
  }

  R Flush(const uint8_t* at) {
    Status s = FlushChunk();
    if (!s.ok()) return SinkErr(s, at);
    return R::kOk;
  }
  R MaybeFlush(const uint8_t* at) {
    if (ChunkFull()) return Flush(at);
    return R::kOk;
  }

  void EndValue() {
    in_value_ = false;
    chunk_ = Chunk::kNone;
    pending_expire_ = kNoExpire;
    pending_idle_ = -1;
    pending_freq_ = -1;
    state_ = value_only_ ? St::kDone : St::kTop;
  }

  // Ends a collection value: flushes, then EndCollection or, when nothing
  // was delivered, reports the empty key.
  R FinishCollection(const uint8_t* at) {
    NEED(Flush(at));
    Status s;
    if (begun_) {
      s = sink_->EndCollection();
    } else {
      s = sink_->OnEmptyKeySkipped(meta_, key_);
    }
    if (!s.ok()) return SinkErr(s, at);
    EndValue();
    return R::kOk;
  }

  void StartCollection(CollectionKind kind, uint64_t hint) {
    kind_ = kind;
    size_hint_ = hint;
    begun_ = false;
    delivered_ = 0;
    switch (kind) {
      case CollectionKind::kList:
      case CollectionKind::kSet: chunk_ = Chunk::kViews; break;
      case CollectionKind::kHash: chunk_ = Chunk::kHash; break;
      case CollectionKind::kZSet: chunk_ = Chunk::kZSet; break;
    }
  }

  // ---- records ---------------------------------------------------------------
  R Step(Cur& c);
  R StepMagic(Cur& c);
  R StepTop(Cur& c);
  R StepKeyValue(Cur& c);
  R StepPlainCount(Cur& c);
  R StepPlainElem(Cur& c);
  R StepBlobValue(Cur& c);
  R StepQuickNode(Cur& c);
  R StepStreamNode(Cur& c);
  R StepStreamMeta(Cur& c);
  R StepStreamGroup(Cur& c);
  R StepStreamPel(Cur& c);
  R StepStreamConsumer(Cur& c);
  R StepModuleOp(Cur& c);
  R AfterGroupsOrConsumers(const uint8_t* at);

  R DecodeBlob(std::string_view blob, const uint8_t* at);
  R DecodeZiplistNode(std::string_view blob, const uint8_t* at);
  R DecodeListpackNode(std::string_view blob, const uint8_t* at);
  R DecodeStreamNode(std::string_view node_key, std::string_view blob, const uint8_t* at);

  bool TypeKnown(uint8_t t) const {
    if (t <= 5 || t == 7 || (t >= 9 && t <= 21)) return true;
    if (flavor_ == Flavor::kValkey) return t == kTypeValkeyHash2;
    return t >= 22 && t <= 25 && version_ >= 12;
  }

  void Run(const uint8_t* data, size_t n, size_t* used);
  const char* StateName() const;
};

const char* Reader::Impl::StateName() const {
  switch (state_) {
    case St::kMagic: return "the magic string";
    case St::kTop: return "the next record (opcode or key)";
    case St::kChecksum: return "the checksum";
    case St::kDone: return "nothing";
    case St::kFailed: return "nothing";
    case St::kKeyValue: return "a key";
    case St::kPlainCount: case St::kQuickCount: case St::kStreamCount: return "an element count";
    case St::kPlainElems: return "collection elements";
    case St::kBlobValue: return "an encoded value";
    case St::kQuickNodes: return "a quicklist node";
    case St::kStreamNodes: return "a stream node";
    case St::kStreamMeta: return "stream metadata";
    case St::kStreamGroup: return "a stream consumer group";
    case St::kStreamPel: return "a stream PEL entry";
    case St::kStreamConsumerCount: return "a stream consumer count";
    case St::kStreamConsumer: return "a stream consumer";
    case St::kStreamConsumerPel: return "a stream consumer PEL entry";
    case St::kModuleId: case St::kModuleOps: return "a module record";
  }
  return "?";
}

R Reader::Impl::Step(Cur& c) {
  switch (state_) {
    case St::kMagic: return StepMagic(c);
    case St::kTop: return StepTop(c);
    case St::kKeyValue: return StepKeyValue(c);
    case St::kPlainCount: return StepPlainCount(c);
    case St::kPlainElems: return StepPlainElem(c);
    case St::kBlobValue: return StepBlobValue(c);
    case St::kQuickCount: {
      const uint8_t* at = c.p;
      uint64_t n;
      NEED(Len(c, &n));
      remaining_ = n;
      StartCollection(CollectionKind::kList, 0);
      if (n == 0) return FinishCollection(at);
      state_ = St::kQuickNodes;
      return R::kOk;
    }
    case St::kQuickNodes: return StepQuickNode(c);
    case St::kStreamCount: {
      const uint8_t* at = c.p;
      uint64_t n;
      NEED(Len(c, &n));
      remaining_ = n;
      stream_live_ = 0;
      stream_has_entry_ = false;
      stream_last_entry_ = {};
      stream_first_entry_ = {};
      Status s = sink_->BeginStream(meta_, key_);
      if (!s.ok()) return SinkErr(s, at);
      chunk_ = Chunk::kEntries;
      state_ = n ? St::kStreamNodes : St::kStreamMeta;
      return R::kOk;
    }
    case St::kStreamNodes: return StepStreamNode(c);
    case St::kStreamMeta: return StepStreamMeta(c);
    case St::kStreamGroup: return StepStreamGroup(c);
    case St::kStreamPel: return StepStreamPel(c);
    case St::kStreamConsumerCount: {
      const uint8_t* at = c.p;
      uint64_t n;
      NEED(Len(c, &n));
      consumers_left_ = n;
      return AfterGroupsOrConsumers(at);
    }
    case St::kStreamConsumer: return StepStreamConsumer(c);
    case St::kStreamConsumerPel: {
      const uint8_t* at = c.p;
      const uint8_t* raw;
      NEED(Bytes(c, 16, &raw));
      ids_.push_back(StreamId{LoadBE64(raw), LoadBE64(raw + 8)});
      if (--remaining_ == 0) {
        NEED(Flush(at));
        return AfterGroupsOrConsumers(at);
      }
      return MaybeFlush(at);
    }
    case St::kModuleId: {
      const uint8_t* at = c.p;
      uint64_t id;
      NEED(Len(c, &id));
      module_id_ = id;
      module_aux_ = false;
      if (opt_.module_policy == ModulePolicy::kFail)
        return Err(at, "module value of module type '" + ModuleTypeName(id) +
                           "' cannot be loaded (module values are refused by default)");
      state_ = St::kModuleOps;
      return R::kOk;
    }
    case St::kModuleOps: return StepModuleOp(c);
    case St::kChecksum: {
      const uint8_t* raw;
      NEED(Bytes(c, 8, &raw));
      crc_from_ = c.p;  // the trailer is not part of its own checksum
      uint64_t stored = LoadLE64(raw);
      EndInfo info;
      info.rdb_version = version_;
      info.stored_checksum = stored;
      info.computed_checksum = computed_crc_;
      if (stored != 0 && opt_.verify_checksum) {
        if (stored != computed_crc_) {
          char buf[80];
          std::snprintf(buf, sizeof buf, "checksum mismatch: stored %016llx, computed %016llx",
                        static_cast<unsigned long long>(stored),
                        static_cast<unsigned long long>(computed_crc_));
          return Err(raw, buf);
        }
        info.checksum_verified = true;
      }
      info.bytes = Off(c.p);
      state_ = St::kDone;
      Status s = sink_->OnEnd(info);
      if (!s.ok()) return SinkErr(s, raw);
      return R::kOk;
    }
    case St::kDone:
    case St::kFailed:
      return R::kErr;
  }
  return R::kErr;
}

R Reader::Impl::StepMagic(Cur& c) {
  const uint8_t* m;
  NEED(Bytes(c, 9, &m));
  auto digits = [&](const uint8_t* d, int n, int* v) {
    *v = 0;
    for (int i = 0; i < n; ++i) {
      if (d[i] < '0' || d[i] > '9') return false;
      *v = *v * 10 + (d[i] - '0');
    }
    return true;
  };
  int v;
  if (std::memcmp(m, "REDIS", 5) == 0) {
    if (!digits(m + 5, 4, &v)) return Err(m, "bad version digits after the REDIS magic");
    if (v < kMinRedisVersion || v > kMaxRedisVersion)
      return Err(m, "unsupported RDB version " + std::to_string(v) + " (this reader handles 1 to " +
                        std::to_string(kMaxRedisVersion) + ")");
    flavor_ = Flavor::kRedis;
  } else if (std::memcmp(m, "VALKEY", 6) == 0) {
    if (!digits(m + 6, 3, &v)) return Err(m, "bad version digits after the VALKEY magic");
    if (v != kValkeyVersion)
      return Err(m, "unsupported Valkey RDB version " + std::to_string(v) + " (this reader handles " +
                        std::to_string(kValkeyVersion) + ")");
    flavor_ = Flavor::kValkey;
  } else {
    return Err(m, "not an RDB file (magic string is neither REDIS nor VALKEY)");
  }
  version_ = v;
  state_ = St::kTop;
  return R::kOk;
}

R Reader::Impl::StepTop(Cur& c) {
  const uint8_t* at = c.p;
  uint8_t op = 0;
  NEED(Byte(c, &op));
  if (value_only_ && op >= kOpSlotImport) return Err(at, "opcode inside a DUMP payload");
  switch (op) {
    case kOpEof: {
      crc_ = Crc64(crc_, crc_from_, static_cast<size_t>(c.p - crc_from_));
      crc_from_ = c.p;
      computed_crc_ = crc_;
      if (version_ >= 5) {
        state_ = St::kChecksum;
        return R::kOk;
      }
      state_ = St::kDone;
      EndInfo info;
      info.rdb_version = version_;
      info.computed_checksum = computed_crc_;
      info.bytes = Off(c.p);
      Status s = sink_->OnEnd(info);
      if (!s.ok()) return SinkErr(s, at);
      return R::kOk;
    }
    case kOpSelectDb: {
      uint64_t db;
      NEED(Len(c, &db));
      db_ = db;
      Status s = sink_->OnSelectDb(db);
      if (!s.ok()) return SinkErr(s, at);
      return R::kOk;
    }
    case kOpResizeDb: {
      uint64_t a, b;
      NEED(Len(c, &a));
      NEED(Len(c, &b));
      Status s = sink_->OnResizeDb(a, b);
      if (!s.ok()) return SinkErr(s, at);
      return R::kOk;
    }
    case kOpExpireTime: {
      const uint8_t* raw;
      NEED(Bytes(c, 4, &raw));
      int32_t secs;
      std::memcpy(&secs, raw, 4);
      pending_expire_ = int64_t{secs} * 1000;
      return R::kOk;
    }
    case kOpExpireTimeMs: {
      const uint8_t* raw;
      NEED(Bytes(c, 8, &raw));
      pending_expire_ = static_cast<int64_t>(LoadLE64(raw));
      return R::kOk;
    }
    case kOpIdle: {
      uint64_t idle;
      NEED(Len(c, &idle));
      pending_idle_ = static_cast<int64_t>(idle);
      return R::kOk;
    }
    case kOpFreq: {
      uint8_t f;
      NEED(Byte(c, &f));
      pending_freq_ = f;
      return R::kOk;
    }
    case kOpAux: {
      RStr k, v;
      NEED(Str(c, &k));
      NEED(Str(c, &v));
      std::string_view ks, vs;
      NEED(Text(k, &scratch_, &ks));
      NEED(Text(v, &scratch2_, &vs));
      Status s = sink_->OnAux(ks, vs);
      if (!s.ok()) return SinkErr(s, at);
      return R::kOk;
    }
    case kOpModuleAux: {
      uint64_t id, when_op, when;
      NEED(Len(c, &id));
      NEED(Len(c, &when_op));
      NEED(Len(c, &when));
      if (when_op != 2) return Err(at, "MODULE_AUX record without its 'when' marker");
      if (opt_.module_policy == ModulePolicy::kFail)
        return Err(at, "MODULE_AUX data of module type '" + ModuleTypeName(id) +
                           "' cannot be loaded (module data is refused by default)");
      module_id_ = id;
      module_when_ = static_cast<int>(when);
      module_start_ = Off(at);
      module_aux_ = true;
      state_ = St::kModuleOps;
      return R::kOk;
    }
    case kOpFunction2: {
      if (flavor_ == Flavor::kRedis && version_ < 10) return Err(at, "FUNCTION2 opcode in an RDB older than version 10");
      RStr src;
      NEED(Str(c, &src));
      std::string_view sv;
      NEED(Text(src, &scratch_, &sv));
      Status s = sink_->OnFunction(sv);
      if (!s.ok()) return SinkErr(s, at);
      return R::kOk;
    }
    case kOpFunctionPreGa: {
      // Redis 7.0 release candidates: name, engine, optional description, code.
      if (flavor_ != Flavor::kRedis || version_ < 10) return Err(at, "FUNCTION opcode in an RDB older than version 10");
      RStr name, engine, desc, code;
      uint64_t has_desc;
      NEED(Str(c, &name));
      NEED(Str(c, &engine));
      NEED(Len(c, &has_desc));
      if (has_desc) NEED(Str(c, &desc));
      NEED(Str(c, &code));
      std::string_view n, e, cd;
      std::string tmp;
      NEED(Text(name, &scratch_, &n));
      NEED(Text(engine, &scratch2_, &e));
      NEED(Text(code, &tmp, &cd));
      // Same conversion Redis 7.0 GA applies: a library whose shebang names it.
      std::string lib = "#!" + std::string(e) + " name=" + std::string(n) + "\n" + std::string(cd);
      Status s = sink_->OnFunction(lib);
      if (!s.ok()) return SinkErr(s, at);
      return R::kOk;
    }
    case kOpSlotInfo: {
      if (flavor_ == Flavor::kRedis && version_ < 12) return Err(at, "SLOT_INFO opcode in an RDB older than version 12");
      uint64_t slot, size, esize;
      NEED(Len(c, &slot));
      NEED(Len(c, &size));
      NEED(Len(c, &esize));
      Status s = sink_->OnSlotInfo(slot, size, esize);
      if (!s.ok()) return SinkErr(s, at);
      return R::kOk;
    }
    case kOpSlotImport:
      return Err(at, "opcode 243 (Valkey SLOT_IMPORT / Redis KEY_META) is not supported");
    default:
      break;
  }
  // A value type byte.
  if (op == kTypeModulePreGa)
    return Err(at, "type 6 (pre-GA module value) cannot be skipped without its module");
  if (!TypeKnown(op))
    return Err(at, "unknown value type " + std::to_string(op) + " for " +
                       (flavor_ == Flavor::kValkey ? "Valkey" : "Redis") + " RDB version " +
                       std::to_string(version_));
  type_ = op;
  meta_ = KeyMeta{};
  meta_.db = db_;
  meta_.expire_ms = pending_expire_;
  meta_.lru_idle_s = pending_idle_;
  meta_.lfu_freq = pending_freq_;
  meta_.rdb_type = op;
  meta_.offset = Off(at);
  state_ = St::kKeyValue;
  // The type byte belongs to this record: if the key is incomplete, retry
  // from the type byte.
  R r = StepKeyValue(c);
  if (r == R::kShort) state_ = St::kTop;
  return r;
}

// The key, plus the whole value for strings (one record).
R Reader::Impl::StepKeyValue(Cur& c) {
  const uint8_t* at = c.p;
  RStr k;
  if (!value_only_) NEED(Str(c, &k));
  if (type_ == kTypeString) {
    RStr v;
    NEED(Str(c, &v));
    std::string_view ks, vs;
    if (!value_only_) NEED(Text(k, &scratch_, &ks));
    in_value_ = true;
    key_.assign(ks);
    NEED(Text(v, &scratch2_, &vs));
    Status s = sink_->OnString(meta_, ks, vs);
    if (!s.ok()) return SinkErr(s, at);
    EndValue();
    return R::kOk;
  }
  if (!value_only_) {
    std::string_view ks;
    NEED(Text(k, &scratch_, &ks));
    key_.assign(ks);
  } else {
    key_.clear();
  }
  in_value_ = true;
  switch (type_) {
    case kTypeList: case kTypeSet: case kTypeZSet: case kTypeHash: case kTypeZSet2:
    case kTypeHashMetadataPreGa: case kTypeHashMetadata:
      state_ = St::kPlainCount;
      break;
    case kTypeListQuicklist: case kTypeListQuicklist2:
      state_ = St::kQuickCount;
      break;
    case kTypeStreamListpacks: case kTypeStreamListpacks2: case kTypeStreamListpacks3:
      state_ = St::kStreamCount;
      break;
    case kTypeModule2:
      state_ = St::kModuleId;
      break;
    default:
      state_ = St::kBlobValue;
      break;
  }
  return R::kOk;
}

R Reader::Impl::StepPlainCount(Cur& c) {
  const uint8_t* at = c.p;
  if (type_ == kTypeHashMetadata && flavor_ == Flavor::kRedis) {
    const uint8_t* raw;
    NEED(Bytes(c, 8, &raw));
    uint64_t n;
    NEED(Len(c, &n));
    min_expire_ = static_cast<int64_t>(LoadLE64(raw));
    remaining_ = n;
  } else {
    uint64_t n;
    NEED(Len(c, &n));
    remaining_ = n;
  }
  declared_ = remaining_;
  CollectionKind kind;
  switch (type_) {
    case kTypeList: kind = CollectionKind::kList; break;
    case kTypeSet: kind = CollectionKind::kSet; break;
    case kTypeZSet: case kTypeZSet2: kind = CollectionKind::kZSet; break;
    default: kind = CollectionKind::kHash; break;
  }
  StartCollection(kind, remaining_);
  if (remaining_ == 0) return FinishCollection(at);
  state_ = St::kPlainElems;
  return R::kOk;
}

R Reader::Impl::StepPlainElem(Cur& c) {
  const uint8_t* at = c.p;
  switch (type_) {
    case kTypeList:
    case kTypeSet: {
      RStr s;
      NEED(Str(c, &s));
      std::string_view v;
      NEED(Keep(s, &v));
      views_.push_back(v);
      break;
    }
    case kTypeHash: {
      RStr f, v;
      NEED(Str(c, &f));
      NEED(Str(c, &v));
      HashField h;
      NEED(Keep(f, &h.field));
      NEED(Keep(v, &h.value));
      hash_.push_back(h);
      break;
    }
    case kTypeZSet: {
      RStr m;
      NEED(Str(c, &m));
      uint8_t len;
      NEED(Byte(c, &len));
      double score;
      if (len == 253) return Err(at, "NaN score");
      if (len == 254) {
        score = HUGE_VAL;
      } else if (len == 255) {
        score = -HUGE_VAL;
      } else {
        const uint8_t* txt;
        NEED(Bytes(c, len, &txt));
        if (!ParseScore(std::string_view(reinterpret_cast<const char*>(txt), len), &score))
          return Err(txt, "score is not a number");
      }
      ZSetMember z;
      NEED(Keep(m, &z.member));
      z.score = score;
      zset_.push_back(z);
      break;
    }
    case kTypeZSet2: {
      RStr m;
      NEED(Str(c, &m));
      const uint8_t* raw;
      NEED(Bytes(c, 8, &raw));
      double score;
      std::memcpy(&score, raw, 8);
      if (std::isnan(score)) return Err(raw, "NaN score");
      ZSetMember z;
      NEED(Keep(m, &z.member));
      z.score = score;
      zset_.push_back(z);
      break;
    }
    default: {
      // Hashes with per-field TTLs.
      RStr f, v;
      HashField h;
      if (flavor_ == Flavor::kValkey) {  // HASH_2: field, value, 8-byte expiry (-1 = none)
        NEED(Str(c, &f));
        NEED(Str(c, &v));
        const uint8_t* raw;
        NEED(Bytes(c, 8, &raw));
        int64_t e = static_cast<int64_t>(LoadLE64(raw));
        h.expire_ms = e == -1 ? kNoExpire : e;
        if (e < -1) return Err(raw, "negative field expiry");
      } else {  // Redis 7.4: ttl (length; 0 = none), field, value
        uint64_t ttl;
        NEED(Len(c, &ttl));
        NEED(Str(c, &f));
        NEED(Str(c, &v));
        if (ttl == 0) {
          h.expire_ms = kNoExpire;
        } else if (type_ == kTypeHashMetadata) {
          h.expire_ms = static_cast<int64_t>(ttl + static_cast<uint64_t>(min_expire_) - 1);
        } else {
          h.expire_ms = static_cast<int64_t>(ttl);
        }
      }
      NEED(Keep(f, &h.field));
      NEED(Keep(v, &h.value));
      hash_.push_back(h);
      break;
    }
  }
  if (--remaining_ == 0) return FinishCollection(at);
  return MaybeFlush(at);
}

R Reader::Impl::StepBlobValue(Cur& c) {
  const uint8_t* at = c.p;
  const uint8_t* raw = nullptr;
  if (type_ == kTypeHashListpackEx) NEED(Bytes(c, 8, &raw));
  RStr b;
  NEED(Str(c, &b));
  if (raw) min_expire_ = static_cast<int64_t>(LoadLE64(raw));
  std::string_view blob;
  NEED(Text(b, &blob_, &blob));
  (void)at;
  return DecodeBlob(blob, b.at);
}

R Reader::Impl::DecodeBlob(std::string_view blob, const uint8_t* at) {
  BlobElement e;
  switch (type_) {
    case kTypeHashZipmap: {
      StartCollection(CollectionKind::kHash, 0);
      ZipmapReader zm;
      if (Status s = zm.Init(blob); !s.ok()) return ErrS(at, s);
      std::string_view f, v;
      while (zm.Next(&f, &v)) {
        hash_.push_back(HashField{f, v, kNoExpire});
        NEED(MaybeFlush(at));
      }
      if (!zm.status().ok()) return ErrS(at, zm.status());
      break;
    }
    case kTypeSetIntset: {
      StartCollection(CollectionKind::kSet, 0);
      IntsetReader is;
      if (Status s = is.Init(blob); !s.ok()) return ErrS(at, s);
      size_hint_ = is.length();
      int64_t v;
      while (is.Next(&v)) {
        views_.push_back(KeepInt(v));
        NEED(MaybeFlush(at));
      }
      if (!is.status().ok()) return ErrS(at, is.status());
      break;
    }
    case kTypeListZiplist:
    case kTypeZSetZiplist:
    case kTypeHashZiplist: {
      ZiplistReader zl;
      if (Status s = zl.Init(blob); !s.ok()) return ErrS(at, s);
      uint32_t n = zl.declared_count() == 65535 ? 0 : zl.declared_count();
      if (type_ == kTypeListZiplist) {
        StartCollection(CollectionKind::kList, n);
        while (zl.Next(&e)) {
          views_.push_back(ElemText(e));
          NEED(MaybeFlush(at));
        }
      } else {
        StartCollection(type_ == kTypeZSetZiplist ? CollectionKind::kZSet : CollectionKind::kHash, n / 2);
        BlobElement e2;
        while (zl.Next(&e)) {
          if (!zl.Next(&e2)) {
            if (!zl.status().ok()) return ErrS(at, zl.status());
            return Err(at, "ziplist has an odd number of entries");
          }
          if (type_ == kTypeZSetZiplist) {
            double score;
            if (e2.is_int) {
              score = static_cast<double>(e2.ival);
            } else if (!ParseScore(e2.str, &score)) {
              return Err(at, "ziplist score is not a number");
            }
            zset_.push_back(ZSetMember{ElemText(e), score});
          } else {
            hash_.push_back(HashField{ElemText(e), ElemText(e2), kNoExpire});
          }
          NEED(MaybeFlush(at));
        }
      }
      if (!zl.status().ok()) return ErrS(at, zl.status());
      break;
    }
    case kTypeHashListpack:
    case kTypeZSetListpack:
    case kTypeSetListpack:
    case kTypeHashListpackExPreGa:
    case kTypeHashListpackEx: {
      ListpackReader lp;
      if (Status s = lp.Init(blob); !s.ok()) return ErrS(at, s);
      uint32_t n = lp.declared_count() == 65535 ? 0 : lp.declared_count();
      if (type_ == kTypeSetListpack) {
        StartCollection(CollectionKind::kSet, n);
        while (lp.Next(&e)) {
          views_.push_back(ElemText(e));
          NEED(MaybeFlush(at));
        }
      } else if (type_ == kTypeZSetListpack || type_ == kTypeHashListpack) {
        StartCollection(type_ == kTypeZSetListpack ? CollectionKind::kZSet : CollectionKind::kHash, n / 2);
        BlobElement e2;
        while (lp.Next(&e)) {
          if (!lp.Next(&e2)) {
            if (!lp.status().ok()) return ErrS(at, lp.status());
            return Err(at, "listpack has an odd number of elements");
          }
          if (type_ == kTypeZSetListpack) {
            double score;
            if (e2.is_int) {
              score = static_cast<double>(e2.ival);
            } else if (!ParseScore(e2.str, &score)) {
              return Err(at, "listpack score is not a number");
            }
            zset_.push_back(ZSetMember{ElemText(e), score});
          } else {
            hash_.push_back(HashField{ElemText(e), ElemText(e2), kNoExpire});
          }
          NEED(MaybeFlush(at));
        }
      } else {
        // field, value, ttl triplets; ttl is absolute ms, 0 = none.
        StartCollection(CollectionKind::kHash, n / 3);
        BlobElement e2, e3;
        while (lp.Next(&e)) {
          if (!lp.Next(&e2) || !lp.Next(&e3)) {
            if (!lp.status().ok()) return ErrS(at, lp.status());
            return Err(at, "listpack element count is not a multiple of 3");
          }
          int64_t ttl;
          if (e3.is_int) {
            ttl = e3.ival;
          } else if (!ParseCanonicalInt64(e3.str, &ttl)) {
            return Err(at, "field TTL is not an integer");
          }
          if (ttl < 0) return Err(at, "negative field TTL");
          hash_.push_back(HashField{ElemText(e), ElemText(e2), ttl == 0 ? kNoExpire : ttl});
          NEED(MaybeFlush(at));
        }
      }
      if (!lp.status().ok()) return ErrS(at, lp.status());
      break;
    }
    default:
      return Err(at, "internal: unexpected blob type");
  }
  return FinishCollection(at);
}

R Reader::Impl::DecodeZiplistNode(std::string_view blob, const uint8_t* at) {
  ZiplistReader zl;
  if (Status s = zl.Init(blob); !s.ok()) return ErrS(at, s);
  BlobElement e;
  while (zl.Next(&e)) {
    views_.push_back(ElemText(e));
    NEED(MaybeFlush(at));
  }
  if (!zl.status().ok()) return ErrS(at, zl.status());
  return R::kOk;
}

R Reader::Impl::DecodeListpackNode(std::string_view blob, const uint8_t* at) {
  ListpackReader lp;
  if (Status s = lp.Init(blob); !s.ok()) return ErrS(at, s);
  BlobElement e;
  while (lp.Next(&e)) {
    views_.push_back(ElemText(e));
    NEED(MaybeFlush(at));
  }
  if (!lp.status().ok()) return ErrS(at, lp.status());
  return R::kOk;
}

R Reader::Impl::StepQuickNode(Cur& c) {
  const uint8_t* at = c.p;
  uint64_t container = 2;
  if (type_ == kTypeListQuicklist2) NEED(Len(c, &container));
  RStr b;
  NEED(Str(c, &b));
  if (type_ == kTypeListQuicklist2 && container != 1 && container != 2)
    return Err(at, "quicklist node container " + std::to_string(container) + " is neither PLAIN (1) nor PACKED (2)");
  if (container == 1) {  // PLAIN: the string is one element
    std::string_view v;
    NEED(Keep(b, &v));
    views_.push_back(v);
  } else {
    std::string_view blob;
    NEED(Text(b, &blob_, &blob));
    if (type_ == kTypeListQuicklist) {
      NEED(DecodeZiplistNode(blob, b.at));
    } else {
      NEED(DecodeListpackNode(blob, b.at));
    }
    // Views may point into blob_, which the next node reuses.
    if (b.kind != RStr::kRaw) NEED(Flush(at));
  }
  if (--remaining_ == 0) return FinishCollection(at);
  return MaybeFlush(at);
}

R Reader::Impl::DecodeStreamNode(std::string_view node_key, std::string_view blob, const uint8_t* at) {
  if (node_key.size() != 16)
    return Err(at, "stream node key has " + std::to_string(node_key.size()) + " bytes, expected 16");
  const auto* kp = reinterpret_cast<const uint8_t*>(node_key.data());
  const StreamId master{LoadBE64(kp), LoadBE64(kp + 8)};
  ListpackReader lp;
  if (Status s = lp.Init(blob); !s.ok()) return ErrS(at, s);
  BlobElement e;
  auto next_int = [&](int64_t* v, const char* what) -> R {
    if (!lp.Next(&e)) {
      if (!lp.status().ok()) return ErrS(at, lp.status());
      return Err(at, std::string("stream node ends before ") + what);
    }
    if (e.is_int) {
      *v = e.ival;
    } else if (!ParseCanonicalInt64(e.str, v)) {
      return Err(at, std::string("stream node: ") + what + " is not an integer");
    }
    return R::kOk;
  };
  auto next_any = [&](BlobElement* out, const char* what) -> R {
    if (!lp.Next(out)) {
      if (!lp.status().ok()) return ErrS(at, lp.status());
      return Err(at, std::string("stream node ends before ") + what);
    }
    return R::kOk;
  };
  int64_t count, deleted, nfields;
  NEED(next_int(&count, "the master entry count"));
  NEED(next_int(&deleted, "the deleted count"));
  NEED(next_int(&nfields, "the master field count"));
  if (count < 0 || deleted < 0 || nfields < 0 || static_cast<uint64_t>(nfields) > blob.size())
    return Err(at, "stream node master entry has invalid counts");
  if (count + deleted == 0) return Err(at, "empty stream node");
  // Master fields stay valid (views into the blob or the arena) for the whole
  // node, so keep them aside; the arena is reset only when a chunk flushes.
  std::vector<std::string_view> master_fields;
  std::vector<BlobElement> master_raw(static_cast<size_t>(nfields));
  for (int64_t i = 0; i < nfields; ++i) NEED(next_any(&master_raw[static_cast<size_t>(i)], "a master field"));
  int64_t term;
  NEED(next_int(&term, "the master terminator"));
  if (term != 0) return Err(at, "stream node master entry terminator is not 0");
  int64_t live = 0, dead = 0;
  while (true) {
    if (!lp.Next(&e)) {
      if (!lp.status().ok()) return ErrS(at, lp.status());
      break;
    }
    int64_t flags;
    if (e.is_int) flags = e.ival;
    else if (!ParseCanonicalInt64(e.str, &flags)) return Err(at, "stream entry flags are not an integer");
    int64_t ms_diff, seq_diff;
    NEED(next_int(&ms_diff, "an entry ms delta"));
    NEED(next_int(&seq_diff, "an entry seq delta"));
    const bool same = flags & 2;
    const bool del = flags & 1;
    int64_t n = nfields;
    if (!same) {
      NEED(next_int(&n, "an entry field count"));
      if (n < 0 || static_cast<uint64_t>(n) > blob.size()) return Err(at, "stream entry field count is invalid");
    }
    StreamId id{master.ms + static_cast<uint64_t>(ms_diff), master.seq + static_cast<uint64_t>(seq_diff)};
    if (stream_has_entry_ && !(stream_last_entry_ < id))
      return Err(at, "stream entry ids are not strictly increasing");
    size_t first = views_.size();
    BlobElement v;
    for (int64_t i = 0; i < n; ++i) {
      if (same) {
        NEED(next_any(&v, "an entry value"));
        if (!del) {
          views_.push_back(ElemText(master_raw[static_cast<size_t>(i)]));
          views_.push_back(ElemText(v));
        }
      } else {
        BlobElement f;
        NEED(next_any(&f, "an entry field"));
        NEED(next_any(&v, "an entry value"));
        if (!del) {
          views_.push_back(ElemText(f));
          views_.push_back(ElemText(v));
        }
      }
    }
    int64_t lp_count;
    NEED(next_int(&lp_count, "an entry lp-count"));
    int64_t expect = same ? n + 3 : 2 * n + 4;
    if (lp_count != expect) return Err(at, "stream entry lp-count " + std::to_string(lp_count) + " does not match its size");
    stream_last_entry_ = id;
    stream_has_entry_ = true;
    if (del) {
      ++dead;
      continue;
    }
    if (stream_live_ == 0) stream_first_entry_ = id;
    ++live;
    ++stream_live_;
    entries_.push_back(PendingEntry{id, first, views_.size() - first});
    if (ChunkFull()) {
      // Master field texts may live in the arena, which the flush resets;
      // ElemText re-creates them for later entries, so this is safe.
      NEED(Flush(at));
    }
  }
  if (live != count || dead != deleted)
    return Err(at, "stream node counts " + std::to_string(count) + " live / " + std::to_string(deleted) +
                       " deleted entries but holds " + std::to_string(live) + " / " + std::to_string(dead));
  return R::kOk;
}

R Reader::Impl::StepStreamNode(Cur& c) {
  const uint8_t* at = c.p;
  RStr k, b;
  NEED(Str(c, &k));
  NEED(Str(c, &b));
  std::string_view key, blob;
  NEED(Text(k, &scratch2_, &key));
  NEED(Text(b, &blob_, &blob));
  NEED(DecodeStreamNode(key, blob, b.at));
  if (b.kind != RStr::kRaw || k.kind != RStr::kRaw) NEED(Flush(at));
  if (--remaining_ == 0) state_ = St::kStreamMeta;
  return MaybeFlush(at);
}

R Reader::Impl::StepStreamMeta(Cur& c) {
  const uint8_t* at = c.p;
  StreamMeta m;
  uint64_t groups;
  NEED(Len(c, &m.length));
  NEED(Len(c, &m.last_id.ms));
  NEED(Len(c, &m.last_id.seq));
  if (type_ != kTypeStreamListpacks) {
    NEED(Len(c, &m.first_id.ms));
    NEED(Len(c, &m.first_id.seq));
    NEED(Len(c, &m.max_deleted_id.ms));
    NEED(Len(c, &m.max_deleted_id.seq));
    NEED(Len(c, &m.entries_added));
    m.exact_v7_fields = true;
  } else {
    m.first_id = stream_live_ ? stream_first_entry_ : StreamId{};
    m.entries_added = m.length;
  }
  NEED(Len(c, &groups));
  if (m.length != stream_live_)
    return Err(at, "stream length " + std::to_string(m.length) + " but " + std::to_string(stream_live_) +
                       " live entries in its nodes");
  if (stream_has_entry_ && m.last_id < stream_last_entry_)
    return Err(at, "stream last_id is smaller than its last entry id");
  NEED(Flush(at));
  Status s = sink_->OnStreamMeta(m);
  if (!s.ok()) return SinkErr(s, at);
  groups_left_ = groups;
  consumers_left_ = 0;
  return AfterGroupsOrConsumers(at);
}

// Decides what follows once a group's PEL or a consumer is complete.
R Reader::Impl::AfterGroupsOrConsumers(const uint8_t* at) {
  if (consumers_left_ > 0) {
    state_ = St::kStreamConsumer;
    return R::kOk;
  }
  if (groups_left_ > 0) {
    state_ = St::kStreamGroup;
    return R::kOk;
  }
  NEED(Flush(at));
  Status s = sink_->EndStream();
  if (!s.ok()) return SinkErr(s, at);
  EndValue();
  return R::kOk;
}

R Reader::Impl::StepStreamGroup(Cur& c) {
  const uint8_t* at = c.p;
  RStr name;
  StreamGroup g;
  uint64_t entries_read = 0;
  NEED(Str(c, &name));
  NEED(Len(c, &g.last_delivered_id.ms));
  NEED(Len(c, &g.last_delivered_id.seq));
  if (type_ != kTypeStreamListpacks) NEED(Len(c, &entries_read));
  NEED(Len(c, &g.pending_count));
  g.entries_read = type_ != kTypeStreamListpacks ? static_cast<int64_t>(entries_read) : -1;
  NEED(Text(name, &scratch_, &g.name));
  Status s = sink_->OnStreamGroup(g);
  if (!s.ok()) return SinkErr(s, at);
  --groups_left_;
  remaining_ = g.pending_count;
  chunk_ = Chunk::kPel;
  state_ = remaining_ ? St::kStreamPel : St::kStreamConsumerCount;
  return R::kOk;
}

R Reader::Impl::StepStreamPel(Cur& c) {
  const uint8_t* at = c.p;
  const uint8_t* raw;
  NEED(Bytes(c, 24, &raw));
  uint64_t count;
  NEED(Len(c, &count));
  pel_.push_back(StreamPendingEntry{StreamId{LoadBE64(raw), LoadBE64(raw + 8)},
                                    static_cast<int64_t>(LoadLE64(raw + 16)), count});
  if (--remaining_ == 0) {
    NEED(Flush(at));
    state_ = St::kStreamConsumerCount;
    return R::kOk;
  }
  return MaybeFlush(at);
}

R Reader::Impl::StepStreamConsumer(Cur& c) {
  const uint8_t* at = c.p;
  RStr name;
  const uint8_t* seen;
  const uint8_t* active = nullptr;
  StreamConsumer k;
  NEED(Str(c, &name));
  NEED(Bytes(c, 8, &seen));
  if (type_ == kTypeStreamListpacks3) NEED(Bytes(c, 8, &active));
  NEED(Len(c, &k.pending_count));
  k.seen_time_ms = static_cast<int64_t>(LoadLE64(seen));
  k.active_time_ms = active ? static_cast<int64_t>(LoadLE64(active)) : k.seen_time_ms;
  NEED(Text(name, &scratch_, &k.name));
  Status s = sink_->OnStreamConsumer(k);
  if (!s.ok()) return SinkErr(s, at);
  --consumers_left_;
  remaining_ = k.pending_count;
  chunk_ = Chunk::kIds;
  if (remaining_) {
    state_ = St::kStreamConsumerPel;
    return R::kOk;
  }
  return AfterGroupsOrConsumers(at);
}

R Reader::Impl::StepModuleOp(Cur& c) {
  const uint8_t* at = c.p;
  uint64_t op = 0;
  NEED(Len(c, &op));
  switch (op) {
    case 0: {  // end of the module payload
      ModuleSkip m;
      std::string name = ModuleTypeName(module_id_);
      m.module_id = module_id_;
      m.module_name = name;
      m.encoding_version = ModuleEncodingVersion(module_id_);
      m.when = module_aux_ ? module_when_ : 0;
      m.offset = module_aux_ ? module_start_ : meta_.offset;
      m.bytes = Off(c.p) - m.offset;
      Status s = module_aux_ ? sink_->OnModuleAux(m) : sink_->OnModuleValueSkipped(meta_, key_, m);
      if (!s.ok()) return SinkErr(s, at);
      if (module_aux_) {
        module_aux_ = false;
        state_ = St::kTop;
      } else {
        EndValue();
      }
      return R::kOk;
    }
    case 1:
    case 2: {
      uint64_t v;
      NEED(Len(c, &v));
      return R::kOk;
    }
    case 3: {
      const uint8_t* raw;
      NEED(Bytes(c, 4, &raw));
      return R::kOk;
    }
    case 4: {
      const uint8_t* raw;
      NEED(Bytes(c, 8, &raw));
      return R::kOk;
    }
    case 5: {
      uint64_t n;
      NEED(SkipStr(c, &n));
      return R::kOk;
    }
    default:
      return Err(at, "unknown module opcode " + std::to_string(op));
  }
}

void Reader::Impl::Run(const uint8_t* data, size_t n, size_t* used) {
  region_ = data;
  region_base_ = consumed_;
  crc_from_ = data;
  const uint8_t* p = data;
  const uint8_t* const end = data + n;
  need_ = 0;
  while (state_ != St::kDone && state_ != St::kFailed) {
    Cur c{p, p, end};
    R r = Step(c);
    if (r == R::kOk) {
      p = c.p;
      continue;
    }
    if (r == R::kShort) {
      need_ = c.need;
    } else {
      if (status_.ok()) status_ = Status::Corrupt(Off(p), "internal error");
      state_ = St::kFailed;
    }
    break;
  }
  if (state_ != St::kFailed) {
    Status s = FlushChunk();
    if (!s.ok()) {
      SinkErr(s, p);
      state_ = St::kFailed;
    }
  }
  if (crc_from_ < p && state_ != St::kDone) crc_ = Crc64(crc_, crc_from_, static_cast<size_t>(p - crc_from_));
  *used = static_cast<size_t>(p - data);
  consumed_ += *used;
}

Status Reader::Impl::Feed(std::string_view data, size_t* consumed) {
  const uint64_t fed_before = fed_;
  if (consumed) *consumed = 0;
  if (state_ == St::kFailed) return status_;
  if (state_ == St::kDone) return status_;
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  size_t n = data.size();
  while (n > 0 && state_ != St::kDone && state_ != St::kFailed) {
    size_t pending = buf_.size() - buf_pos_;
    if (pending == 0) {
      // Decode straight from the caller's memory; keep only the tail.
      size_t used;
      Run(p, n, &used);
      p += used;
      n -= used;
      if (state_ != St::kDone && state_ != St::kFailed && n > 0) {
        buf_.assign(reinterpret_cast<const char*>(p), n);
        buf_pos_ = 0;
        p += n;
        n = 0;
      }
      break;
    }
    if (pending + n < need_) {
      buf_.append(reinterpret_cast<const char*>(p), n);
      p += n;
      n = 0;
      break;
    }
    // Complete the pending record with just the bytes it needs, then go
    // back to decoding in place.
    size_t take = need_ > pending ? need_ - pending : 1;
    take = std::min(take, n);
    buf_.append(reinterpret_cast<const char*>(p), take);
    p += take;
    n -= take;
    size_t used;
    Run(reinterpret_cast<const uint8_t*>(buf_.data()) + buf_pos_, buf_.size() - buf_pos_, &used);
    buf_pos_ += used;
    if (buf_pos_ == buf_.size()) {
      buf_.clear();
      buf_pos_ = 0;
    } else if (buf_pos_ > (1 << 16) && buf_pos_ > buf_.size() / 2) {
      buf_.erase(0, buf_pos_);
      buf_pos_ = 0;
    }
  }
  fed_ += data.size() - n;
  if (state_ == St::kDone) {
    // Bytes after the end of the RDB are not ours.
    fed_ = consumed_;
    buf_.clear();
    buf_pos_ = 0;
  }
  if (consumed) *consumed = static_cast<size_t>(fed_ > fed_before ? fed_ - fed_before : 0);
  return status_;
}

Status Reader::Impl::Finish() {
  if (state_ == St::kFailed || state_ == St::kDone) return status_;
  size_t pending = buf_.size() - buf_pos_;
  std::string what = "unexpected end of input while reading ";
  what += StateName();
  if (pending) what += " (" + std::to_string(pending) + " bytes of an incomplete record buffered)";
  status_ = Status::Corrupt(consumed_, what + Context());
  state_ = St::kFailed;
  return status_;
}

Reader::Reader(Sink* sink, ReaderOptions options) : impl_(std::make_unique<Impl>(sink, options)) {}
Reader::~Reader() = default;
Status Reader::Feed(std::string_view data, size_t* consumed) { return impl_->Feed(data, consumed); }
Status Reader::Finish() { return impl_->Finish(); }
bool Reader::done() const { return impl_->state_ == Impl::St::kDone; }
uint64_t Reader::offset() const { return impl_->consumed_; }
int Reader::version() const { return impl_->version_; }
Flavor Reader::flavor() const { return impl_->flavor_; }
const Status& Reader::status() const { return impl_->status_; }

void Reader::StartValueOnly(int rdb_version, Flavor flavor) {
  impl_->value_only_ = true;
  impl_->version_ = rdb_version;
  impl_->flavor_ = flavor;
  impl_->state_ = Impl::St::kTop;
}

Status ReadRdb(std::string_view data, Sink* sink, ReaderOptions options) {
  Reader r(sink, options);
  DARTER_RDB_RETURN_IF_ERROR(r.Feed(data));
  return r.Finish();
}

}  // namespace darter::rdb
