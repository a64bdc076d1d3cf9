// List commands (Redis's t_list.c), with Redis 7.0 replies and error strings.
// Single-key commands run on the key's shard; RPOPLPUSH, LMOVE and LMPOP are
// MultiShardOps because their keys may live on different shards.
#include <algorithm>
#include <climits>
#include <string>
#include <vector>

#include "resp/reply_builder.h"
#include "store/command_table.h"
#include "store/errors.h"
#include "store/family_util.h"
#include "store/list_object.h"
#include "store/multi_shard_op.h"
#include "store/shard.h"
#include "store/string_util.h"

namespace darter::store {
namespace {

using resp::ReplyBuilder;
using End = ListObject::End;

constexpr std::string_view kMustBePositive = "ERR value is out of range, must be positive";
constexpr std::string_view kIndexOutOfRange = "ERR index out of range";
constexpr std::string_view kRankZero =
    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start "
    "from the end of the list";
constexpr std::string_view kCountNegative = "ERR COUNT can't be negative";
constexpr std::string_view kMaxlenNegative = "ERR MAXLEN can't be negative";
constexpr std::string_view kNumkeys = "ERR numkeys should be greater than 0";
constexpr std::string_view kCountPositive = "ERR count should be greater than 0";

ListObject* AsList(const Slot* s) { return s->value.As<ListObject>(); }

// LEFT / RIGHT.
bool ParseEnd(std::string_view arg, End* end) {
  if (EqualsIgnoreCase(arg, "left")) *end = End::kHead;
  else if (EqualsIgnoreCase(arg, "right")) *end = End::kTail;
  else return false;
  return true;
}

// Pushes args[first..] into the list at `key`, creating it unless `only_existing`.
void PushGeneric(CommandContext& c, End end, bool only_existing) {
  Slot* s;
  if (!FindTypedForWrite(c, c.args[1], ValueType::kList, &s)) return;
  if (!s) {
    if (only_existing) {
      c.reply.Integer(0);
      return;
    }
    s = AddObjectKey(c.shard, c.db, c.args[1], std::make_unique<ListObject>());
  }
  ListObject* l = AsList(s);
  l->PushAll(end, c.args.subspan(2));
  c.effects.MarkDirty(c.args.size() - 2);
  c.shard.NotifyKeyspaceEvent(kNotifyList, end == End::kHead ? "lpush" : "rpush", c.db, c.args[1]);
  c.reply.Integer(static_cast<int64_t>(l->size()));
}

void LPushCommand(CommandContext& c) { PushGeneric(c, End::kHead, false); }
void RPushCommand(CommandContext& c) { PushGeneric(c, End::kTail, false); }
void LPushXCommand(CommandContext& c) { PushGeneric(c, End::kHead, true); }
void RPushXCommand(CommandContext& c) { PushGeneric(c, End::kTail, true); }

// Pops up to `count` elements into a reply array (no header).
void PopInto(ListObject* l, End end, size_t count, ReplyBuilder& rb) {
  for (size_t i = 0; i < count; ++i) rb.Bulk(l->Pop(end));
}

void PopGeneric(CommandContext& c, End end) {
  if (c.args.size() > 3) {
    c.reply.Error(errors::WrongArity(ToLower(c.args[0])));
    return;
  }
  bool has_count = c.args.size() == 3;
  int64_t count = 1;
  if (has_count) {
    auto n = ParseInt64(c.args[2]);
    if (!n || *n < 0) {
      c.reply.Error(kMustBePositive);
      return;
    }
    count = *n;
  }
  if (c.args.size() > 3) {
    c.reply.Error(errors::kSyntax);
    return;
  }
  Slot* s;
  if (!FindTypedForWrite(c, c.args[1], ValueType::kList, &s)) return;
  if (!s) {
    if (has_count) c.reply.NullArray();
    else c.reply.Null();
    return;
  }
  ListObject* l = AsList(s);
  if (!has_count) {
    c.reply.Bulk(l->Pop(end));
  } else {
    size_t n = std::min<size_t>(static_cast<size_t>(count), l->size());
    c.reply.ArrayHeader(n);
    PopInto(l, end, n, c.reply);
    if (n == 0) return;
  }
  c.effects.MarkDirty();
  c.shard.NotifyKeyspaceEvent(kNotifyList, end == End::kHead ? "lpop" : "rpop", c.db, c.args[1]);
  if (l->size() == 0) DeleteSlot(c.shard, c.db, s, c.args[1]);
}

void LPopCommand(CommandContext& c) { PopGeneric(c, End::kHead); }
void RPopCommand(CommandContext& c) { PopGeneric(c, End::kTail); }

void LLenCommand(CommandContext& c) {
  const Slot* s;
  if (!FindTyped(c, c.args[1], ValueType::kList, &s)) return;
  c.reply.Integer(s ? static_cast<int64_t>(AsList(s)->size()) : 0);
}

// Redis's start/end normalisation for LRANGE and LTRIM: false when the range is empty.
bool NormalizeRange(int64_t start, int64_t end, int64_t len, int64_t* from, int64_t* to) {
  if (start < 0) start = len + start;
  if (end < 0) end = len + end;
  if (start < 0) start = 0;
  if (start > end || start >= len) return false;
  if (end >= len) end = len - 1;
  *from = start;
  *to = end;
  return true;
}

void LRangeCommand(CommandContext& c) {
  auto start = ParseInt64(c.args[2]);
  auto end = ParseInt64(c.args[3]);
  if (!start || !end) {
    c.reply.Error(errors::kNotInteger);
    return;
  }
  const Slot* s;
  if (!FindTyped(c, c.args[1], ValueType::kList, &s)) return;
  int64_t from, to;
  if (!s || !NormalizeRange(*start, *end, static_cast<int64_t>(AsList(s)->size()), &from, &to)) {
    c.reply.ArrayHeader(0);
    return;
  }
  size_t n = static_cast<size_t>(to - from + 1);
  c.reply.ArrayHeader(n);
  AsList(s)->ForRange(static_cast<size_t>(from), n, [&](size_t, std::string_view e) {
    c.reply.Bulk(e);
    return true;
  });
}

void LTrimCommand(CommandContext& c) {
  auto start = ParseInt64(c.args[2]);
  auto end = ParseInt64(c.args[3]);
  if (!start || !end) {
    c.reply.Error(errors::kNotInteger);
    return;
  }
  Slot* s;
  if (!FindTypedForWrite(c, c.args[1], ValueType::kList, &s)) return;
  if (!s) {
    c.reply.Ok();
    return;
  }
  ListObject* l = AsList(s);
  int64_t len = static_cast<int64_t>(l->size());
  int64_t from, to, ltrim, rtrim;
  if (NormalizeRange(*start, *end, len, &from, &to)) {
    ltrim = from;
    rtrim = len - to - 1;
  } else {
    ltrim = len;
    rtrim = 0;
  }
  if (rtrim > 0) l->EraseRange(static_cast<size_t>(len - rtrim), static_cast<size_t>(rtrim));
  if (ltrim > 0) l->EraseRange(0, static_cast<size_t>(ltrim));
  if (ltrim + rtrim > 0) c.effects.MarkDirty(static_cast<uint64_t>(ltrim + rtrim));
  c.shard.NotifyKeyspaceEvent(kNotifyList, "ltrim", c.db, c.args[1]);
  if (l->size() == 0) DeleteSlot(c.shard, c.db, s, c.args[1]);
  c.reply.Ok();
}

// A possibly negative index into a list of `len`; false when out of range.
bool ResolveIndex(int64_t index, size_t len, size_t* out) {
  if (index < 0) index += static_cast<int64_t>(len);
  if (index < 0 || index >= static_cast<int64_t>(len)) return false;
  *out = static_cast<size_t>(index);
  return true;
}

void LIndexCommand(CommandContext& c) {
  const Slot* s;
  if (!FindTyped(c, c.args[1], ValueType::kList, &s)) return;
  if (!s) {
    c.reply.Null();
    return;
  }
  auto index = ParseInt64(c.args[2]);
  if (!index) {
    c.reply.Error(errors::kNotInteger);
    return;
  }
  size_t i;
  if (!ResolveIndex(*index, AsList(s)->size(), &i)) {
    c.reply.Null();
    return;
  }
  c.reply.Bulk(AsList(s)->At(i));
}

void LSetCommand(CommandContext& c) {
  Slot* s;
  if (!FindTypedForWrite(c, c.args[1], ValueType::kList, &s)) return;
  if (!s) {
    c.reply.Error(errors::kNoSuchKey);
    return;
  }
  auto index = ParseInt64(c.args[2]);
  if (!index) {
    c.reply.Error(errors::kNotInteger);
    return;
  }
  size_t i;
  if (!ResolveIndex(*index, AsList(s)->size(), &i)) {
    c.reply.Error(kIndexOutOfRange);
    return;
  }
  AsList(s)->Set(i, c.args[3]);
  c.effects.MarkDirty();
  c.shard.NotifyKeyspaceEvent(kNotifyList, "lset", c.db, c.args[1]);
  c.reply.Ok();
}

void LInsertCommand(CommandContext& c) {
  bool after;
  if (EqualsIgnoreCase(c.args[2], "after")) after = true;
  else if (EqualsIgnoreCase(c.args[2], "before")) after = false;
  else {
    c.reply.Error(errors::kSyntax);
    return;
  }
  Slot* s;
  if (!FindTypedForWrite(c, c.args[1], ValueType::kList, &s)) return;
  if (!s) {
    c.reply.Integer(0);
    return;
  }
  ListObject* l = AsList(s);
  std::string_view pivot = c.args[3];
  int64_t found = -1;
  l->ForRange(0, l->size(), [&](size_t i, std::string_view e) {
    if (e != pivot) return true;
    found = static_cast<int64_t>(i);
    return false;
  });
  if (found < 0) {
    c.reply.Integer(-1);
    return;
  }
  l->Insert(static_cast<size_t>(found) + (after ? 1 : 0), c.args[4]);
  c.effects.MarkDirty();
  c.shard.NotifyKeyspaceEvent(kNotifyList, "linsert", c.db, c.args[1]);
  c.reply.Integer(static_cast<int64_t>(l->size()));
}

void LRemCommand(CommandContext& c) {
  auto count = ParseInt64(c.args[2]);
  if (!count) {
    c.reply.Error(errors::kNotInteger);
    return;
  }
  Slot* s;
  if (!FindTypedForWrite(c, c.args[1], ValueType::kList, &s)) return;
  if (!s) {
    c.reply.Integer(0);
    return;
  }
  ListObject* l = AsList(s);
  std::string_view value = c.args[3];
  // |count| as unsigned, so INT64_MIN is not negated in signed arithmetic.
  uint64_t limit = *count < 0 ? 0 - static_cast<uint64_t>(*count) : static_cast<uint64_t>(*count);
  std::vector<size_t> hits;
  auto visit = [&](size_t i, std::string_view e) {
    if (e == value) hits.push_back(i);
    return limit == 0 || hits.size() < limit;
  };
  if (*count < 0) {
    l->ForRangeReverse(l->size() - 1, visit);
    std::reverse(hits.begin(), hits.end());
  } else {
    l->ForRange(0, l->size(), visit);
  }
  l->EraseIndices(hits);
  if (!hits.empty()) {
    c.effects.MarkDirty(hits.size());
    c.shard.NotifyKeyspaceEvent(kNotifyList, "lrem", c.db, c.args[1]);
  }
  if (l->size() == 0) DeleteSlot(c.shard, c.db, s, c.args[1]);
  c.reply.Integer(static_cast<int64_t>(hits.size()));
}

void LPosCommand(CommandContext& c) {
  int64_t rank = 1, count = -1, maxlen = 0;
  for (size_t j = 3; j < c.args.size(); ++j) {
    std::string_view opt = c.args[j];
    bool more = j + 1 < c.args.size();
    if (EqualsIgnoreCase(opt, "rank") && more) {
      auto v = ParseInt64(c.args[++j]);
      if (!v) {
        c.reply.Error(errors::kNotInteger);
        return;
      }
      if (*v == 0) {
        c.reply.Error(kRankZero);
        return;
      }
      rank = *v;
    } else if (EqualsIgnoreCase(opt, "count") && more) {
      auto v = ParseInt64(c.args[++j]);
      if (!v || *v < 0) {
        c.reply.Error(kCountNegative);
        return;
      }
      count = *v;
    } else if (EqualsIgnoreCase(opt, "maxlen") && more) {
      auto v = ParseInt64(c.args[++j]);
      if (!v || *v < 0) {
        c.reply.Error(kMaxlenNegative);
        return;
      }
      maxlen = *v;
    } else {
      c.reply.Error(errors::kSyntax);
      return;
    }
  }
  const Slot* s;
  if (!FindTyped(c, c.args[1], ValueType::kList, &s)) return;
  if (!s) {
    if (count >= 0) c.reply.ArrayHeader(0);
    else c.reply.Null();
    return;
  }
  ListObject* l = AsList(s);
  std::string_view element = c.args[2];
  // RANK LONG_MIN: Redis negates the rank to walk from the tail, the negation wraps
  // back to LONG_MIN, and every match then satisfies "matches >= rank": it acts as -1.
  uint64_t skip = rank == INT64_MIN ? 0
                  : rank < 0        ? (0 - static_cast<uint64_t>(rank)) - 1
                                    : static_cast<uint64_t>(rank) - 1;
  uint64_t want = count < 0 ? 1 : static_cast<uint64_t>(count);  // 0: all
  uint64_t compared = 0;
  std::vector<int64_t> found;
  auto visit = [&](size_t i, std::string_view e) {
    if (maxlen != 0 && compared >= static_cast<uint64_t>(maxlen)) return false;
    ++compared;
    if (e == element) {
      if (skip > 0) {
        --skip;
      } else {
        found.push_back(static_cast<int64_t>(i));
        if (want != 0 && found.size() >= want) return false;
      }
    }
    return true;
  };
  if (rank < 0) l->ForRangeReverse(l->size() - 1, visit);
  else l->ForRange(0, l->size(), visit);
  if (count >= 0) {
    c.reply.ArrayHeader(found.size());
    for (int64_t p : found) c.reply.Integer(p);
  } else if (found.empty()) {
    c.reply.Null();
  } else {
    c.reply.Integer(found[0]);
  }
}

// Type of a key as a move/pop operation needs it.
enum class KeyState : char { kMissing, kList, kWrongType };

KeyState StateOf(HopContext& h, std::string_view key) {
  Slot* s = h.shard.FindLive(h.db, key, h.now_ms);
  if (!s) return KeyState::kMissing;
  return s->value.type() == ValueType::kList ? KeyState::kList : KeyState::kWrongType;
}

// RPOPLPUSH / LMOVE: hop 0 checks both keys where they live, hop 1 pops on the source's
// shard (doing the whole move when source and destination are the same key), hop 2
// pushes on the destination's shard. The keys stay locked throughout, so the move is
// atomic even across shards.
class MoveOp : public MultiShardOp {
 public:
  MoveOp(ArgList args, bool lmove) : states_(args.size(), KeyState::kMissing) {
    if (lmove) {
      if (!ParseEnd(args[3], &from_) || !ParseEnd(args[4], &to_)) error_ = errors::kSyntax;
    } else {
      from_ = End::kTail;
      to_ = End::kHead;
    }
    same_key_ = args[1] == args[2];
  }
  HopPlan FirstHop(unsigned) override {
    if (!error_.empty()) return {HopTarget::kDone};
    return {HopTarget::kKeyShards};
  }
  void RunHop(int hop, HopContext& h) override {
    if (hop == 0) {
      for (size_t i : h.key_indices) states_[i] = StateOf(h, h.args[i]);
      return;
    }
    if (hop == 1) {
      Slot* s = h.shard.FindLive(h.db, h.args[1], h.now_ms);
      ListObject* l = s->value.As<ListObject>();
      value_ = l->Pop(from_);
      h.effects.MarkDirty();
      if (same_key_) {
        l->Push(to_, value_);
        NotifyMoved(h);
        return;
      }
      // Events wait for hop 2: Redis fires the push before the pop.
      source_emptied_ = l->size() == 0;
      if (source_emptied_) h.shard.Erase(h.db, s);
      return;
    }
    Slot* d = h.shard.FindLive(h.db, h.args[2], h.now_ms);
    if (!d) d = AddObjectKey(h.shard, h.db, h.args[2], std::make_unique<ListObject>());
    d->value.As<ListObject>()->Push(to_, value_);
    h.effects.MarkDirty();
    NotifyMoved(h);
  }
  // Redis's order: push on the destination, pop on the source, del of an emptied source.
  // The sink does not care which shard fires an event.
  void NotifyMoved(HopContext& h) {
    h.shard.NotifyKeyspaceEvent(kNotifyList, to_ == End::kHead ? "lpush" : "rpush", h.db, h.args[2]);
    h.shard.NotifyKeyspaceEvent(kNotifyList, from_ == End::kHead ? "lpop" : "rpop", h.db, h.args[1]);
    if (source_emptied_) h.shard.NotifyKeyspaceEvent(kNotifyGeneric, "del", h.db, h.args[1]);
  }
  bool source_emptied_ = false;
  int max_hops() const override { return 3; }
  HopPlan NextHop(int hop) override {
    if (hop == 0) {
      if (states_[1] == KeyState::kWrongType) {
        error_ = errors::kWrongType;
        return {HopTarget::kDone};
      }
      if (states_[1] == KeyState::kMissing) return {HopTarget::kDone};
      if (states_[2] == KeyState::kWrongType) {
        error_ = errors::kWrongType;
        return {HopTarget::kDone};
      }
      moved_ = true;
      return {HopTarget::kShardOfKey, 1};
    }
    if (hop == 1 && !same_key_) return {HopTarget::kShardOfKey, 2};
    return {HopTarget::kDone};
  }
  void Reply(ReplyBuilder& rb) override {
    if (!error_.empty()) rb.Error(error_);
    else if (!moved_) rb.Null();
    else rb.Bulk(value_);
  }

 private:
  std::vector<KeyState> states_;
  End from_ = End::kTail, to_ = End::kHead;
  bool same_key_ = false;
  bool moved_ = false;
  std::string error_;
  std::string value_;
};

std::unique_ptr<MultiShardOp> MakeRPopLPush(ArgList a) { return std::make_unique<MoveOp>(a, false); }
std::unique_ptr<MultiShardOp> MakeLMove(ArgList a) { return std::make_unique<MoveOp>(a, true); }

// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]. Returns the error reply, or an
// empty string with *numkeys, *end, *count filled.
std::string ParseLmpop(ArgList args, int64_t* numkeys, End* end, int64_t* count) {
  auto n = ParseInt64(args[1]);
  if (!n || *n < 1) return std::string(kNumkeys);
  if (*n > static_cast<int64_t>(args.size()) - 3) return std::string(errors::kSyntax);
  *numkeys = *n;
  size_t where = static_cast<size_t>(*n) + 2;
  if (!ParseEnd(args[where], end)) return std::string(errors::kSyntax);
  *count = 1;
  bool has_count = false;
  for (size_t j = where + 1; j < args.size(); ++j) {
    if (EqualsIgnoreCase(args[j], "count") && j + 1 < args.size() && !has_count) {
      auto v = ParseInt64(args[++j]);
      if (!v || *v < 1) return std::string(kCountPositive);
      *count = *v;
      has_count = true;
    } else {
      return std::string(errors::kSyntax);
    }
  }
  return {};
}

std::vector<size_t> LmpopKeys(ArgList args) {
  int64_t numkeys, count;
  End end;
  if (!ParseLmpop(args, &numkeys, &end, &count).empty()) return {};
  std::vector<size_t> keys;
  for (int64_t i = 0; i < numkeys; ++i) keys.push_back(static_cast<size_t>(i) + 2);
  return keys;
}

// LMPOP: hop 0 reads the type of every key; hop 1 pops from the first non-empty list on
// its shard.
class LmpopOp : public MultiShardOp {
 public:
  explicit LmpopOp(ArgList args) : states_(args.size(), KeyState::kMissing) {
    error_ = ParseLmpop(args, &numkeys_, &end_, &count_);
  }
  HopPlan FirstHop(unsigned) override {
    if (!error_.empty()) return {HopTarget::kDone};
    return {HopTarget::kKeyShards};
  }
  void RunHop(int hop, HopContext& h) override {
    if (hop == 0) {
      for (size_t i : h.key_indices) states_[i] = StateOf(h, h.args[i]);
      return;
    }
    key_ = std::string(h.args[target_]);
    Slot* s = h.shard.FindLive(h.db, h.args[target_], h.now_ms);
    ListObject* l = s->value.As<ListObject>();
    size_t n = std::min<size_t>(static_cast<size_t>(count_), l->size());
    for (size_t i = 0; i < n; ++i) popped_.push_back(l->Pop(end_));
    h.effects.MarkDirty();
    h.shard.NotifyKeyspaceEvent(kNotifyList, end_ == End::kHead ? "lpop" : "rpop", h.db, h.args[target_]);
    if (l->size() == 0) DeleteSlot(h.shard, h.db, s, h.args[target_]);
  }
  int max_hops() const override { return 2; }
  HopPlan NextHop(int hop) override {
    if (hop > 0) return {HopTarget::kDone};
    for (int64_t i = 0; i < numkeys_; ++i) {
      size_t idx = static_cast<size_t>(i) + 2;
      if (states_[idx] == KeyState::kWrongType) {
        error_ = errors::kWrongType;
        return {HopTarget::kDone};
      }
      if (states_[idx] == KeyState::kList) {
        target_ = idx;
        return {HopTarget::kShardOfKey, idx};
      }
    }
    return {HopTarget::kDone};
  }
  void Reply(ReplyBuilder& rb) override {
    if (!error_.empty()) {
      rb.Error(error_);
      return;
    }
    if (target_ == 0) {
      rb.NullArray();
      return;
    }
    rb.ArrayHeader(2);
    rb.Bulk(key_);
    rb.ArrayHeader(popped_.size());
    for (auto& e : popped_) rb.Bulk(e);
  }

 private:
  std::vector<KeyState> states_;
  int64_t numkeys_ = 0, count_ = 1;
  End end_ = End::kHead;
  size_t target_ = 0;
  std::string error_;
  std::string key_;
  std::vector<std::string> popped_;
};

std::unique_ptr<MultiShardOp> MakeLmpop(ArgList a) { return std::make_unique<LmpopOp>(a); }

}  // namespace

void RegisterListFamily(CommandTable& t) {
  constexpr uint32_t W = kCmdWrite | kCmdDenyOom;
  constexpr uint32_t R = kCmdReadOnly;
  constexpr uint32_t F = kCmdFast;
  CommandFamily family(t, kAclList);
  family << CommandRow("lpush", -3, W | F, 1, 1, 1).Shard(LPushCommand)
         << CommandRow("rpush", -3, W | F, 1, 1, 1).Shard(RPushCommand)
         << CommandRow("lpushx", -3, W | F, 1, 1, 1).Shard(LPushXCommand)
         << CommandRow("rpushx", -3, W | F, 1, 1, 1).Shard(RPushXCommand)
         << CommandRow("lpop", -2, kCmdWrite | F, 1, 1, 1).Shard(LPopCommand)
         << CommandRow("rpop", -2, kCmdWrite | F, 1, 1, 1).Shard(RPopCommand)
         << CommandRow("llen", 2, R | F, 1, 1, 1).Shard(LLenCommand)
         << CommandRow("lrange", 4, R, 1, 1, 1).Shard(LRangeCommand)
         << CommandRow("lindex", 3, R, 1, 1, 1).Shard(LIndexCommand)
         << CommandRow("lset", 4, W, 1, 1, 1).Shard(LSetCommand)
         << CommandRow("linsert", 5, W, 1, 1, 1).Shard(LInsertCommand)
         << CommandRow("lrem", 4, kCmdWrite, 1, 1, 1).Shard(LRemCommand)
         << CommandRow("ltrim", 4, kCmdWrite, 1, 1, 1).Shard(LTrimCommand)
         << CommandRow("lpos", -3, R, 1, 1, 1).Shard(LPosCommand)
         << CommandRow("rpoplpush", 3, W, 1, 2, 1).MultiShard(MakeRPopLPush)
         << CommandRow("lmove", 5, W, 1, 2, 1).MultiShard(MakeLMove)
         << CommandRow("lmpop", -4, kCmdWrite).MultiShard(MakeLmpop).Keys(LmpopKeys);
}

}  // namespace darter::store
