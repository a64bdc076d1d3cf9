// Set commands (Redis's t_set.c): SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP
// SRANDMEMBER SSCAN on one shard; SMOVE and the algebra (SINTER, SUNION, SDIFF, their
// STORE forms, SINTERCARD) as MultiShardOps.
//
// The algebra gathers each source's members on its own shard in hop 0, computes on the
// coordinator, and writes the destination in hop 1. Replies list members in the order
// Redis would when the result is (or is read from) an intset: ascending.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "resp/reply_builder.h"
#include "store/command_table.h"
#include "store/errors.h"
#include "store/family_util.h"
#include "store/multi_shard_op.h"
#include "store/random_picks.h"
#include "store/set_object.h"
#include "store/shard.h"
#include "store/store_config.h"
#include "store/string_util.h"

namespace darter::store {
namespace {

using resp::ReplyBuilder;

constexpr std::string_view kPositiveRange = "ERR value is out of range, must be positive";
constexpr std::string_view kOutOfRange =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";

std::mt19937_64& Rng() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng;
}

SetObject* AsSet(const Slot* s) { return s ? s->value.As<SetObject>() : nullptr; }

// Replies a list of members as a RESP3 set (RESP2 array).
void ReplyMemberSet(ReplyBuilder& rb, const std::vector<std::string>& members) {
  rb.SetHeader(members.size());
  for (auto& m : members) rb.Bulk(m);
}

std::vector<std::string> Members(const SetObject& set) {
  std::vector<std::string> out;
  out.reserve(set.size());
  set.ForEach([&](std::string_view m) { out.emplace_back(m); });
  return out;
}

// ---- single-key commands ----

void SAddCommand(CommandContext& c) {
  Slot* s;
  if (!FindTypedForWrite(c, c.args[1], ValueType::kSet, &s)) return;
  SetObject* set = AsSet(s);
  if (!set) {
    auto obj = SetObject::CreateFor(c.args[2]);
    set = obj.get();
    AddObjectKey(c.shard, c.db, c.args[1], std::move(obj));
  }
  int64_t added = 0;
  for (size_t j = 2; j < c.args.size(); ++j) added += set->Add(c.args[j]);
  if (added) {
    c.effects.MarkDirty(added);
    c.shard.NotifyKeyspaceEvent(kNotifySet, "sadd", c.db, c.args[1]);
  }
  c.reply.Integer(added);
}

void SRemCommand(CommandContext& c) {
  Slot* s;
  if (!FindTypedForWrite(c, c.args[1], ValueType::kSet, &s)) return;
  SetObject* set = AsSet(s);
  if (!set) {
    c.reply.Integer(0);
    return;
  }
  int64_t removed = 0;
  for (size_t j = 2; j < c.args.size() && set->size() > 0; ++j) removed += set->Remove(c.args[j]);
  if (removed) c.shard.NotifyKeyspaceEvent(kNotifySet, "srem", c.db, c.args[1]);
  if (set->size() == 0) DeleteSlot(c.shard, c.db, s, c.args[1]);
  if (removed) c.effects.MarkDirty(removed);
  c.reply.Integer(removed);
}

void SMembersCommand(CommandContext& c) {
  const Slot* s;
  if (!FindTyped(c, c.args[1], ValueType::kSet, &s)) return;
  SetObject* set = AsSet(s);
  if (!set) {
    c.reply.SetHeader(0);
    return;
  }
  c.reply.SetHeader(set->size());
  set->ForEach([&](std::string_view m) { c.reply.Bulk(m); });
}

void SIsMemberCommand(CommandContext& c) {
  const Slot* s;
  if (!FindTyped(c, c.args[1], ValueType::kSet, &s)) return;
  SetObject* set = AsSet(s);
  c.reply.Integer(set && set->Contains(c.args[2]) ? 1 : 0);
}

void SMIsMemberCommand(CommandContext& c) {
  const Slot* s;
  if (!FindTyped(c, c.args[1], ValueType::kSet, &s)) return;
  SetObject* set = AsSet(s);
  c.reply.ArrayHeader(c.args.size() - 2);
  for (size_t j = 2; j < c.args.size(); ++j) c.reply.Integer(set && set->Contains(c.args[j]) ? 1 : 0);
}

void SCardCommand(CommandContext& c) {
  const Slot* s;
  if (!FindTyped(c, c.args[1], ValueType::kSet, &s)) return;
  SetObject* set = AsSet(s);
  c.reply.Integer(set ? static_cast<int64_t>(set->size()) : 0);
}

// SPOP key count. Replication: one "SREM key member" per popped member, or one
// "DEL key" when the whole set is popped (Redis 7.0 does the same).
void SPopWithCount(CommandContext& c) {
  auto n = ParseInt64(c.args[2]);
  if (!n || *n < 0) {
    c.reply.Error(kPositiveRange);
    return;
  }
  Slot* s = c.shard.FindLive(c.db, c.args[1], c.now_ms);
  if (!s) {
    c.reply.SetHeader(0);
    return;
  }
  if (s->value.type() != ValueType::kSet) {
    c.reply.Error(errors::kWrongType);
    return;
  }
  if (*n == 0) {
    c.reply.SetHeader(0);
    return;
  }
  SetObject* set = AsSet(s);
  uint64_t count = static_cast<uint64_t>(*n);
  size_t size = set->size();
  std::string key(c.args[1]);
  if (count >= size) {
    ReplyMemberSet(c.reply, Members(*set));
    c.shard.NotifyKeyspaceEvent(kNotifySet, "spop", c.db, key);
    DeleteSlot(c.shard, c.db, s, key);
    c.effects.MarkDirty(size);
    c.effects.Propagate({"DEL", key});
    return;
  }
  std::vector<std::string> popped;
  popped.reserve(count);
  size_t remaining = size - count;
  if (remaining * 5 > count) {
    // Few to pop: remove them one by one.
    for (uint64_t i = 0; i < count; ++i) popped.push_back(set->PopRandom(Rng()));
  } else {
    // Few to keep: shuffle, keep `remaining`, rebuild the set from them (as Redis does:
    // the new set's encoding is chosen afresh, so it may become an intset again).
    std::vector<std::string> all = Members(*set);
    std::shuffle(all.begin(), all.end(), Rng());
    auto fresh = SetObject::CreateFor(all[0]);
    for (size_t i = 0; i < remaining; ++i) fresh->Add(all[i]);
    popped.assign(std::make_move_iterator(all.begin() + remaining), std::make_move_iterator(all.end()));
    s->value.SetObject(std::move(fresh));
  }
  ReplyMemberSet(c.reply, popped);
  c.effects.MarkDirty(popped.size());
  c.shard.NotifyKeyspaceEvent(kNotifySet, "spop", c.db, key);
  for (auto& m : popped) c.effects.Propagate({"SREM", key, m});
}

void SPopCommand(CommandContext& c) {
  if (c.args.size() == 3) {
    SPopWithCount(c);
    return;
  }
  if (c.args.size() > 3) {
    c.reply.Error(errors::kSyntax);
    return;
  }
  Slot* s;
  if (!FindTypedForWrite(c, c.args[1], ValueType::kSet, &s)) return;
  SetObject* set = AsSet(s);
  if (!set) {
    c.reply.Null();
    return;
  }
  std::string m = set->PopRandom(Rng());
  c.shard.NotifyKeyspaceEvent(kNotifySet, "spop", c.db, c.args[1]);
  if (set->size() == 0) DeleteSlot(c.shard, c.db, s, c.args[1]);
  c.reply.Bulk(m);
  c.effects.MarkDirty();
  c.effects.Propagate({"SREM", c.args[1], m});
}

void SRandMemberWithCount(CommandContext& c) {
  auto n = ParseInt64(c.args[2]);
  if (!n) {
    c.reply.Error(errors::kNotInteger);
    return;
  }
  if (*n == INT64_MIN) {
    c.reply.Error(kOutOfRange);
    return;
  }
  const Slot* s;
  if (!FindTyped(c, c.args[1], ValueType::kSet, &s)) return;
  SetObject* set = AsSet(s);
  if (!set || *n == 0) {
    c.reply.ArrayHeader(0);
    return;
  }
  auto& rng = Rng();
  if (*n < 0) {
    // Repetitions allowed: -count independent picks.
    uint64_t count = static_cast<uint64_t>(-*n);
    ReplyRepeatedPicks(c.reply, count, count, [&] { c.reply.Bulk(set->RandomMember(rng)); });
    return;
  }
  uint64_t count = static_cast<uint64_t>(*n);
  if (count >= set->size()) {
    c.reply.ArrayHeader(set->size());
    set->ForEach([&](std::string_view m) { c.reply.Bulk(m); });
    return;
  }
  std::vector<std::string> out;
  if (count * 3 > set->size()) {
    out = Members(*set);
    // Partial Fisher-Yates: the first `count` become a uniform sample.
    for (size_t i = 0; i < count; ++i) std::swap(out[i], out[i + rng() % (out.size() - i)]);
    out.resize(count);
  } else {
    std::unordered_set<std::string> seen;
    while (out.size() < count) {
      std::string m = set->RandomMember(rng);
      if (seen.insert(m).second) out.push_back(std::move(m));
    }
  }
  c.reply.ArrayHeader(out.size());
  for (auto& m : out) c.reply.Bulk(m);
}

void SRandMemberCommand(CommandContext& c) {
  if (c.args.size() == 3) {
    SRandMemberWithCount(c);
    return;
  }
  if (c.args.size() > 3) {
    c.reply.Error(errors::kSyntax);
    return;
  }
  const Slot* s;
  if (!FindTyped(c, c.args[1], ValueType::kSet, &s)) return;
  SetObject* set = AsSet(s);
  if (!set) c.reply.Null();
  else c.reply.Bulk(set->RandomMember(Rng()));
}

// Redis parses scan cursors with strtoul(): a sign is accepted ("-1" wraps), a
// leading space or trailing garbage is not, and "" is cursor 0.
bool ParseCursor(std::string_view c, uint64_t* out) {
  std::string s(c);
  if (!s.empty() && std::isspace(static_cast<unsigned char>(s[0]))) return false;
  errno = 0;
  char* end = nullptr;
  unsigned long v = std::strtoul(s.c_str(), &end, 10);
  if (*end != '\0' || errno == ERANGE) return false;
  *out = v;
  return true;
}

void SScanCommand(CommandContext& c) {
  uint64_t cursor;
  if (!ParseCursor(c.args[2], &cursor)) {
    c.reply.Error("ERR invalid cursor");
    return;
  }
  const Slot* s;
  if (!FindTyped(c, c.args[1], ValueType::kSet, &s)) return;
  SetObject* set = AsSet(s);
  if (!set) {
    c.reply.ArrayHeader(2);
    c.reply.Bulk("0");
    c.reply.ArrayHeader(0);
    return;
  }
  size_t count = 10;
  std::optional<std::string_view> pattern;
  for (size_t j = 3; j < c.args.size();) {
    size_t left = c.args.size() - j;
    if (EqualsIgnoreCase(c.args[j], "count") && left >= 2) {
      auto n = ParseInt64(c.args[j + 1]);
      if (!n) {
        c.reply.Error(errors::kNotInteger);
        return;
      }
      if (*n < 1) {
        c.reply.Error(errors::kSyntax);
        return;
      }
      count = static_cast<size_t>(*n);
      j += 2;
    } else if (EqualsIgnoreCase(c.args[j], "match") && left >= 2) {
      pattern = c.args[j + 1];
      if (*pattern == "*") pattern.reset();
      j += 2;
    } else {
      c.reply.Error(errors::kSyntax);
      return;
    }
  }
  std::vector<std::string> out;
  uint64_t next = set->Scan(cursor, count, [&](std::string_view m) {
    if (!pattern || GlobMatch(*pattern, m)) out.emplace_back(m);
  });
  c.reply.ArrayHeader(2);
  c.reply.Bulk(std::to_string(next));
  c.reply.ArrayHeader(out.size());
  for (auto& m : out) c.reply.Bulk(m);
}

// ---- multi-key commands ----

enum class SetOpKind { kInter, kUnion, kDiff, kInterCard };

// What hop 0 found for one source key.
struct SourceSet {
  enum State : uint8_t { kMissing, kWrongType, kFound } state = kMissing;
  // Intersections are pre-filtered on each shard: the shard's smallest set keeps only
  // the members every other local set has, and those other sets are "absorbed".
  bool absorbed = false;
  size_t size = 0;                   // the set's size before any filtering
  std::vector<std::string> members;  // intsets ascending
};

// Orders members as Redis would list a set built from them: an intset (all integers
// and few enough) iterates ascending; a hashtable in no particular order.
void OrderLikeRedis(std::vector<std::string>& members) {
  if (static_cast<int64_t>(members.size()) > GetStoreConfig().set_max_intset_entries.load(std::memory_order_relaxed))
    return;
  std::vector<std::pair<int64_t, size_t>> ints;
  ints.reserve(members.size());
  for (size_t i = 0; i < members.size(); ++i) {
    int64_t v;
    if (!SetMemberIsInteger(members[i], &v)) return;
    ints.emplace_back(v, i);
  }
  std::sort(ints.begin(), ints.end());
  std::vector<std::string> sorted;
  sorted.reserve(members.size());
  for (auto& [v, i] : ints) sorted.push_back(std::move(members[i]));
  members = std::move(sorted);
}

// SINTER / SUNION / SDIFF [STORE] / SINTERCARD.
// Hop 0 (key shards): copy each source's members. Coordinator: compute. Hop 1 (the
// destination's shard, STORE forms only): replace the destination.
class SetAlgebraOp : public MultiShardOp {
 public:
  SetAlgebraOp(ArgList args, SetOpKind kind, bool store) : args_(args), kind_(kind), store_(store) {
    if (kind == SetOpKind::kInterCard) {
      size_t numkeys = static_cast<size_t>(*ParseInt64(args[1]));  // validated
      first_ = 2;
      last_ = 2 + numkeys;
      for (size_t j = last_; j + 1 < args.size(); j += 2) {
        auto v = ParseInt64(args[j + 1]);
        limit_ = v ? static_cast<uint64_t>(*v) : 0;
      }
    } else {
      first_ = store ? 2 : 1;
      last_ = args.size();
    }
    sources_.resize(last_ - first_);
  }

  void RunHop(int hop, HopContext& h) override {
    if (hop == 0) {
      Gather(h);
      return;
    }
    // hop 1: the destination.
    std::string_view dst = h.args[1];
    Slot* old = h.shard.FindLive(h.db, dst, h.now_ms);
    if (result_.empty()) {
      if (old) {
        h.shard.Erase(h.db, old);
        h.effects.MarkDirty();
        h.shard.NotifyKeyspaceEvent(kNotifyGeneric, "del", h.db, dst);
      }
      return;
    }
    auto set = std::make_unique<SetObject>();
    for (auto& m : result_) set->Add(m);
    h.shard.Upsert(h.db, dst, Value(std::move(set)), h.now_ms);
    h.effects.MarkDirty();
    h.shard.NotifyKeyspaceEvent(kNotifySet, StoreEvent(), h.db, dst);
  }

  const char* StoreEvent() const {
    return kind_ == SetOpKind::kInter ? "sinterstore" : kind_ == SetOpKind::kUnion ? "sunionstore" : "sdiffstore";
  }

  int max_hops() const override { return 2; }
  HopPlan NextHop(int hop) override {
    if (hop != 0) return {HopTarget::kDone};
    for (auto& s : sources_) {
      if (s.state == SourceSet::kWrongType) {
        wrongtype_ = true;
        return {HopTarget::kDone};
      }
    }
    Compute();
    if (store_) return {HopTarget::kShardOfKey, 1};
    return {HopTarget::kDone};
  }

  void Reply(ReplyBuilder& rb) override {
    if (wrongtype_) rb.Error(errors::kWrongType);
    else if (kind_ == SetOpKind::kInterCard) rb.Integer(static_cast<int64_t>(card_));
    else if (store_) rb.Integer(static_cast<int64_t>(result_.size()));
    else ReplyMemberSet(rb, result_);
  }

 private:
  void Gather(HopContext& h) {
    bool inter = kind_ == SetOpKind::kInter || kind_ == SetOpKind::kInterCard;
    std::vector<std::pair<size_t, const SetObject*>> local;  // source index, set
    bool missing = false;
    for (size_t i : h.key_indices) {
      if (i < first_ || i >= last_) continue;  // the destination
      // Writers look keys up without touching hit/miss statistics, as Redis does.
      const Slot* s = FindSource(h.shard, h.db, h.args[i], h.now_ms, store_);
      SourceSet& src = sources_[i - first_];
      if (!s) {
        missing = true;
        continue;
      }
      if (s->value.type() != ValueType::kSet) {
        src.state = SourceSet::kWrongType;
        continue;
      }
      src.state = SourceSet::kFound;
      src.size = s->value.As<SetObject>()->size();
      local.emplace_back(i - first_, s->value.As<SetObject>());
    }
    if (!inter) {
      for (auto& [idx, set] : local) sources_[idx].members = Members(*set);
      return;
    }
    // An intersection with a missing set is empty: nothing to copy.
    if (missing || local.empty()) return;
    auto smallest = std::min_element(local.begin(), local.end(),
                                     [](const auto& a, const auto& b) { return a.second->size() < b.second->size(); });
    std::vector<std::string>& out = sources_[smallest->first].members;
    smallest->second->ForEach([&](std::string_view m) {
      for (auto& [idx, set] : local)
        if (set != smallest->second && !set->Contains(m)) return;
      out.emplace_back(m);
    });
    for (auto& [idx, set] : local)
      if (idx != smallest->first) sources_[idx].absorbed = true;
  }

  void Compute() {
    switch (kind_) {
      case SetOpKind::kInter:
      case SetOpKind::kInterCard:
        Intersect();
        break;
      case SetOpKind::kUnion: {
        std::unordered_set<std::string_view> seen;
        for (auto& s : sources_)
          for (auto& m : s.members)
            if (seen.insert(m).second) result_.push_back(m);
        OrderLikeRedis(result_);
        break;
      }
      case SetOpKind::kDiff: {
        if (sources_[0].state != SourceSet::kFound) break;
        std::unordered_set<std::string_view> minus;
        for (size_t i = 1; i < sources_.size(); ++i)
          for (auto& m : sources_[i].members) minus.insert(m);
        for (auto& m : sources_[0].members)
          if (!minus.count(m)) result_.push_back(m);
        OrderLikeRedis(result_);
        break;
      }
    }
  }

  void Intersect() {
    for (auto& s : sources_)
      if (s.state != SourceSet::kFound) return;
    // Walk the smallest set (Redis does too, so an intset smallest set gives an
    // ascending reply), probing the others; absorbed sets were applied on their shard.
    std::vector<size_t> order;
    for (size_t i = 0; i < sources_.size(); ++i)
      if (!sources_[i].absorbed) order.push_back(i);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return sources_[a].size < sources_[b].size; });
    std::vector<std::unordered_set<std::string_view>> others;
    for (size_t k = 1; k < order.size(); ++k) {
      auto& src = sources_[order[k]];
      others.emplace_back(src.members.begin(), src.members.end());
    }
    for (auto& m : sources_[order[0]].members) {
      bool all = true;
      for (auto& o : others) {
        if (!o.count(m)) {
          all = false;
          break;
        }
      }
      if (!all) continue;
      ++card_;
      if (kind_ == SetOpKind::kInterCard) {
        if (limit_ && card_ >= limit_) return;
      } else {
        result_.push_back(m);
      }
    }
    // SINTERSTORE stores into a fresh set; its reply is just the count.
  }

  ArgList args_;
  SetOpKind kind_;
  bool store_;
  size_t first_ = 1, last_ = 1;  // source arg indices [first_, last_)
  uint64_t limit_ = 0;
  std::vector<SourceSet> sources_;
  std::vector<std::string> result_;
  uint64_t card_ = 0;
  bool wrongtype_ = false;
};

std::unique_ptr<MultiShardOp> MakeSInter(ArgList a) { return std::make_unique<SetAlgebraOp>(a, SetOpKind::kInter, false); }
std::unique_ptr<MultiShardOp> MakeSInterStore(ArgList a) {
  return std::make_unique<SetAlgebraOp>(a, SetOpKind::kInter, true);
}
std::unique_ptr<MultiShardOp> MakeSUnion(ArgList a) { return std::make_unique<SetAlgebraOp>(a, SetOpKind::kUnion, false); }
std::unique_ptr<MultiShardOp> MakeSUnionStore(ArgList a) {
  return std::make_unique<SetAlgebraOp>(a, SetOpKind::kUnion, true);
}
std::unique_ptr<MultiShardOp> MakeSDiff(ArgList a) { return std::make_unique<SetAlgebraOp>(a, SetOpKind::kDiff, false); }
std::unique_ptr<MultiShardOp> MakeSDiffStore(ArgList a) {
  return std::make_unique<SetAlgebraOp>(a, SetOpKind::kDiff, true);
}
std::unique_ptr<MultiShardOp> MakeSInterCard(ArgList a) {
  return std::make_unique<SetAlgebraOp>(a, SetOpKind::kInterCard, false);
}

// SINTERCARD numkeys key [key ...] [LIMIT limit]: argument errors come before any key
// is read, as in Redis.
std::string ValidateSInterCard(ArgList args) {
  auto n = ParseInt64(args[1]);
  if (!n || *n < 1) return "ERR numkeys should be greater than 0";
  if (static_cast<uint64_t>(*n) > args.size() - 2) return "ERR Number of keys can't be greater than number of args";
  for (size_t j = 2 + static_cast<size_t>(*n); j < args.size(); ++j) {
    if (EqualsIgnoreCase(args[j], "limit") && j + 1 < args.size()) {
      auto v = ParseInt64(args[j + 1]);
      if (!v || *v < 0) return "ERR LIMIT can't be negative";
      ++j;
    } else {
      return std::string(errors::kSyntax);
    }
  }
  return {};
}

std::vector<size_t> SInterCardKeys(ArgList args) {
  std::vector<size_t> keys;
  auto n = ParseInt64(args[1]);
  if (!n || *n < 1 || static_cast<uint64_t>(*n) > args.size() - 2) return keys;
  for (size_t i = 0; i < static_cast<size_t>(*n); ++i) keys.push_back(2 + i);
  return keys;
}

// SMOVE src dst member. Hop 0 (both shards): look. Hop 1 (both shards): src removes,
// dst adds. Same key: a membership test. A dst that already holds the member does not
// change, so, as in Redis, it is not touched (WATCH): its shard marks nothing dirty, and
// the src shard journals the exact change (SREM src member), which tells the observers
// of a shard holding both keys that only src changed.
// Hop 0 checks both keys; hop 1 moves the member on both keys' shards. With keyspace
// notifications on, hop 1 removes from the source and hop 2 adds to the destination, one
// after the other, so the events come in Redis's order (srem, del, new, sadd).
class SMoveOp : public MultiShardOp {
 public:
  explicit SMoveOp(ArgList args) : same_key_(args[1] == args[2]) {}
  int max_hops() const override { return sequential_ ? 3 : 2; }
  void RunHop(int hop, HopContext& h) override {
    std::string_view member = h.args[3];
    size_t only = static_cast<size_t>(hop);
    for (size_t i : hop == 0 || !sequential_ ? h.key_indices : std::span<const size_t>(&only, 1)) {
      Slot* s = h.shard.FindLive(h.db, h.args[i], h.now_ms);
      if (hop == 0) {
        if (i == 1) {
          src_exists_ = s != nullptr;
          src_wrong_ = s && s->value.type() != ValueType::kSet;
          src_has_ = s && !src_wrong_ && AsSet(s)->Contains(member);
        } else {
          dst_wrong_ = s && s->value.type() != ValueType::kSet;
          dst_has_ = s && !dst_wrong_ && AsSet(s)->Contains(member);
        }
      } else if (i == 1) {
        SetObject* set = AsSet(s);
        set->Remove(member);
        h.shard.NotifyKeyspaceEvent(kNotifySet, "srem", h.db, h.args[1]);
        if (set->size() == 0) DeleteSlot(h.shard, h.db, s, h.args[1]);
        h.effects.MarkDirty();
        if (dst_has_) h.effects.Propagate({"SREM", h.args[1], member});
      } else if (!dst_has_) {
        if (!s) {
          AddObjectKey(h.shard, h.db, h.args[2], SetObject::CreateFor(member))->value.As<SetObject>()->Add(member);
        } else {
          AsSet(s)->Add(member);
        }
        h.effects.MarkDirty();
        h.shard.NotifyKeyspaceEvent(kNotifySet, "sadd", h.db, h.args[2]);
      }
    }
  }
  HopPlan NextHop(int hop) override {
    if (hop == 0 && src_exists_ && !src_wrong_ && !dst_wrong_ && !same_key_ && src_has_) {
      sequential_ = keyspace_event_flags.load(std::memory_order_relaxed) != 0;
      return sequential_ ? HopPlan{HopTarget::kShardOfKey, 1} : HopPlan{HopTarget::kKeyShards};
    }
    if (hop == 1 && sequential_ && !dst_has_) return {HopTarget::kShardOfKey, 2};
    return {HopTarget::kDone};
  }
  void Reply(ReplyBuilder& rb) override {
    if (!src_exists_) rb.Integer(0);
    else if (src_wrong_ || dst_wrong_) rb.Error(errors::kWrongType);
    else rb.Integer(src_has_ ? 1 : 0);
  }

 private:
  bool same_key_;
  bool src_exists_ = false, src_wrong_ = false, src_has_ = false, dst_wrong_ = false, dst_has_ = false;
  bool sequential_ = false;  // decided after hop 0
};

std::unique_ptr<MultiShardOp> MakeSMove(ArgList a) { return std::make_unique<SMoveOp>(a); }

std::vector<size_t> SMoveKeys(ArgList) { return {1, 2}; }

}  // namespace

void RegisterSetFamily(CommandTable& t) {
  constexpr uint32_t R = kCmdReadOnly;
  constexpr uint32_t W = kCmdWrite;
  constexpr uint32_t F = kCmdFast;
  constexpr uint32_t M = kCmdDenyOom;
  CommandFamily family(t, kAclSet);
  family << CommandRow("sadd", -3, W | M | F, 1, 1, 1).Shard(SAddCommand)
         << CommandRow("srem", -3, W | F, 1, 1, 1).Shard(SRemCommand)
         << CommandRow("smembers", 2, R, 1, 1, 1).Shard(SMembersCommand)
         << CommandRow("sismember", 3, R | F, 1, 1, 1).Shard(SIsMemberCommand)
         << CommandRow("smismember", -3, R | F, 1, 1, 1).Shard(SMIsMemberCommand)
         << CommandRow("scard", 2, R | F, 1, 1, 1).Shard(SCardCommand)
         << CommandRow("spop", -2, W | F | kCmdRandom, 1, 1, 1).Shard(SPopCommand)
         << CommandRow("srandmember", -2, R | kCmdRandom, 1, 1, 1).Shard(SRandMemberCommand)
         << CommandRow("sscan", -3, R | kCmdRandom, 1, 1, 1).Shard(SScanCommand)
         << CommandRow("smove", 4, W | F, 1, 2, 1).MultiShard(MakeSMove).Keys(SMoveKeys)
         << CommandRow("sinter", -2, R, 1, -1, 1).MultiShard(MakeSInter)
         << CommandRow("sinterstore", -3, W | M, 1, -1, 1).MultiShard(MakeSInterStore)
         << CommandRow("sunion", -2, R, 1, -1, 1).MultiShard(MakeSUnion)
         << CommandRow("sunionstore", -3, W | M, 1, -1, 1).MultiShard(MakeSUnionStore)
         << CommandRow("sdiff", -2, R, 1, -1, 1).MultiShard(MakeSDiff)
         << CommandRow("sdiffstore", -3, W | M, 1, -1, 1).MultiShard(MakeSDiffStore)
         << CommandRow("sintercard", -3, R)
                .MultiShard(MakeSInterCard)
                .Keys(SInterCardKeys)
                .Validate(ValidateSInterCard);
}

}  // namespace darter::store
