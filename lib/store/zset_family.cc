// Sorted-set commands (Redis's t_zset.c): ZADD and friends, the ZRANGE family, pops,
// ZRANDMEMBER, ZSCAN, and the multi-key ZUNION/ZINTER/ZDIFF[STORE], ZINTERCARD, ZMPOP,
// ZRANGESTORE as MultiShardOps (sources read in hop 0, the result computed on the
// coordinator, written in the destination's shard in hop 1).
#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "resp/reply_builder.h"
#include "store/collection_codec.h"
#include "store/command_table.h"
#include "store/errors.h"
#include "store/family_util.h"
#include "store/multi_shard_op.h"
#include "store/random_picks.h"
#include "store/shard.h"
#include "store/store_config.h"
#include "store/string_util.h"
#include "store/zset_object.h"

namespace darter::store {
namespace {

using resp::ReplyBuilder;
using ScoredMembers = std::vector<std::pair<std::string, double>>;

constexpr std::string_view kNanScore = "ERR resulting score is not a number (NaN)";
constexpr std::string_view kMinMaxNotFloat = "ERR min or max is not a float";
constexpr std::string_view kMinMaxNotLex = "ERR min or max not valid string range item";
constexpr std::string_view kMustBePositive = "ERR value is out of range, must be positive";

ZsetObject* ZsetOf(const Slot* s) { return s ? s->value.As<ZsetObject>() : nullptr; }

// Redis's getLongFromObjectOrReply (long is 64-bit here).
bool ParseLong(CommandContext& c, std::string_view s, int64_t* v) {
  auto r = ParseInt64(s);
  if (!r) {
    c.reply.Error(errors::kNotInteger);
    return false;
  }
  *v = *r;
  return true;
}

uint64_t RandomU64() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return rng();
}

// One element of a reply: member, and with WITHSCORES its score (a flat pair in
// RESP2, a nested [member, score] array in RESP3 when `nested`).
void ReplyElement(ReplyBuilder& rb, std::string_view member, double score, bool withscores, bool nested) {
  if (withscores && nested) rb.ArrayHeader(2);
  rb.Bulk(member);
  if (withscores) rb.Double(score);
}

void ReplyElementsHeader(ReplyBuilder& rb, size_t n, bool withscores, bool nested) {
  rb.ArrayHeader(withscores && !nested ? n * 2 : n);
}

void ReplyScored(ReplyBuilder& rb, const ScoredMembers& items, bool withscores) {
  bool nested = rb.protocol() > 2;
  ReplyElementsHeader(rb, items.size(), withscores, nested);
  for (auto& [m, s] : items) ReplyElement(rb, m, s, withscores, nested);
}

// Removes the key when its zset became empty.
void DeleteIfEmpty(CommandContext& c, Slot* slot) {
  if (ZsetOf(slot)->size() == 0) DeleteSlot(c.shard, c.db, slot, c.args[1]);
}

// ---------------------------------------------------------------------------------
// ZADD, ZINCRBY, ZREM, ZCARD, ZSCORE, ZMSCORE, ZRANK, ZREVRANK

void ZAddGeneric(CommandContext& c, unsigned flags) {
  bool ch = false;
  size_t idx = 2;
  for (; idx < c.args.size(); ++idx) {
    std::string_view opt = c.args[idx];
    if (EqualsIgnoreCase(opt, "nx")) flags |= kZAddNx;
    else if (EqualsIgnoreCase(opt, "xx")) flags |= kZAddXx;
    else if (EqualsIgnoreCase(opt, "ch")) ch = true;
    else if (EqualsIgnoreCase(opt, "incr")) flags |= kZAddIncr;
    else if (EqualsIgnoreCase(opt, "gt")) flags |= kZAddGt;
    else if (EqualsIgnoreCase(opt, "lt")) flags |= kZAddLt;
    else break;
  }
  size_t elements = c.args.size() - idx;
  if (elements % 2 || elements == 0) {
    c.reply.Error(errors::kSyntax);
    return;
  }
  elements /= 2;
  bool incr = flags & kZAddIncr;
  if ((flags & kZAddNx) && (flags & kZAddXx)) {
    c.reply.Error("ERR XX and NX options at the same time are not compatible");
    return;
  }
  if (((flags & kZAddGt) && (flags & kZAddNx)) || ((flags & kZAddLt) && (flags & kZAddNx)) ||
      ((flags & kZAddGt) && (flags & kZAddLt))) {
    c.reply.Error("ERR GT, LT, and/or NX options at the same time are not compatible");
    return;
  }
  if (incr && elements > 1) {
    c.reply.Error("ERR INCR option supports a single increment-element pair");
    return;
  }
  std::vector<double> scores(elements);
  for (size_t j = 0; j < elements; ++j) {
    auto d = ParseDouble(c.args[idx + 2 * j]);
    if (!d) {
      c.reply.Error(errors::kNotFloat);
      return;
    }
    scores[j] = *d;
  }
  Slot* slot;
  if (!FindTypedForWrite(c, c.args[1], ValueType::kZset, &slot)) return;
  int64_t added = 0, updated = 0, processed = 0;
  double score = 0;
  if (!slot && !(flags & kZAddXx)) {
    slot = AddObjectKey(c.shard, c.db, c.args[1], ZsetObject::NewForAdd(c.args[idx + 1].size()));
  }
  if (slot) {
    ZsetObject* z = ZsetOf(slot);
    for (size_t j = 0; j < elements; ++j) {
      unsigned out = 0;
      double newscore = scores[j];
      if (!z->Add(scores[j], c.args[idx + 2 * j + 1], flags, &out, &newscore)) {
        if (added || updated) {
          c.effects.MarkDirty(added + updated);
          c.shard.NotifyKeyspaceEvent(kNotifyZset, incr ? "zincr" : "zadd", c.db, c.args[1]);
        }
        c.reply.Error(kNanScore);
        return;
      }
      if (out & kZAddOutAdded) ++added;
      if (out & kZAddOutUpdated) ++updated;
      if (!(out & kZAddOutNop)) ++processed;
      score = newscore;
    }
    if (z->size() == 0) c.shard.Erase(c.db, slot);  // only possible when nothing was added
  }
  if (added + updated) {
    c.effects.MarkDirty(added + updated);
    c.shard.NotifyKeyspaceEvent(kNotifyZset, incr ? "zincr" : "zadd", c.db, c.args[1]);
  }
  if (incr) {
    if (processed) c.reply.Double(score);
    else c.reply.Null();
  } else {
    c.reply.Integer(ch ? added + updated : added);
  }
}

void ZAddCommand(CommandContext& c) { ZAddGeneric(c, 0); }

void ZIncrByCommand(CommandContext& c) {
  // ZINCRBY key increment member is ZADD key INCR increment member.
  auto d = ParseDouble(c.args[2]);
  if (!d) {
    c.reply.Error(errors::kNotFloat);
    return;
  }
  Slot* slot;
  if (!FindTypedForWrite(c, c.args[1], ValueType::kZset, &slot)) return;
  if (!slot) slot = AddObjectKey(c.shard, c.db, c.args[1], ZsetObject::NewForAdd(c.args[3].size()));
  unsigned out = 0;
  double newscore = *d;
  if (!ZsetOf(slot)->Add(*d, c.args[3], kZAddIncr, &out, &newscore)) {
    c.reply.Error(kNanScore);
    return;
  }
  c.effects.MarkDirty();
  c.shard.NotifyKeyspaceEvent(kNotifyZset, "zincr", c.db, c.args[1]);
  c.reply.Double(newscore);
}

void ZRemCommand(CommandContext& c) {
  Slot* slot;
  if (!FindTypedForWrite(c, c.args[1], ValueType::kZset, &slot)) return;
  if (!slot) {
    c.reply.Integer(0);
    return;
  }
  ZsetObject* z = ZsetOf(slot);
  int64_t removed = 0;
  for (size_t j = 2; j < c.args.size(); ++j) {
    if (z->Remove(c.args[j])) ++removed;
    if (z->size() == 0) break;
  }
  if (removed) {
    c.effects.MarkDirty(removed);
    c.shard.NotifyKeyspaceEvent(kNotifyZset, "zrem", c.db, c.args[1]);
    DeleteIfEmpty(c, slot);
  }
  c.reply.Integer(removed);
}

void ZCardCommand(CommandContext& c) {
  const Slot* slot;
  if (!FindTyped(c, c.args[1], ValueType::kZset, &slot)) return;
  c.reply.Integer(slot ? static_cast<int64_t>(ZsetOf(slot)->size()) : 0);
}

void ZScoreCommand(CommandContext& c) {
  const Slot* slot;
  if (!FindTyped(c, c.args[1], ValueType::kZset, &slot)) return;
  std::optional<double> s = slot ? ZsetOf(slot)->Score(c.args[2]) : std::nullopt;
  if (s) c.reply.Double(*s);
  else c.reply.Null();
}

void ZMScoreCommand(CommandContext& c) {
  const Slot* slot;
  if (!FindTyped(c, c.args[1], ValueType::kZset, &slot)) return;
  c.reply.ArrayHeader(c.args.size() - 2);
  for (size_t j = 2; j < c.args.size(); ++j) {
    std::optional<double> s = slot ? ZsetOf(slot)->Score(c.args[j]) : std::nullopt;
    if (s) c.reply.Double(*s);
    else c.reply.Null();
  }
}

void ZRankGeneric(CommandContext& c, bool reverse) {
  const Slot* slot;
  if (!FindTyped(c, c.args[1], ValueType::kZset, &slot)) return;
  std::optional<size_t> r = slot ? ZsetOf(slot)->Rank(c.args[2]) : std::nullopt;
  if (!r) {
    c.reply.Null();
    return;
  }
  size_t n = ZsetOf(slot)->size();
  c.reply.Integer(static_cast<int64_t>(reverse ? n - 1 - *r : *r));
}

void ZRankCommand(CommandContext& c) { ZRankGeneric(c, false); }
void ZRevRankCommand(CommandContext& c) { ZRankGeneric(c, true); }

// ---------------------------------------------------------------------------------
// Ranges: ZRANGE and its older forms, ZRANGESTORE, ZCOUNT, ZLEXCOUNT, ZREMRANGEBY*.

enum class RangeKind { kAuto, kRank, kScore, kLex };
enum class Direction { kAuto, kForward, kReverse };

struct RangeRequest {
  RangeKind kind = RangeKind::kAuto;
  bool reverse = false;
  bool withscores = false;
  int64_t offset = 0, limit = -1;
  int64_t start = 0, end = 0;
  ZScoreRange score;
  ZLexRange lex;
};

// Redis's zrangeGenericCommand argument rules. `key_idx` is the source key's index;
// min/max follow it, options after. Returns the error reply, or "" when valid.
std::string ParseRangeRequest(ArgList args, size_t key_idx, RangeKind kind, Direction dir, bool store,
                              RangeRequest* r) {
  size_t minidx = key_idx + 1, maxidx = key_idx + 2;
  for (size_t j = key_idx + 3; j < args.size(); ++j) {
    size_t left = args.size() - j - 1;
    std::string_view a = args[j];
    if (!store && EqualsIgnoreCase(a, "withscores")) {
      r->withscores = true;
    } else if (EqualsIgnoreCase(a, "limit") && left >= 2) {
      auto off = ParseInt64(args[j + 1]);
      auto lim = off ? ParseInt64(args[j + 2]) : std::nullopt;
      if (!off || !lim) return std::string(errors::kNotInteger);
      r->offset = *off;
      r->limit = *lim;
      j += 2;
    } else if (dir == Direction::kAuto && EqualsIgnoreCase(a, "rev")) {
      dir = Direction::kReverse;
    } else if (kind == RangeKind::kAuto && EqualsIgnoreCase(a, "bylex")) {
      kind = RangeKind::kLex;
    } else if (kind == RangeKind::kAuto && EqualsIgnoreCase(a, "byscore")) {
      kind = RangeKind::kScore;
    } else {
      return std::string(errors::kSyntax);
    }
  }
  if (dir == Direction::kAuto) dir = Direction::kForward;
  if (kind == RangeKind::kAuto) kind = RangeKind::kRank;
  if (r->limit != -1 && kind == RangeKind::kRank)
    return "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX";
  if (r->withscores && kind == RangeKind::kLex)
    return "ERR syntax error, WITHSCORES not supported in combination with BYLEX";
  r->kind = kind;
  r->reverse = dir == Direction::kReverse;
  if (r->reverse && kind != RangeKind::kRank) std::swap(minidx, maxidx);
  switch (kind) {
    case RangeKind::kScore:
      if (!ParseZScoreRange(args[minidx], args[maxidx], &r->score)) return std::string(kMinMaxNotFloat);
      break;
    case RangeKind::kLex:
      if (!ParseZLexRange(args[minidx], args[maxidx], &r->lex)) return std::string(kMinMaxNotLex);
      break;
    default: {
      auto s = ParseInt64(args[minidx]);
      auto e = s ? ParseInt64(args[maxidx]) : std::nullopt;
      if (!s || !e) return std::string(errors::kNotInteger);
      r->start = *s;
      r->end = *e;
    }
  }
  return {};
}

// Rank interval [first, last) selected by a start/stop pair (Redis's index rules).
std::pair<size_t, size_t> RankInterval(int64_t start, int64_t end, size_t size, bool reverse) {
  int64_t len = static_cast<int64_t>(size);
  if (start < 0) start += len;
  if (end < 0) end += len;
  if (start < 0) start = 0;
  if (start > end || start >= len) return {0, 0};
  if (end >= len) end = len - 1;
  if (!reverse) return {static_cast<size_t>(start), static_cast<size_t>(end + 1)};
  return {static_cast<size_t>(len - 1 - end), static_cast<size_t>(len - start)};
}

// The ascending rank interval a request selects after LIMIT; walk it downward when
// r.reverse.
std::pair<size_t, size_t> ResolveRange(const ZsetObject& z, const RangeRequest& r) {
  if (r.kind == RangeKind::kRank) return RankInterval(r.start, r.end, z.size(), r.reverse);
  auto [first, last] = r.kind == RangeKind::kScore ? z.ScoreRankRange(r.score) : z.LexRankRange(r.lex);
  if (r.offset < 0 || (r.offset > 0 && static_cast<uint64_t>(r.offset) >= z.size())) return {0, 0};
  size_t avail = last - first;
  size_t off = std::min<size_t>(static_cast<size_t>(r.offset), avail);
  avail -= off;
  size_t count = r.limit < 0 ? avail : std::min<size_t>(avail, static_cast<size_t>(r.limit));
  if (!r.reverse) return {first + off, first + off + count};
  return {last - off - count, last - off};
}

void ZRangeGeneric(CommandContext& c, RangeKind kind, Direction dir) {
  RangeRequest r;
  std::string err = ParseRangeRequest(c.args, 1, kind, dir, false, &r);
  if (!err.empty()) {
    c.reply.Error(err);
    return;
  }
  const Slot* slot;
  if (!FindTyped(c, c.args[1], ValueType::kZset, &slot)) return;
  if (!slot) {
    c.reply.ArrayHeader(0);
    return;
  }
  const ZsetObject* z = ZsetOf(slot);
  auto [first, last] = ResolveRange(*z, r);
  bool nested = c.reply.protocol() > 2;
  ReplyElementsHeader(c.reply, last - first, r.withscores, nested);
  z->Walk(first, last, r.reverse, [&](std::string_view m, double s) {
    ReplyElement(c.reply, m, s, r.withscores, nested);
    return true;
  });
}

void ZRangeCommand(CommandContext& c) { ZRangeGeneric(c, RangeKind::kAuto, Direction::kAuto); }
void ZRevRangeCommand(CommandContext& c) { ZRangeGeneric(c, RangeKind::kRank, Direction::kReverse); }
void ZRangeByScoreCommand(CommandContext& c) { ZRangeGeneric(c, RangeKind::kScore, Direction::kForward); }
void ZRevRangeByScoreCommand(CommandContext& c) { ZRangeGeneric(c, RangeKind::kScore, Direction::kReverse); }
void ZRangeByLexCommand(CommandContext& c) { ZRangeGeneric(c, RangeKind::kLex, Direction::kForward); }
void ZRevRangeByLexCommand(CommandContext& c) { ZRangeGeneric(c, RangeKind::kLex, Direction::kReverse); }

void ZCountCommand(CommandContext& c) {
  ZScoreRange range;
  if (!ParseZScoreRange(c.args[2], c.args[3], &range)) {
    c.reply.Error(kMinMaxNotFloat);
    return;
  }
  const Slot* slot;
  if (!FindTyped(c, c.args[1], ValueType::kZset, &slot)) return;
  if (!slot) {
    c.reply.Integer(0);
    return;
  }
  auto [first, last] = ZsetOf(slot)->ScoreRankRange(range);
  c.reply.Integer(static_cast<int64_t>(last - first));
}

void ZLexCountCommand(CommandContext& c) {
  ZLexRange range;
  if (!ParseZLexRange(c.args[2], c.args[3], &range)) {
    c.reply.Error(kMinMaxNotLex);
    return;
  }
  const Slot* slot;
  if (!FindTyped(c, c.args[1], ValueType::kZset, &slot)) return;
  if (!slot) {
    c.reply.Integer(0);
    return;
  }
  auto [first, last] = ZsetOf(slot)->LexRankRange(range);
  c.reply.Integer(static_cast<int64_t>(last - first));
}

void ZRemRangeGeneric(CommandContext& c, RangeKind kind) {
  RangeRequest r;
  r.kind = kind;
  if (kind == RangeKind::kRank) {
    if (!ParseLong(c, c.args[2], &r.start) || !ParseLong(c, c.args[3], &r.end)) return;
  } else if (kind == RangeKind::kScore) {
    if (!ParseZScoreRange(c.args[2], c.args[3], &r.score)) {
      c.reply.Error(kMinMaxNotFloat);
      return;
    }
  } else if (!ParseZLexRange(c.args[2], c.args[3], &r.lex)) {
    c.reply.Error(kMinMaxNotLex);
    return;
  }
  Slot* slot;
  if (!FindTypedForWrite(c, c.args[1], ValueType::kZset, &slot)) return;
  if (!slot) {
    c.reply.Integer(0);
    return;
  }
  ZsetObject* z = ZsetOf(slot);
  auto [first, last] = ResolveRange(*z, r);
  size_t removed = z->RemoveRankRange(first, last);
  if (removed) {
    c.effects.MarkDirty(removed);
    c.shard.NotifyKeyspaceEvent(kNotifyZset,
                                kind == RangeKind::kRank    ? "zremrangebyrank"
                                : kind == RangeKind::kScore ? "zremrangebyscore"
                                                            : "zremrangebylex",
                                c.db, c.args[1]);
    DeleteIfEmpty(c, slot);
  }
  c.reply.Integer(static_cast<int64_t>(removed));
}

void ZRemRangeByRankCommand(CommandContext& c) { ZRemRangeGeneric(c, RangeKind::kRank); }
void ZRemRangeByScoreCommand(CommandContext& c) { ZRemRangeGeneric(c, RangeKind::kScore); }
void ZRemRangeByLexCommand(CommandContext& c) { ZRemRangeGeneric(c, RangeKind::kLex); }

// Reads a source for a multi-shard op on its shard. Returns false when the key holds
// a type other than zset (or set, when `allow_set`).
bool ReadSource(HopContext& h, std::string_view key, bool allow_set, bool stores, ScoredMembers* items,
                bool* exists) {
  const Slot* s = FindSource(h.shard, h.db, key, h.now_ms, stores);
  *exists = s != nullptr;
  if (!s) return true;
  ValueType t = s->value.type();
  if (t == ValueType::kZset) {
    const ZsetObject* z = ZsetOf(s);
    items->reserve(z->size());
    z->ForEach([&](std::string_view m, double sc) {
      items->emplace_back(std::string(m), sc);
      return true;
    });
    return true;
  }
  if (t == ValueType::kSet && allow_set) {
    SetForEach(*s->value.object(), [&](std::string_view m) { items->emplace_back(std::string(m), 1.0); });
    return true;
  }
  return false;
}

// Writes `items` as the zset at `key` (replacing any value and TTL), or deletes the
// key when there are none, as Redis's STORE variants do.
// `event` is the command's keyspace event (zunionstore, zrangestore, ...).
void StoreResult(HopContext& h, std::string_view key, ScoredMembers items, std::string_view event) {
  if (items.empty()) {
    if (h.shard.Delete(h.db, key, h.now_ms)) {
      h.effects.MarkDirty();
      h.shard.NotifyKeyspaceEvent(kNotifyGeneric, "del", h.db, key);
    }
    return;
  }
  h.shard.Upsert(h.db, key, Value(ZsetObject::Build(std::move(items))), h.now_ms);
  h.effects.MarkDirty();
  h.shard.NotifyKeyspaceEvent(kNotifyZset, event, h.db, key);
}

// ZRANGESTORE's destination, as Redis builds it: a listpack when the range's length is
// not known up front (BYSCORE/BYLEX) or is at most zset-max-listpack-entries, else a
// skiplist; a listpack is converted to a skiplist when the next member would exceed
// zset-max-listpack-entries/-value. A listpack keeps -0 as 0 (zset_object.cc,
// ScoreAsInt), a skiplist keeps -0: members stored before a conversion lose the sign of
// a -0 score, later ones keep it.
void NormalizeListpackPhase(bool length_unknown, ScoredMembers* items) {
  const StoreConfig& cfg = GetStoreConfig();
  const auto max_entries = static_cast<size_t>(cfg.zset_max_listpack_entries.load(std::memory_order_relaxed));
  const auto max_value = static_cast<size_t>(cfg.zset_max_listpack_value.load(std::memory_order_relaxed));
  if (!length_unknown && items->size() > max_entries) return;  // a skiplist from the start
  for (size_t i = 0; i < items->size(); ++i) {
    auto& [member, score] = (*items)[i];
    if (i + 1 > max_entries || member.size() > max_value) return;
    if (score == 0) score = 0.0;
  }
}

// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
class ZRangeStoreOp : public MultiShardOp {
 public:
  explicit ZRangeStoreOp(ArgList args) {
    error_ = ParseRangeRequest(args, 2, RangeKind::kAuto, Direction::kAuto, true, &req_);
  }
  HopPlan FirstHop(unsigned) override {
    if (!error_.empty()) return {HopTarget::kDone};
    return {HopTarget::kShardOfKey, 2};
  }
  void RunHop(int hop, HopContext& h) override {
    if (hop == 0) {
      const Slot* s = FindSource(h.shard, h.db, h.args[2], h.now_ms, /*stores=*/true);
      if (!s) return;
      if (s->value.type() != ValueType::kZset) {
        error_ = errors::kWrongType;
        return;
      }
      const ZsetObject* z = ZsetOf(s);
      auto [first, last] = ResolveRange(*z, req_);
      result_.reserve(last - first);
      z->Walk(first, last, req_.reverse, [&](std::string_view m, double sc) {
        result_.emplace_back(std::string(m), sc);
        return true;
      });
      return;
    }
    count_ = static_cast<int64_t>(result_.size());
    NormalizeListpackPhase(req_.kind == RangeKind::kScore || req_.kind == RangeKind::kLex, &result_);
    StoreResult(h, h.args[1], std::move(result_), "zrangestore");
  }
  int max_hops() const override { return 2; }
  HopPlan NextHop(int hop) override {
    if (hop == 0 && error_.empty()) return {HopTarget::kShardOfKey, 1};
    return {HopTarget::kDone};
  }
  void Reply(ReplyBuilder& rb) override {
    if (!error_.empty()) rb.Error(error_);
    else rb.Integer(count_);
  }

 private:
  RangeRequest req_;
  std::string error_;
  ScoredMembers result_;
  int64_t count_ = 0;
};

std::unique_ptr<MultiShardOp> MakeZRangeStore(ArgList a) { return std::make_unique<ZRangeStoreOp>(a); }

// ---------------------------------------------------------------------------------
// ZPOPMIN, ZPOPMAX, ZMPOP, ZRANDMEMBER, ZSCAN

// Pops up to `count` elements from one end into `out`; deletes the key when emptied.
void PopElements(Shard& shard, unsigned db, std::string_view key, Slot* slot, bool max, size_t count,
                 ScoredMembers* out, Effects& fx) {
  ZsetObject* z = ZsetOf(slot);
  size_t n = std::min(count, z->size());
  size_t first = max ? z->size() - n : 0;
  out->reserve(n);
  z->Walk(first, first + n, max, [&](std::string_view m, double s) {
    out->emplace_back(std::string(m), s);
    return true;
  });
  z->RemoveRankRange(first, first + n);
  if (n) fx.MarkDirty(n);
  shard.NotifyKeyspaceEvent(kNotifyZset, max ? "zpopmax" : "zpopmin", db, key);
  if (z->size() == 0) DeleteSlot(shard, db, slot, key);
}

void ZPopGeneric(CommandContext& c, bool max) {
  if (c.args.size() > 3) {
    c.reply.Error(errors::kSyntax);
    return;
  }
  bool has_count = c.args.size() == 3;
  int64_t count = 1;
  if (has_count) {
    auto v = ParseInt64(c.args[2]);
    if (!v || *v < 0) {
      c.reply.Error(kMustBePositive);
      return;
    }
    count = *v;
  }
  Slot* slot;
  if (!FindTypedForWrite(c, c.args[1], ValueType::kZset, &slot)) return;
  if (!slot || count == 0) {
    c.reply.ArrayHeader(0);
    return;
  }
  ScoredMembers popped;
  PopElements(c.shard, c.db, c.args[1], slot, max, static_cast<size_t>(count), &popped, c.effects);
  bool nested = c.reply.protocol() > 2 && has_count;
  ReplyElementsHeader(c.reply, popped.size(), true, nested);
  for (auto& [m, s] : popped) ReplyElement(c.reply, m, s, true, nested);
}

void ZPopMinCommand(CommandContext& c) { ZPopGeneric(c, false); }
void ZPopMaxCommand(CommandContext& c) { ZPopGeneric(c, true); }

// Keys at args[first, first + numkeys) for numkeys forms; an invalid numkeys yields
// no keys (the command itself then replies the error).
std::vector<size_t> NumKeysAt(ArgList args, size_t numkeys_idx, std::vector<size_t> fixed = {}) {
  if (numkeys_idx >= args.size()) return fixed;
  auto n = ParseInt64(args[numkeys_idx]);
  if (!n || *n < 1 || static_cast<uint64_t>(*n) > args.size() - numkeys_idx - 1) return fixed;
  for (int64_t i = 0; i < *n; ++i) fixed.push_back(numkeys_idx + 1 + static_cast<size_t>(i));
  return fixed;
}

std::vector<size_t> KeysAfterNumKeys1(ArgList args) { return NumKeysAt(args, 1); }
std::vector<size_t> StoreKeysAfterNumKeys2(ArgList args) { return NumKeysAt(args, 2, {1}); }

// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
class ZMPopOp : public MultiShardOp {
 public:
  explicit ZMPopOp(ArgList args) {
    auto n = ParseInt64(args[1]);
    if (!n || *n <= 0) {
      error_ = "ERR numkeys should be greater than 0";
      return;
    }
    if (static_cast<uint64_t>(*n) > args.size() - 2) {
      error_ = errors::kSyntax;
      return;
    }
    numkeys_ = static_cast<size_t>(*n);
    size_t j = 2 + numkeys_;
    if (j >= args.size()) {
      error_ = errors::kSyntax;
      return;
    }
    if (EqualsIgnoreCase(args[j], "min")) max_ = false;
    else if (EqualsIgnoreCase(args[j], "max")) max_ = true;
    else {
      error_ = errors::kSyntax;
      return;
    }
    for (++j; j < args.size(); ++j) {
      if (!has_count_ && EqualsIgnoreCase(args[j], "count") && j + 1 < args.size()) {
        auto c = ParseInt64(args[j + 1]);
        if (!c || *c <= 0) {
          error_ = "ERR count should be greater than 0";
          return;
        }
        count_ = static_cast<size_t>(*c);
        has_count_ = true;
        ++j;
      } else {
        error_ = errors::kSyntax;
        return;
      }
    }
    state_.assign(args.size(), kAbsent);
  }
  HopPlan FirstHop(unsigned) override { return error_.empty() ? HopPlan{HopTarget::kKeyShards} : HopPlan{}; }
  void RunHop(int hop, HopContext& h) override {
    if (hop == 0) {
      for (size_t i : h.key_indices) {
        Slot* s = h.shard.FindLive(h.db, h.args[i], h.now_ms);
        if (s) state_[i] = s->value.type() == ValueType::kZset ? kZset : kWrongType;
      }
      return;
    }
    key_ = std::string(h.args[chosen_]);
    Slot* s = h.shard.FindLive(h.db, h.args[chosen_], h.now_ms);
    PopElements(h.shard, h.db, h.args[chosen_], s, max_, count_, &popped_, h.effects);
    h.effects.Propagate({max_ ? "ZPOPMAX" : "ZPOPMIN", h.args[chosen_], std::to_string(count_)});
  }
  int max_hops() const override { return 2; }
  HopPlan NextHop(int hop) override {
    if (hop != 0) return {};
    for (size_t i = 2; i < 2 + numkeys_; ++i) {
      if (state_[i] == kWrongType) {
        error_ = errors::kWrongType;
        return {};
      }
      if (state_[i] == kZset) {
        chosen_ = i;
        return {HopTarget::kShardOfKey, i};
      }
    }
    return {};
  }
  void Reply(ReplyBuilder& rb) override {
    if (!error_.empty()) {
      rb.Error(error_);
      return;
    }
    if (!chosen_) {
      rb.NullArray();
      return;
    }
    rb.ArrayHeader(2);
    rb.Bulk(key_);
    ReplyElementsHeader(rb, popped_.size(), true, true);
    for (auto& [m, s] : popped_) ReplyElement(rb, m, s, true, true);
  }

 private:
  enum KeyState : uint8_t { kAbsent, kZset, kWrongType };
  std::string error_;
  size_t numkeys_ = 0, count_ = 1, chosen_ = 0;
  bool max_ = false, has_count_ = false;
  std::vector<KeyState> state_;
  ScoredMembers popped_;
  std::string key_;
};

std::unique_ptr<MultiShardOp> MakeZMPop(ArgList a) { return std::make_unique<ZMPopOp>(a); }

void ZRandMemberCommand(CommandContext& c) {
  if (c.args.size() == 2) {
    const Slot* slot;
    if (!FindTyped(c, c.args[1], ValueType::kZset, &slot)) return;
    if (!slot) {
      c.reply.Null();
      return;
    }
    const ZsetObject* z = ZsetOf(slot);
    size_t r = RandomU64() % z->size();
    z->Walk(r, r + 1, false, [&](std::string_view m, double) {
      c.reply.Bulk(m);
      return false;
    });
    return;
  }
  auto v = ParseInt64(c.args[2]);
  if (!v) {
    c.reply.Error(errors::kNotInteger);
    return;
  }
  if (*v == LLONG_MIN) {
    c.reply.Error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807");
    return;
  }
  if (c.args.size() > 4 || (c.args.size() == 4 && !EqualsIgnoreCase(c.args[3], "withscores"))) {
    c.reply.Error(errors::kSyntax);
    return;
  }
  bool withscores = c.args.size() == 4;
  // Redis refuses, with WITHSCORES, a count whose doubled value would overflow.
  if (withscores && (*v < -INT64_MAX / 2 || *v > INT64_MAX / 2)) {
    c.reply.Error("ERR value is out of range");
    return;
  }
  const Slot* slot;
  if (!FindTyped(c, c.args[1], ValueType::kZset, &slot)) return;
  if (!slot || *v == 0) {
    c.reply.ArrayHeader(0);
    return;
  }
  const ZsetObject* z = ZsetOf(slot);
  size_t size = z->size();
  bool nested = c.reply.protocol() > 2;
  auto emit_rank = [&](size_t r) {
    z->Walk(r, r + 1, false, [&](std::string_view m, double s) {
      ReplyElement(c.reply, m, s, withscores, nested);
      return false;
    });
  };
  if (*v < 0) {
    // Repetitions allowed: independent picks.
    size_t count = static_cast<size_t>(-*v);
    size_t header_len = withscores && !nested ? count * 2 : count;
    if (z->is_listpack()) {
      ScoredMembers all;
      z->ForEach([&](std::string_view m, double s) {
        all.emplace_back(std::string(m), s);
        return true;
      });
      ReplyRepeatedPicks(c.reply, count, header_len, [&] {
        auto& [m, s] = all[RandomU64() % size];
        ReplyElement(c.reply, m, s, withscores, nested);
      });
    } else {
      ReplyRepeatedPicks(c.reply, count, header_len, [&] { emit_rank(RandomU64() % size); });
    }
    return;
  }
  size_t count = static_cast<size_t>(*v);
  if (count >= size) {
    // The whole set, from the highest rank down, as Redis's zset iterator walks it.
    ReplyElementsHeader(c.reply, size, withscores, nested);
    z->Walk(0, size, true, [&](std::string_view m, double s) {
      ReplyElement(c.reply, m, s, withscores, nested);
      return true;
    });
    return;
  }
  // Distinct picks: a partial Fisher-Yates over ranks.
  std::vector<size_t> ranks(size);
  for (size_t i = 0; i < size; ++i) ranks[i] = i;
  for (size_t i = 0; i < count; ++i) std::swap(ranks[i], ranks[i + RandomU64() % (size - i)]);
  ReplyElementsHeader(c.reply, count, withscores, nested);
  for (size_t i = 0; i < count; ++i) emit_rank(ranks[i]);
}

// Redis's parseScanCursorOrReply: strtoul rules.
bool ParseScanCursor(std::string_view s, uint64_t* cursor) {
  std::string str(s);
  if (str.empty() || std::isspace(static_cast<unsigned char>(str[0]))) {
    if (str.empty()) {
      *cursor = 0;
      return true;
    }
    return false;
  }
  if (str.find('\0') != std::string::npos) return false;
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(str.c_str(), &end, 10);
  if (*end != '\0' || errno == ERANGE) return false;
  *cursor = v;
  return true;
}

void ZScanCommand(CommandContext& c) {
  uint64_t cursor;
  if (!ParseScanCursor(c.args[2], &cursor)) {
    c.reply.Error("ERR invalid cursor");
    return;
  }
  const Slot* slot;
  if (!FindTyped(c, c.args[1], ValueType::kZset, &slot)) return;
  if (!slot) {
    c.reply.ArrayHeader(2);
    c.reply.Bulk("0");
    c.reply.ArrayHeader(0);
    return;
  }
  int64_t count = 10;
  std::string_view pattern;
  bool use_pattern = false;
  for (size_t j = 3; j < c.args.size(); j += 2) {
    if (EqualsIgnoreCase(c.args[j], "count") && j + 1 < c.args.size()) {
      if (!ParseLong(c, c.args[j + 1], &count)) return;
      if (count < 1) {
        c.reply.Error(errors::kSyntax);
        return;
      }
    } else if (EqualsIgnoreCase(c.args[j], "match") && j + 1 < c.args.size()) {
      pattern = c.args[j + 1];
      use_pattern = !(pattern.size() == 1 && pattern[0] == '*');
    } else {
      c.reply.Error(errors::kSyntax);
      return;
    }
  }
  std::vector<std::string> out;
  uint64_t next = ZsetOf(slot)->Scan(cursor, static_cast<size_t>(count), [&](std::string_view m, std::string_view s) {
    if (use_pattern && !GlobMatch(pattern, m)) return;
    out.emplace_back(m);
    out.emplace_back(s);
  });
  c.reply.ArrayHeader(2);
  c.reply.Bulk(std::to_string(next));
  c.reply.ArrayHeader(out.size());
  for (auto& s : out) c.reply.Bulk(s);
}

// ---------------------------------------------------------------------------------
// ZUNION, ZINTER, ZDIFF, their STORE forms, ZINTERCARD

enum class SetOp { kUnion, kInter, kDiff };
enum class Aggregate { kSum, kMin, kMax };

void AggregateInto(double* target, double v, Aggregate agg) {
  switch (agg) {
    case Aggregate::kSum:
      *target += v;
      if (std::isnan(*target)) *target = 0.0;
      break;
    case Aggregate::kMin:
      *target = v < *target ? v : *target;
      break;
    case Aggregate::kMax:
      *target = v > *target ? v : *target;
      break;
  }
}

class ZSetOpOp : public MultiShardOp {
 public:
  // store: ZxxxSTORE dst numkeys ...; card: ZINTERCARD.
  ZSetOpOp(ArgList args, SetOp op, bool store, bool card, std::string_view name)
      : op_(op), store_(store), card_(card), name_(name) {
    size_t numkeys_idx = store ? 2 : 1;
    auto n = ParseInt64(args[numkeys_idx]);
    if (!n) {
      error_ = errors::kNotInteger;
      return;
    }
    if (*n < 1) {
      error_ = "ERR at least 1 input key is needed for '" + std::string(name) + "' command";
      return;
    }
    if (static_cast<uint64_t>(*n) > args.size() - numkeys_idx - 1) {
      error_ = errors::kSyntax;
      return;
    }
    size_t setnum = static_cast<size_t>(*n);
    first_src_ = numkeys_idx + 1;
    sources_.resize(setnum);
    weights_.assign(setnum, 1.0);
    // Options are parsed now but their errors reported after WRONGTYPE, as Redis
    // checks the keys' types first.
    size_t j = first_src_ + setnum;
    size_t remaining = args.size() - j;
    while (remaining) {
      if (op != SetOp::kDiff && !card && remaining >= setnum + 1 && EqualsIgnoreCase(args[j], "weights")) {
        ++j;
        --remaining;
        for (size_t i = 0; i < setnum; ++i, ++j, --remaining) {
          auto w = ParseDouble(args[j]);
          if (!w) {
            option_error_ = "ERR weight value is not a float";
            return;
          }
          weights_[i] = *w;
        }
      } else if (op != SetOp::kDiff && !card && remaining >= 2 && EqualsIgnoreCase(args[j], "aggregate")) {
        std::string_view a = args[j + 1];
        if (EqualsIgnoreCase(a, "sum")) agg_ = Aggregate::kSum;
        else if (EqualsIgnoreCase(a, "min")) agg_ = Aggregate::kMin;
        else if (EqualsIgnoreCase(a, "max")) agg_ = Aggregate::kMax;
        else {
          option_error_ = errors::kSyntax;
          return;
        }
        j += 2;
        remaining -= 2;
      } else if (!store && !card && remaining >= 1 && EqualsIgnoreCase(args[j], "withscores")) {
        withscores_ = true;
        ++j;
        --remaining;
      } else if (card && remaining >= 2 && EqualsIgnoreCase(args[j], "limit")) {
        auto l = ParseInt64(args[j + 1]);
        if (!l) {
          option_error_ = errors::kNotInteger;
          return;
        }
        if (*l < 0) {
          option_error_ = "ERR LIMIT can't be negative";
          return;
        }
        limit_ = static_cast<size_t>(*l);
        j += 2;
        remaining -= 2;
      } else {
        option_error_ = errors::kSyntax;
        return;
      }
    }
  }

  HopPlan FirstHop(unsigned) override { return error_.empty() ? HopPlan{HopTarget::kKeyShards} : HopPlan{}; }

  void RunHop(int hop, HopContext& h) override {
    if (hop == 0) {
      for (size_t i : h.key_indices) {
        if (i < first_src_ || i >= first_src_ + sources_.size()) continue;
        bool exists;
        if (!ReadSource(h, h.args[i], true, store_, &sources_[i - first_src_], &exists)) wrongtype_ = true;
      }
      return;
    }
    count_ = static_cast<int64_t>(result_.size());
    StoreResult(h, h.args[1], std::move(result_), name_);
  }

  int max_hops() const override { return 2; }
  HopPlan NextHop(int hop) override {
    if (hop != 0) return {};
    if (wrongtype_) {
      error_ = errors::kWrongType;
      return {};
    }
    if (!option_error_.empty()) {
      error_ = option_error_;
      return {};
    }
    Compute();
    if (store_) return {HopTarget::kShardOfKey, 1};
    return {};
  }

  void Reply(ReplyBuilder& rb) override {
    if (!error_.empty()) rb.Error(error_);
    else if (card_) rb.Integer(count_);
    else if (store_) rb.Integer(count_);
    else ReplyScored(rb, result_, withscores_);
  }

 private:
  void Compute() {
    size_t n = sources_.size();
    std::vector<size_t> order(n);
    for (size_t i = 0; i < n; ++i) order[i] = i;
    if (op_ != SetOp::kDiff) {
      std::stable_sort(order.begin(), order.end(),
                       [&](size_t a, size_t b) { return sources_[a].size() < sources_[b].size(); });
    }
    auto weighted = [&](size_t src, double s) {
      double v = weights_[src] * s;
      return std::isnan(v) ? 0.0 : v;
    };
    if (op_ == SetOp::kInter) {
      const ScoredMembers& smallest = sources_[order[0]];
      std::vector<std::unordered_map<std::string_view, double>> maps(n);
      for (size_t k = 1; k < n; ++k)
        for (auto& [m, s] : sources_[order[k]]) maps[k].emplace(m, s);
      for (auto& [m, s] : smallest) {
        double score = weighted(order[0], s);
        bool all = true;
        for (size_t k = 1; k < n && all; ++k) {
          auto it = maps[k].find(m);
          if (it == maps[k].end()) all = false;
          // Redis zeroes a NaN product only for the first set's score; a later NaN
          // reaches the aggregate (where SUM turns it to 0).
          else AggregateInto(&score, weights_[order[k]] * it->second, agg_);
        }
        if (!all) continue;
        if (card_) {
          ++count_;
          if (limit_ && static_cast<size_t>(count_) >= limit_) break;
          continue;
        }
        result_.emplace_back(m, score);
      }
    } else if (op_ == SetOp::kUnion) {
      std::unordered_map<std::string_view, size_t> pos;
      ScoredMembers acc;
      for (size_t k = 0; k < n; ++k) {
        for (auto& [m, s] : sources_[order[k]]) {
          double score = weighted(order[k], s);
          auto [it, inserted] = pos.emplace(m, acc.size());
          if (inserted) acc.emplace_back(m, score);
          else AggregateInto(&acc[it->second].second, score, agg_);
        }
      }
      result_ = std::move(acc);
    } else {
      std::unordered_set<std::string_view> others;
      for (size_t k = 1; k < n; ++k)
        for (auto& [m, s] : sources_[k]) others.insert(m);
      for (auto& [m, s] : sources_[0])
        if (!others.count(m)) result_.emplace_back(m, s);
    }
    if (!store_ && !card_) {
      std::sort(result_.begin(), result_.end(), [](const auto& a, const auto& b) {
        return a.second < b.second || (a.second == b.second && a.first < b.first);
      });
    }
  }

  SetOp op_;
  bool store_, card_;
  std::string_view name_;  // the command's name: a string literal
  bool withscores_ = false;
  bool wrongtype_ = false;
  Aggregate agg_ = Aggregate::kSum;
  size_t limit_ = 0;
  size_t first_src_ = 0;
  std::vector<ScoredMembers> sources_;
  std::vector<double> weights_;
  std::string error_, option_error_;
  ScoredMembers result_;
  int64_t count_ = 0;
};

std::unique_ptr<MultiShardOp> MakeZUnion(ArgList a) {
  return std::make_unique<ZSetOpOp>(a, SetOp::kUnion, false, false, "zunion");
}
std::unique_ptr<MultiShardOp> MakeZInter(ArgList a) {
  return std::make_unique<ZSetOpOp>(a, SetOp::kInter, false, false, "zinter");
}
std::unique_ptr<MultiShardOp> MakeZDiff(ArgList a) {
  return std::make_unique<ZSetOpOp>(a, SetOp::kDiff, false, false, "zdiff");
}
std::unique_ptr<MultiShardOp> MakeZUnionStore(ArgList a) {
  return std::make_unique<ZSetOpOp>(a, SetOp::kUnion, true, false, "zunionstore");
}
std::unique_ptr<MultiShardOp> MakeZInterStore(ArgList a) {
  return std::make_unique<ZSetOpOp>(a, SetOp::kInter, true, false, "zinterstore");
}
std::unique_ptr<MultiShardOp> MakeZDiffStore(ArgList a) {
  return std::make_unique<ZSetOpOp>(a, SetOp::kDiff, true, false, "zdiffstore");
}
std::unique_ptr<MultiShardOp> MakeZInterCard(ArgList a) {
  return std::make_unique<ZSetOpOp>(a, SetOp::kInter, false, true, "zintercard");
}

}  // namespace

void RegisterZsetFamily(CommandTable& t) {
  constexpr uint32_t R = kCmdReadOnly, W = kCmdWrite, F = kCmdFast, M = kCmdDenyOom;
  CommandFamily family(t, kAclSortedSet);
  family << CommandRow("zadd", -4, W | M | F, 1, 1, 1).Shard(ZAddCommand)
         << CommandRow("zincrby", 4, W | M | F, 1, 1, 1).Shard(ZIncrByCommand)
         << CommandRow("zrem", -3, W | F, 1, 1, 1).Shard(ZRemCommand)
         << CommandRow("zcard", 2, R | F, 1, 1, 1).Shard(ZCardCommand)
         << CommandRow("zcount", 4, R | F, 1, 1, 1).Shard(ZCountCommand)
         << CommandRow("zlexcount", 4, R | F, 1, 1, 1).Shard(ZLexCountCommand)
         << CommandRow("zscore", 3, R | F, 1, 1, 1).Shard(ZScoreCommand)
         << CommandRow("zmscore", -3, R | F, 1, 1, 1).Shard(ZMScoreCommand)
         << CommandRow("zrank", 3, R | F, 1, 1, 1).Shard(ZRankCommand)
         << CommandRow("zrevrank", 3, R | F, 1, 1, 1).Shard(ZRevRankCommand)
         << CommandRow("zrange", -4, R, 1, 1, 1).Shard(ZRangeCommand)
         << CommandRow("zrevrange", -4, R, 1, 1, 1).Shard(ZRevRangeCommand)
         << CommandRow("zrangebyscore", -4, R, 1, 1, 1).Shard(ZRangeByScoreCommand)
         << CommandRow("zrevrangebyscore", -4, R, 1, 1, 1).Shard(ZRevRangeByScoreCommand)
         << CommandRow("zrangebylex", -4, R, 1, 1, 1).Shard(ZRangeByLexCommand)
         << CommandRow("zrevrangebylex", -4, R, 1, 1, 1).Shard(ZRevRangeByLexCommand)
         << CommandRow("zremrangebyrank", 4, W, 1, 1, 1).Shard(ZRemRangeByRankCommand)
         << CommandRow("zremrangebyscore", 4, W, 1, 1, 1).Shard(ZRemRangeByScoreCommand)
         << CommandRow("zremrangebylex", 4, W, 1, 1, 1).Shard(ZRemRangeByLexCommand)
         << CommandRow("zpopmin", -2, W | F, 1, 1, 1).Shard(ZPopMinCommand)
         << CommandRow("zpopmax", -2, W | F, 1, 1, 1).Shard(ZPopMaxCommand)
         << CommandRow("zrandmember", -2, R | kCmdRandom, 1, 1, 1).Shard(ZRandMemberCommand)
         << CommandRow("zscan", -3, R | kCmdRandom, 1, 1, 1).Shard(ZScanCommand)
         << CommandRow("zrangestore", -5, W | M, 1, 2, 1).MultiShard(MakeZRangeStore)
         << CommandRow("zunion", -3, R).MultiShard(MakeZUnion).Keys(KeysAfterNumKeys1)
         << CommandRow("zinter", -3, R).MultiShard(MakeZInter).Keys(KeysAfterNumKeys1)
         << CommandRow("zdiff", -3, R).MultiShard(MakeZDiff).Keys(KeysAfterNumKeys1)
         << CommandRow("zunionstore", -4, W | M, 1, 1, 1).MultiShard(MakeZUnionStore).Keys(StoreKeysAfterNumKeys2)
         << CommandRow("zinterstore", -4, W | M, 1, 1, 1).MultiShard(MakeZInterStore).Keys(StoreKeysAfterNumKeys2)
         << CommandRow("zdiffstore", -4, W | M, 1, 1, 1).MultiShard(MakeZDiffStore).Keys(StoreKeysAfterNumKeys2)
         << CommandRow("zintercard", -3, R).MultiShard(MakeZInterCard).Keys(KeysAfterNumKeys1)
         << CommandRow("zmpop", -4, W).MultiShard(MakeZMPop).Keys(KeysAfterNumKeys1);
}

}  // namespace darter::store
