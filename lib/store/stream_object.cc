#include "store/stream_object.h"

#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "store/store_config.h"
#include "store/string_util.h"

namespace darter::store {

std::string FormatStreamId(StreamId id) {
  return std::to_string(id.ms) + "-" + std::to_string(id.seq);
}

bool IncrStreamId(StreamId* id) {
  if (id->seq == UINT64_MAX) {
    if (id->ms == UINT64_MAX) return false;
    id->ms++;
    id->seq = 0;
  } else {
    id->seq++;
  }
  return true;
}

bool DecrStreamId(StreamId* id) {
  if (id->seq == 0) {
    if (id->ms == 0) return false;
    id->ms--;
    id->seq = UINT64_MAX;
  } else {
    id->seq--;
  }
  return true;
}

namespace {

constexpr uint8_t kFlagDeleted = 1;
constexpr uint8_t kFlagSameFields = 2;
constexpr size_t kHeaderBytes = 16;

// --- blob primitives ---

uint32_t Load32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
void Store32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

uint64_t GetVarint(const char* blob, size_t* pos) {
  uint64_t v = 0;
  int shift = 0;
  for (;;) {
    uint8_t b = static_cast<uint8_t>(blob[(*pos)++]);
    v |= static_cast<uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) return v;
    shift += 7;
  }
}

void PutString(std::string* out, std::string_view s) {
  PutVarint(out, s.size());
  out->append(s);
}

std::string_view GetString(const char* blob, size_t* pos) {
  size_t len = GetVarint(blob, pos);
  std::string_view s(blob + *pos, len);
  *pos += len;
  return s;
}

uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

// --- the size a Redis listpack element would take (for stream-node-max-bytes) ---

size_t LpBacklen(size_t l) {
  if (l <= 127) return 1;
  if (l < 16383) return 2;
  if (l < 2097151) return 3;
  if (l < 268435455) return 4;
  return 5;
}

size_t LpIntSize(int64_t v) {
  size_t enc;
  if (v >= 0 && v <= 127) enc = 1;
  else if (v >= -4096 && v <= 4095) enc = 2;
  else if (v >= INT16_MIN && v <= INT16_MAX) enc = 3;
  else if (v >= -(1 << 23) && v <= (1 << 23) - 1) enc = 4;
  else if (v >= INT32_MIN && v <= INT32_MAX) enc = 5;
  else enc = 9;
  return enc + LpBacklen(enc);
}

size_t LpStrSize(std::string_view s) {
  if (s.size() <= 20) {
    if (auto v = ParseInt64(s)) return LpIntSize(*v);
  }
  size_t enc = s.size() < 64 ? 1 + s.size() : s.size() < 4096 ? 2 + s.size() : 5 + s.size();
  return enc + LpBacklen(enc);
}

// The size of the Redis listpack of a node without its two counters.
size_t RedisNodeBytes(const char* blob) { return Load32(blob + 12); }
size_t RedisNodeBytesTotal(const char* blob) {
  return RedisNodeBytes(blob) + LpIntSize(Load32(blob + 4)) + LpIntSize(Load32(blob + 8));
}

}  // namespace

// Decodes a node's master fields once and its entries one at a time.
class StreamObject::NodeReader {
 public:
  NodeReader(const Node& n) : blob_(n.blob), master_(n.master) {
    size_t pos = kHeaderBytes;
    size_t nf = GetVarint(blob_, &pos);
    master_fields_.reserve(nf);
    for (size_t i = 0; i < nf; ++i) master_fields_.push_back(GetString(blob_, &pos));
    entries_begin_ = pos;
    end_ = Load32(blob_);
  }
  size_t begin() const { return entries_begin_; }
  size_t end() const { return end_; }
  const std::vector<std::string_view>& master_fields() const { return master_fields_; }

  // Decodes the entry at `pos`; fills id, flags and (when `fv`) the field/values.
  // Returns the offset of the next entry.
  size_t Decode(size_t pos, StreamId* id, uint8_t* flags, std::vector<std::string_view>* fv) const {
    *flags = static_cast<uint8_t>(blob_[pos++]);
    uint64_t ms_delta = GetVarint(blob_, &pos);
    int64_t seq_delta = UnZigZag(GetVarint(blob_, &pos));
    id->ms = master_.ms + ms_delta;
    id->seq = master_.seq + static_cast<uint64_t>(seq_delta);
    if (fv) fv->clear();
    if (*flags & kFlagSameFields) {
      for (std::string_view f : master_fields_) {
        std::string_view v = GetString(blob_, &pos);
        if (fv) {
          fv->push_back(f);
          fv->push_back(v);
        }
      }
    } else {
      size_t nf = GetVarint(blob_, &pos);
      for (size_t i = 0; i < 2 * nf; ++i) {
        std::string_view s = GetString(blob_, &pos);
        if (fv) fv->push_back(s);
      }
    }
    return pos;
  }

 private:
  const char* blob_;
  StreamId master_;
  std::vector<std::string_view> master_fields_;
  size_t entries_begin_ = 0;
  size_t end_ = 0;
};

template <typename Fn>
void StreamObject::ForEachInNode(const Node& n, bool with_deleted, Fn&& fn) {
  NodeReader r(n);
  std::vector<std::string_view> fv;
  for (size_t pos = r.begin(); pos < r.end();) {
    StreamId id;
    uint8_t flags;
    size_t at = pos;
    pos = r.Decode(pos, &id, &flags, &fv);
    if (!with_deleted && (flags & kFlagDeleted)) continue;
    if (!fn(id, flags, at, StreamFields(fv))) return;
  }
}

StreamObject::~StreamObject() {
  for (Node& n : nodes_) FreeNode(n);
}

uint32_t StreamObject::BlobBytes(const char* blob) { return Load32(blob); }

void StreamObject::FreeNode(Node& n) {
  std::free(n.blob);
  n.blob = nullptr;
}

void StreamObject::RemoveNode(size_t index) {
  FreeNode(nodes_[index]);
  nodes_.erase(nodes_.begin() + static_cast<ptrdiff_t>(index));
}

size_t StreamObject::MallocUsed() const {
  size_t n = sizeof(*this) + nodes_.capacity() * sizeof(Node);
  for (const Node& node : nodes_) n += malloc_usable_size(node.blob);
  if (groups_) {
    n += sizeof(GroupMap);
    for (const auto& [name, g] : *groups_) {
      n += 64 + name.size() + g.pel.size() * 64;
      for (const auto& [cname, c] : g.consumers) n += 96 + cname.size() + c->pel.size() * 48;
    }
  }
  return n;
}

std::unique_ptr<Object> StreamObject::Clone() const {
  auto copy = std::make_unique<StreamObject>();
  copy->nodes_.reserve(nodes_.size());
  for (const Node& n : nodes_) {
    uint32_t bytes = BlobBytes(n.blob);
    char* blob = static_cast<char*>(std::malloc(bytes));
    std::memcpy(blob, n.blob, bytes);
    copy->nodes_.push_back({n.master, blob});
  }
  copy->length_ = length_;
  copy->last_id_ = last_id_;
  copy->first_id_ = first_id_;
  copy->max_deleted_id_ = max_deleted_id_;
  copy->entries_added_ = entries_added_;
  if (groups_) {
    for (const auto& [name, g] : *groups_) {
      Group* ng = copy->CreateGroup(name, g.last_id, g.entries_read);
      for (const auto& [cname, c] : g.consumers) {
        Consumer* nc = ng->CreateConsumer(cname, c->seen_time);
        nc->active_time = c->active_time;
        nc->pel = c->pel;
      }
      for (const auto& [id, pe] : g.pel) {
        PendingEntry npe = pe;
        npe.consumer = ng->FindConsumer(pe.consumer->name);
        ng->pel.emplace(id, npe);
      }
    }
  }
  return copy;
}

void StreamObject::AppendForLoad(StreamId id, std::span<const std::string_view> fv) {
  // The file's node boundaries are not kept (the reader reports entries only):
  // nodes are cut by the configured limits, as XADD would have cut them.
  const StoreConfig& cfg = GetStoreConfig();
  Append(id, fv, cfg.stream_node_max_bytes.load(std::memory_order_relaxed),
         cfg.stream_node_max_entries.load(std::memory_order_relaxed));
}

void StreamObject::Append(StreamId id, std::span<const std::string_view> fv, int64_t node_max_bytes,
                          int64_t node_max_entries) {
  size_t numfields = fv.size() / 2;
  size_t totelelen = 0;
  for (std::string_view s : fv) totelelen += s.size();
  if (node_max_bytes <= 0 || node_max_bytes > (int64_t{1} << 30)) node_max_bytes = int64_t{1} << 30;

  Node* tail = nodes_.empty() ? nullptr : &nodes_.back();
  if (tail) {
    uint32_t count = Load32(tail->blob + 4) + Load32(tail->blob + 8);
    if (RedisNodeBytesTotal(tail->blob) + totelelen >= static_cast<size_t>(node_max_bytes) ||
        (node_max_entries > 0 && count >= static_cast<uint64_t>(node_max_entries))) {
      tail = nullptr;
    }
  }

  std::string enc;
  uint8_t flags = 0;
  size_t lp_bytes = 0;
  if (!tail) {
    // A new node: header + master fields, then the entry with SAMEFIELDS.
    enc.resize(kHeaderBytes);
    PutVarint(&enc, numfields);
    lp_bytes = 7 + LpIntSize(static_cast<int64_t>(numfields)) + LpIntSize(0);
    for (size_t i = 0; i < numfields; ++i) {
      PutString(&enc, fv[2 * i]);
      lp_bytes += LpStrSize(fv[2 * i]);
    }
    flags = kFlagSameFields;
  } else {
    NodeReader r(*tail);
    const auto& mf = r.master_fields();
    if (mf.size() == numfields) {
      size_t i = 0;
      while (i < numfields && mf[i] == fv[2 * i]) ++i;
      if (i == numfields) flags = kFlagSameFields;
    }
  }
  StreamId master = tail ? tail->master : id;
  int64_t ms_delta = static_cast<int64_t>(id.ms - master.ms);
  int64_t seq_delta = static_cast<int64_t>(id.seq - master.seq);
  enc.push_back(static_cast<char>(flags));
  PutVarint(&enc, id.ms - master.ms);
  PutVarint(&enc, ZigZag(seq_delta));
  size_t entry_lp = LpIntSize(flags) + LpIntSize(ms_delta) + LpIntSize(seq_delta);
  int64_t lp_count = static_cast<int64_t>(numfields) + 3;
  if (!(flags & kFlagSameFields)) {
    PutVarint(&enc, numfields);
    entry_lp += LpIntSize(static_cast<int64_t>(numfields));
    lp_count += static_cast<int64_t>(numfields) + 1;
  }
  for (size_t i = 0; i < numfields; ++i) {
    if (!(flags & kFlagSameFields)) {
      PutString(&enc, fv[2 * i]);
      entry_lp += LpStrSize(fv[2 * i]);
    }
    PutString(&enc, fv[2 * i + 1]);
    entry_lp += LpStrSize(fv[2 * i + 1]);
  }
  entry_lp += LpIntSize(lp_count);

  if (!tail) {
    Store32(enc.data(), static_cast<uint32_t>(enc.size()));
    Store32(enc.data() + 4, 1);
    Store32(enc.data() + 8, 0);
    Store32(enc.data() + 12, static_cast<uint32_t>(lp_bytes + entry_lp));
    char* blob = static_cast<char*>(std::malloc(enc.size()));
    std::memcpy(blob, enc.data(), enc.size());
    // Normally the new last node; after XSETID moved last_id back over an emptied
    // stream whose tombstone-only node survived, Redis's rax sorts the new node
    // before that one, and so do we (later appends then go to the last node, as in
    // Redis, even if its master id is higher than theirs).
    auto pos = std::upper_bound(nodes_.begin(), nodes_.end(), id,
                                [](StreamId v, const Node& n) { return v < n.master; });
    nodes_.insert(pos, {id, blob});
  } else {
    uint32_t old = BlobBytes(tail->blob);
    char* blob = static_cast<char*>(std::realloc(tail->blob, old + enc.size()));
    std::memcpy(blob + old, enc.data(), enc.size());
    Store32(blob, static_cast<uint32_t>(old + enc.size()));
    Store32(blob + 4, Load32(blob + 4) + 1);
    Store32(blob + 12, static_cast<uint32_t>(RedisNodeBytes(blob) + entry_lp));
    tail->blob = blob;
  }
  length_++;
  entries_added_++;
  last_id_ = id;
  if (length_ == 1) first_id_ = id;
}

ptrdiff_t StreamObject::NodeFor(StreamId id) const {
  auto it = std::upper_bound(nodes_.begin(), nodes_.end(), id,
                             [](StreamId v, const Node& n) { return v < n.master; });
  return (it - nodes_.begin()) - 1;
}

void StreamObject::Range(StreamId start, StreamId end, bool reverse,
                         const std::function<bool(StreamId, StreamFields)>& fn) const {
  if (start > end || nodes_.empty()) return;
  if (!reverse) {
    ptrdiff_t i = std::max<ptrdiff_t>(NodeFor(start), 0);
    // As Redis's iterator: start at the last node whose master <= start, skip
    // entries below start, stop at the first live entry above end.
    for (; i < static_cast<ptrdiff_t>(nodes_.size()); ++i) {
      bool stop = false;
      ForEachInNode(nodes_[i], false, [&](StreamId id, uint8_t, size_t, StreamFields fv) {
        if (id < start) return true;
        if (id > end || !fn(id, fv)) {
          stop = true;
          return false;
        }
        return true;
      });
      if (stop) return;
    }
  } else {
    std::vector<std::string_view> fv;
    ptrdiff_t first = NodeFor(end);
    if (first < 0) first = static_cast<ptrdiff_t>(nodes_.size()) - 1;  // Redis seeks "$" then
    for (ptrdiff_t i = first; i >= 0; --i) {
      NodeReader r(nodes_[i]);
      std::vector<size_t> offsets;
      for (size_t pos = r.begin(); pos < r.end();) {
        offsets.push_back(pos);
        StreamId id;
        uint8_t flags;
        pos = r.Decode(pos, &id, &flags, nullptr);
      }
      for (size_t k = offsets.size(); k-- > 0;) {
        StreamId id;
        uint8_t flags;
        r.Decode(offsets[k], &id, &flags, &fv);
        if (flags & kFlagDeleted) continue;
        if (id > end) continue;
        if (id < start || !fn(id, StreamFields(fv))) return;
      }
    }
  }
}

bool StreamObject::Lookup(StreamId id, std::vector<std::string>* out) const {
  bool found = false;
  Range(id, id, false, [&](StreamId, StreamFields fv) {
    found = true;
    if (out)
      for (std::string_view s : fv) out->emplace_back(s);
    return false;
  });
  return found;
}

bool StreamObject::FirstEntryId(StreamId* id) const {
  bool found = false;
  Range(kMinStreamId, kMaxStreamId, false, [&](StreamId e, StreamFields) {
    *id = e;
    found = true;
    return false;
  });
  return found;
}

bool StreamObject::LastEntryId(StreamId* id) const {
  bool found = false;
  Range(kMinStreamId, kMaxStreamId, true, [&](StreamId e, StreamFields) {
    *id = e;
    found = true;
    return false;
  });
  return found;
}

bool StreamObject::Delete(StreamId id) {
  // The same walk as Range(id, id): the entry may sit in a later node than
  // NodeFor(id) (see Append).
  size_t flag_at = 0, i = static_cast<size_t>(std::max<ptrdiff_t>(NodeFor(id), 0));
  bool found = false, stop = false;
  for (; i < nodes_.size() && !found && !stop; ++i) {
    ForEachInNode(nodes_[i], false, [&](StreamId e, uint8_t, size_t at, StreamFields) {
      if (e < id) return true;
      if (e == id) {
        found = true;
        flag_at = at;
      }
      stop = true;
      return false;
    });
  }
  if (!found) return false;
  --i;
  Node& n = nodes_[i];
  n.blob[flag_at] = static_cast<char>(n.blob[flag_at] | kFlagDeleted);
  uint32_t live = Load32(n.blob + 4) - 1;
  Store32(n.blob + 4, live);
  Store32(n.blob + 8, Load32(n.blob + 8) + 1);
  length_--;
  if (live == 0) RemoveNode(static_cast<size_t>(i));
  return true;
}

void StreamObject::RecomputeFirstId() {
  if (length_ == 0 || !FirstEntryId(&first_id_)) first_id_ = kMinStreamId;
}

int64_t StreamObject::Trim(const TrimArgs& args) {
  if (args.strategy == TrimStrategy::kNone) return 0;
  int64_t deleted = 0;
  while (!nodes_.empty()) {
    if (args.strategy == TrimStrategy::kMaxLen && length_ <= static_cast<uint64_t>(args.maxlen)) break;
    Node& n = nodes_.front();
    int64_t entries = Load32(n.blob + 4);
    if (args.limit && deleted + entries > args.limit) break;
    bool remove_node;
    if (args.strategy == TrimStrategy::kMaxLen) {
      remove_node = length_ - static_cast<uint64_t>(entries) >= static_cast<uint64_t>(args.maxlen);
    } else {
      StreamId last{};
      ForEachInNode(n, true, [&](StreamId e, uint8_t, size_t, StreamFields) {
        last = e;
        return true;
      });
      remove_node = last < args.minid;
    }
    if (remove_node) {
      length_ -= static_cast<uint64_t>(entries);
      deleted += entries;
      RemoveNode(0);
      continue;
    }
    if (args.approx) break;
    // Mark entries of this node deleted, from its start, until the condition holds.
    std::vector<size_t> to_mark;
    uint64_t length = length_;
    ForEachInNode(n, true, [&](StreamId e, uint8_t flags, size_t at, StreamFields) {
      bool stop = args.strategy == TrimStrategy::kMaxLen ? length <= static_cast<uint64_t>(args.maxlen)
                                                         : !(e < args.minid);
      if (stop) return false;
      if (!(flags & kFlagDeleted)) {
        to_mark.push_back(at);
        length--;
      }
      return true;
    });
    for (size_t at : to_mark) n.blob[at] = static_cast<char>(n.blob[at] | kFlagDeleted);
    uint32_t k = static_cast<uint32_t>(to_mark.size());
    Store32(n.blob + 4, Load32(n.blob + 4) - k);
    Store32(n.blob + 8, Load32(n.blob + 8) + k);
    length_ -= k;
    deleted += k;
    break;
  }
  RecomputeFirstId();
  return deleted;
}

bool StreamObject::RangeHasTombstones(StreamId start, StreamId end) const {
  if (length_ == 0 || max_deleted_id_ == kMinStreamId) return false;
  if (first_id_ > max_deleted_id_) return false;
  return start <= max_deleted_id_ && max_deleted_id_ <= end;
}

int64_t StreamObject::EstimateDistanceFromFirstEverEntry(StreamId id) const {
  if (!entries_added_) return 0;
  if (!length_ && id <= last_id_) return static_cast<int64_t>(entries_added_);
  if (id == last_id_) return static_cast<int64_t>(entries_added_);
  if (id > last_id_) return kInvalidEntriesRead;
  if (max_deleted_id_ == kMinStreamId || max_deleted_id_ < first_id_) {
    if (id < first_id_) return static_cast<int64_t>(entries_added_ - length_);
    if (id == first_id_) return static_cast<int64_t>(entries_added_ - length_ + 1);
  }
  return kInvalidEntriesRead;
}

// --- groups ---

StreamObject::GroupMap& StreamObject::groups() {
  if (!groups_) groups_ = std::make_unique<GroupMap>();
  return *groups_;
}

StreamObject::Group* StreamObject::FindGroup(std::string_view name) {
  if (!groups_) return nullptr;
  auto it = groups_->find(name);
  return it == groups_->end() ? nullptr : &it->second;
}

StreamObject::Group* StreamObject::CreateGroup(std::string_view name, StreamId last_id, int64_t entries_read) {
  auto [it, inserted] = groups().try_emplace(std::string(name));
  if (!inserted) return nullptr;
  it->second.last_id = last_id;
  it->second.entries_read = entries_read;
  return &it->second;
}

bool StreamObject::DestroyGroup(std::string_view name) {
  if (!groups_) return false;
  auto it = groups_->find(name);
  if (it == groups_->end()) return false;
  groups_->erase(it);
  return true;
}

StreamObject::Consumer* StreamObject::Group::FindConsumer(std::string_view name) {
  auto it = consumers.find(name);
  return it == consumers.end() ? nullptr : it->second.get();
}

StreamObject::Consumer* StreamObject::Group::CreateConsumer(std::string_view name, int64_t now_ms) {
  auto [it, inserted] = consumers.try_emplace(std::string(name));
  if (!inserted) return nullptr;
  it->second = std::make_unique<Consumer>();
  it->second->name = std::string(name);
  it->second->seen_time = now_ms;
  return it->second.get();
}

size_t StreamObject::Group::DeleteConsumer(std::string_view name) {
  auto it = consumers.find(name);
  if (it == consumers.end()) return 0;
  size_t n = it->second->pel.size();
  for (StreamId id : it->second->pel) pel.erase(id);
  consumers.erase(it);
  return n;
}

}  // namespace darter::store
