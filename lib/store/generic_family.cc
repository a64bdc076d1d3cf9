// Keyspace commands (Redis's db.c / expire.c): DEL, EXISTS, TYPE, the EXPIRE family,
// RENAME, COPY, MOVE, KEYS, SCAN, RANDOMKEY, OBJECT, DBSIZE, FLUSHDB, FLUSHALL, SWAPDB.
#include <algorithm>
#include <climits>
#include <random>
#include <string>

#include "resp/reply_builder.h"
#include "store/command_table.h"
#include "store/errors.h"
#include "store/multi_shard_op.h"
#include "store/family_util.h"
#include "store/shard.h"
#include "store/string_ops.h"
#include "store/store_config.h"
#include "store/string_util.h"

namespace darter::store {
namespace {

using resp::ReplyBuilder;

// Per-key counting ops (DEL, UNLINK, EXISTS, TOUCH): each shard counts its keys.
class CountKeysOp : public MultiShardOp {
 public:
  enum class Kind { kDelete, kExists, kTouch };
  CountKeysOp(ArgList args, Kind kind) : counts_(args.size(), 0), kind_(kind) {}
  int max_hops() const override { return 1; }
  void RunHop(int, HopContext& h) override {
    for (size_t i : h.key_indices) {
      switch (kind_) {
        case Kind::kDelete:
          counts_[i] = h.shard.Delete(h.db, h.args[i], h.now_ms);
          if (counts_[i]) {
            h.effects.MarkDirty();
            h.shard.NotifyKeyspaceEvent(kNotifyGeneric, "del", h.db, h.args[i]);
          }
          break;
        case Kind::kExists:
          counts_[i] = h.shard.FindForReadNoTouch(h.db, h.args[i], h.now_ms) != nullptr;
          break;
        case Kind::kTouch:
          counts_[i] = h.shard.FindForRead(h.db, h.args[i], h.now_ms) != nullptr;
          break;
      }
    }
  }
  void Reply(ReplyBuilder& rb) override {
    int64_t n = 0;
    for (char c : counts_) n += c;
    rb.Integer(n);
  }

 private:
  std::vector<char> counts_;
  Kind kind_;
};

std::unique_ptr<MultiShardOp> MakeDel(ArgList a) { return std::make_unique<CountKeysOp>(a, CountKeysOp::Kind::kDelete); }
std::unique_ptr<MultiShardOp> MakeExists(ArgList a) {
  return std::make_unique<CountKeysOp>(a, CountKeysOp::Kind::kExists);
}
std::unique_ptr<MultiShardOp> MakeTouch(ArgList a) { return std::make_unique<CountKeysOp>(a, CountKeysOp::Kind::kTouch); }

void TypeCommand(CommandContext& c) {
  const Slot* s = c.shard.FindForReadNoTouch(c.db, c.args[1], c.now_ms);
  c.reply.SimpleString(s ? TypeName(s->value.type()) : "none");
}

enum ExpireUnit { kSeconds, kMillis };

// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT with 7.0's NX/XX/GT/LT.
void ExpireGeneric(CommandContext& c, int64_t basetime, ExpireUnit unit) {
  bool nx = false, xx = false, gt = false, lt = false;
  for (size_t j = 3; j < c.args.size(); ++j) {
    std::string_view opt = c.args[j];
    if (EqualsIgnoreCase(opt, "nx")) nx = true;
    else if (EqualsIgnoreCase(opt, "xx")) xx = true;
    else if (EqualsIgnoreCase(opt, "gt")) gt = true;
    else if (EqualsIgnoreCase(opt, "lt")) lt = true;
    else {
      c.reply.Error("ERR Unsupported option " + std::string(opt));
      return;
    }
  }
  if (nx && (xx || gt || lt)) {
    c.reply.Error("ERR NX and XX, GT or LT options at the same time are not compatible");
    return;
  }
  if (gt && lt) {
    c.reply.Error("ERR GT and LT options at the same time are not compatible");
    return;
  }
  auto v = ParseInt64(c.args[2]);
  if (!v) {
    c.reply.Error(errors::kNotInteger);
    return;
  }
  int64_t when = *v;
  std::string cmd = ToLower(c.args[0]);
  if (unit == kSeconds) {
    if (when > LLONG_MAX / 1000 || when < LLONG_MIN / 1000) {
      c.reply.Error(errors::InvalidExpire(cmd));
      return;
    }
    when *= 1000;
  }
  if (when > LLONG_MAX - basetime) {
    c.reply.Error(errors::InvalidExpire(cmd));
    return;
  }
  when += basetime;
  Slot* s = c.shard.FindLive(c.db, c.args[1], c.now_ms);
  if (!s) {
    c.reply.Integer(0);
    return;
  }
  int64_t current = s->expire_ms ? s->expire_ms : -1;
  if ((nx && current != -1) || (xx && current == -1) || (gt && (when <= current || current == -1)) ||
      (lt && current != -1 && when >= current)) {
    c.reply.Integer(0);
    return;
  }
  c.effects.MarkDirty();
  if (when <= c.now_ms && c.shard.expire_on_access()) {
    // A deadline already past deletes the key at once, as Redis does; a replica stores
    // it and waits for its primary's DEL (Redis's checkAlreadyExpired).
    c.shard.Erase(c.db, s);
    c.effects.Propagate({"DEL", c.args[1]});
    c.shard.NotifyKeyspaceEvent(kNotifyGeneric, "del", c.db, c.args[1]);
  } else {
    c.shard.SetExpire(c.db, s, when);
    c.shard.NotifyKeyspaceEvent(kNotifyGeneric, "expire", c.db, c.args[1]);
    std::string at = FormatInt64(when);
    c.effects.Propagate({"PEXPIREAT", c.args[1], at});
  }
  c.reply.Integer(1);
}

void ExpireCommand(CommandContext& c) { ExpireGeneric(c, c.now_ms, kSeconds); }
void PExpireCommand(CommandContext& c) { ExpireGeneric(c, c.now_ms, kMillis); }
void ExpireAtCommand(CommandContext& c) { ExpireGeneric(c, 0, kSeconds); }
void PExpireAtCommand(CommandContext& c) { ExpireGeneric(c, 0, kMillis); }

void TtlGeneric(CommandContext& c, bool ms, bool absolute) {
  const Slot* s = c.shard.FindForReadNoTouch(c.db, c.args[1], c.now_ms);
  if (!s) {
    c.reply.Integer(-2);
    return;
  }
  if (!s->expire_ms) {
    c.reply.Integer(-1);
    return;
  }
  if (absolute) {
    c.reply.Integer(ms ? s->expire_ms : s->expire_ms / 1000);
    return;
  }
  int64_t ttl = std::max<int64_t>(0, s->expire_ms - c.now_ms);
  c.reply.Integer(ms ? ttl : (ttl + 500) / 1000);
}

void TtlCommand(CommandContext& c) { TtlGeneric(c, false, false); }
void PTtlCommand(CommandContext& c) { TtlGeneric(c, true, false); }
void ExpireTimeCommand(CommandContext& c) { TtlGeneric(c, false, true); }
void PExpireTimeCommand(CommandContext& c) { TtlGeneric(c, true, true); }

void PersistCommand(CommandContext& c) {
  Slot* s = c.shard.FindLive(c.db, c.args[1], c.now_ms);
  if (!s || !s->expire_ms) {
    c.reply.Integer(0);
    return;
  }
  c.shard.SetExpire(c.db, s, 0);
  c.effects.MarkDirty();
  c.shard.NotifyKeyspaceEvent(kNotifyGeneric, "persist", c.db, c.args[1]);
  c.reply.Integer(1);
}

void MoveCommand(CommandContext& c) {
  auto v = ParseInt64(c.args[2]);
  if (!v || *v < INT_MIN || *v > INT_MAX) {
    c.reply.Error(errors::kNotInteger);
    return;
  }
  if (*v < 0 || *v >= static_cast<int64_t>(c.shard.db_count())) {
    c.reply.Error(errors::kDbIndexOutOfRange);
    return;
  }
  unsigned dst = static_cast<unsigned>(*v);
  if (dst == c.db) {
    c.reply.Error(errors::kSameObject);
    return;
  }
  Slot* s = c.shard.FindLive(c.db, c.args[1], c.now_ms);
  if (!s || c.shard.FindLive(dst, c.args[1], c.now_ms)) {
    c.reply.Integer(0);
    return;
  }
  Slot* d = c.shard.InsertNew(dst, c.args[1]);
  d->value = std::move(s->value);
  d->flags = s->flags;
  d->access = s->access;
  c.shard.SetExpire(dst, d, s->expire_ms);
  c.shard.Erase(c.db, s);
  c.effects.MarkDirty();
  c.shard.NotifyKeyspaceEvent(kNotifyGeneric, "move_from", c.db, c.args[1]);
  c.shard.NotifyKeyspaceEvent(kNotifyGeneric, "move_to", dst, c.args[1]);
  c.reply.Integer(1);
}

// A value in flight between two shards (RENAME, COPY). Owned by the op.
struct MovedValue {
  Value value;
  int64_t expire_ms = 0;
  uint8_t flags = 0;
  uint32_t access = 0;
};

void PlaceValue(Shard& shard, unsigned db, std::string_view key, MovedValue&& mv, int64_t now_ms) {
  shard.Delete(db, key, now_ms);
  Slot* s = shard.InsertNew(db, key);
  s->value = std::move(mv.value);
  s->flags = mv.flags;
  s->access = mv.access;
  shard.SetExpire(db, s, mv.expire_ms);
}

// RENAME / RENAMENX as four hops (any of which may be on the same shard):
// 0 src: exists?  1 dst: exists? (NX only)  2 src: take value  3 dst: place value.
class RenameOp : public MultiShardOp {
 public:
  RenameOp(ArgList args, bool nx) : nx_(nx), same_key_(args[1] == args[2]) {}
  HopPlan FirstHop(unsigned) override { return {HopTarget::kShardOfKey, 1}; }
  void RunHop(int hop, HopContext& h) override {
    switch (hop) {
      case 0:
        src_exists_ = h.shard.FindLive(h.db, h.args[1], h.now_ms) != nullptr;
        break;
      case 1:
        dst_exists_ = h.shard.FindLive(h.db, h.args[2], h.now_ms) != nullptr;
        break;
      case 2: {
        Slot* s = h.shard.FindLive(h.db, h.args[1], h.now_ms);
        moved_.value = std::move(s->value);
        moved_.expire_ms = s->expire_ms;
        moved_.flags = s->flags;
        moved_.access = s->access;
        h.shard.Erase(h.db, s);
        // The source's shard changed too; when dst lives here, hop 3 reports both.
        if (std::find(h.key_indices.begin(), h.key_indices.end(), size_t{2}) == h.key_indices.end())
          h.effects.MarkDirty();
        break;
      }
      case 3:
        PlaceValue(h.shard, h.db, h.args[2], std::move(moved_), h.now_ms);
        h.effects.MarkDirty();
        // Both events fire here, after dst's new, in Redis's order (new, rename_from,
        // rename_to); the sink does not care which shard fires them.
        h.shard.NotifyKeyspaceEvent(kNotifyGeneric, "rename_from", h.db, h.args[1]);
        h.shard.NotifyKeyspaceEvent(kNotifyGeneric, "rename_to", h.db, h.args[2]);
        break;
    }
  }
  HopPlan NextHop(int hop) override {
    if (hop == 0) {
      if (!src_exists_ || same_key_) return {HopTarget::kDone};
      return nx_ ? HopPlan{HopTarget::kShardOfKey, 2} : HopPlan{HopTarget::kShardOfKey, 1};
    }
    if (hop == 1) {
      if (nx_ && dst_exists_) return {HopTarget::kDone};
      return {HopTarget::kShardOfKey, 1};
    }
    if (hop == 2) return {HopTarget::kShardOfKey, 2};
    return {HopTarget::kDone};
  }
  // hop numbering: when !nx_, hop 0 → hop "1" is skipped by the coordinator calling
  // RunHop with consecutive numbers; map them here.
  void Reply(ReplyBuilder& rb) override {
    if (!src_exists_) rb.Error(errors::kNoSuchKey);
    else if (same_key_) nx_ ? rb.Integer(0) : rb.Ok();
    else if (nx_) rb.Integer(dst_exists_ ? 0 : 1);
    else rb.Ok();
  }

 private:
  bool nx_;
  bool same_key_;
  bool src_exists_ = false;
  bool dst_exists_ = false;
  MovedValue moved_;
};

// Wraps RenameOp's logical hops so that plain RENAME skips the dst check: the
// coordinator numbers hops consecutively.
class PlainRenameOp : public RenameOp {
 public:
  explicit PlainRenameOp(ArgList args) : RenameOp(args, false) {}
  void RunHop(int hop, HopContext& h) override { RenameOp::RunHop(hop == 0 ? 0 : hop + 1, h); }
  HopPlan NextHop(int hop) override {
    HopPlan p = RenameOp::NextHop(hop == 0 ? 0 : hop + 1);
    return p;
  }
};

std::unique_ptr<MultiShardOp> MakeRename(ArgList a) { return std::make_unique<PlainRenameOp>(a); }
std::unique_ptr<MultiShardOp> MakeRenameNx(ArgList a) { return std::make_unique<RenameOp>(a, true); }

// COPY src dst [DB n] [REPLACE]: hop 0 on src clones; hop 1 on dst places.
class CopyOp : public MultiShardOp {
 public:
  explicit CopyOp(ArgList args) : args_(args) {}
  int max_hops() const override { return 2; }
  HopPlan FirstHop(unsigned) override { return {HopTarget::kShardOfKey, 1}; }
  void RunHop(int hop, HopContext& h) override {
    if (hop == 0) {
      if (!ParseOptions(h)) return;
      // The write lookup (a replica copies what its primary copied); Redis's read lookup
      // of the source fires keymiss when it is missing.
      const Slot* s = FindSource(h.shard, h.db, h.args[1], h.now_ms, /*stores=*/true);
      if (!s) return;
      found_ = true;
      moved_.value = s->value.Clone();
      moved_.expire_ms = s->expire_ms;
      moved_.flags = s->flags;
      moved_.access = NewAccessStamp();
    } else {
      if (h.shard.FindLive(dst_db_, h.args[2], h.now_ms) && !replace_) return;
      PlaceValue(h.shard, dst_db_, h.args[2], std::move(moved_), h.now_ms);
      h.effects.MarkDirty();
      h.shard.NotifyKeyspaceEvent(kNotifyGeneric, "copy_to", dst_db_, h.args[2]);
      copied_ = true;
    }
  }
  HopPlan NextHop(int hop) override {
    if (hop == 0 && found_ && error_.empty()) return {HopTarget::kShardOfKey, 2};
    return {HopTarget::kDone};
  }
  void Reply(ReplyBuilder& rb) override {
    if (!error_.empty()) rb.Error(error_);
    else rb.Integer(copied_ ? 1 : 0);
  }

 private:
  bool ParseOptions(HopContext& h) {
    dst_db_ = h.db;
    for (size_t j = 3; j < args_.size(); ++j) {
      if (EqualsIgnoreCase(args_[j], "replace")) {
        replace_ = true;
      } else if (EqualsIgnoreCase(args_[j], "db") && j + 1 < args_.size()) {
        auto v = ParseInt64(args_[j + 1]);
        if (!v) {
          error_ = errors::kNotInteger;
          return false;
        }
        if (*v < 0 || *v >= static_cast<int64_t>(h.shard.db_count())) {
          error_ = errors::kDbIndexOutOfRange;
          return false;
        }
        dst_db_ = static_cast<unsigned>(*v);
        ++j;
      } else {
        error_ = errors::kSyntax;
        return false;
      }
    }
    if (dst_db_ == h.db && args_[1] == args_[2]) {
      error_ = errors::kSameObject;
      return false;
    }
    return true;
  }

  ArgList args_;
  std::string error_;
  unsigned dst_db_ = 0;
  bool replace_ = false;
  bool found_ = false;
  bool copied_ = false;
  MovedValue moved_;
};

std::unique_ptr<MultiShardOp> MakeCopy(ArgList a) { return std::make_unique<CopyOp>(a); }

std::vector<size_t> FirstTwoKeys(ArgList) { return {1, 2}; }

// KEYS pattern: every shard collects its matches.
class KeysOp : public MultiShardOp {
 public:
  explicit KeysOp(ArgList) {}
  HopPlan FirstHop(unsigned n) override {
    per_shard_.resize(n);
    return {HopTarget::kAllShards};
  }
  bool needs_locks() const override { return false; }
  void RunHop(int, HopContext& h) override {
    auto& out = per_shard_[h.shard.index()];
    std::string_view pattern = h.args[1];
    bool all = pattern == "*";
    h.shard.db(h.db).Traverse(0, SIZE_MAX, [&](const Slot& s) {
      if (s.expire_ms && s.expire_ms <= h.now_ms) return;
      if (all || GlobMatch(pattern, s.key.view())) out.push_back(s.key.str());
    });
  }
  void Reply(ReplyBuilder& rb) override {
    size_t n = 0;
    for (auto& v : per_shard_) n += v.size();
    rb.ArrayHeader(n);
    for (auto& v : per_shard_)
      for (auto& k : v) rb.Bulk(k);
  }

 private:
  std::vector<std::vector<std::string>> per_shard_;
};

std::unique_ptr<MultiShardOp> MakeKeys(ArgList a) { return std::make_unique<KeysOp>(a); }

// SCAN: the cursor is (table cursor << 8 | shard). Each call walks one shard's part;
// a finished shard hands over to the next, so every key present for the whole scan
// is returned at least once (DbTable's cursor guarantee, per shard).
constexpr unsigned kScanShardBits = 8;

class ScanOp : public MultiShardOp {
 public:
  explicit ScanOp(ArgList args) : args_(args) {}
  bool needs_locks() const override { return false; }
  HopPlan FirstHop(unsigned shard_count) override {
    shard_count_ = shard_count;
    if (!Parse()) return {HopTarget::kDone};
    unsigned shard = static_cast<unsigned>(cursor_ & ((1u << kScanShardBits) - 1));
    if (shard >= shard_count) {
      // A cursor from a server with more threads: restart at the first shard rather
      // than miss keys.
      shard = 0;
      cursor_ = 0;
    }
    return {HopTarget::kShard, 0, shard};
  }
  void RunHop(int, HopContext& h) override {
    uint64_t table_cursor = cursor_ >> kScanShardBits;
    unsigned shard = h.shard.index();
    const DbTable& t = h.shard.db(h.db);
    uint64_t next = t.Traverse(table_cursor, count_ > keys_.size() ? count_ - keys_.size() : 1, [&](const Slot& s) {
      if (s.expire_ms && s.expire_ms <= h.now_ms) return;
      if (pattern_ && !GlobMatch(*pattern_, s.key.view())) return;
      if (type_ && TypeName(s.value.type()) != ToLower(*type_)) return;
      keys_.push_back(s.key.str());
    });
    if (next != 0) {
      next_cursor_ = (next << kScanShardBits) | shard;
    } else if (shard + 1 < h.shard_count) {
      next_cursor_ = shard + 1;
    } else {
      next_cursor_ = 0;
    }
  }
  // A shard that ran out before COUNT hands over to the next one in the same call, so
  // an empty keyspace answers cursor 0 at once, as Redis does.
  HopPlan NextHop(int) override {
    if (next_cursor_ != 0 && keys_.size() < count_ && (next_cursor_ >> kScanShardBits) == 0) {
      cursor_ = next_cursor_;
      return {HopTarget::kShard, 0, static_cast<unsigned>(next_cursor_)};
    }
    return {HopTarget::kDone};
  }
  void Reply(ReplyBuilder& rb) override {
    if (!error_.empty()) {
      rb.Error(error_);
      return;
    }
    rb.ArrayHeader(2);
    rb.Bulk(std::to_string(next_cursor_));
    rb.ArrayHeader(keys_.size());
    for (auto& k : keys_) rb.Bulk(k);
  }

 private:
  bool Parse() {
    // Redis parses the cursor as an unsigned 64-bit decimal.
    std::string_view c = args_[1];
    uint64_t v = 0;
    bool ok = !c.empty() && c.size() <= 20;
    for (char ch : c) {
      if (ch < '0' || ch > '9' || v > (UINT64_MAX - (ch - '0')) / 10) {
        ok = false;
        break;
      }
      v = v * 10 + (ch - '0');
    }
    if (!ok) {
      error_ = "ERR invalid cursor";
      return false;
    }
    cursor_ = v;
    for (size_t j = 2; j < args_.size(); j += 2) {
      if (j + 1 >= args_.size()) {
        error_ = errors::kSyntax;
        return false;
      }
      std::string_view opt = args_[j];
      if (EqualsIgnoreCase(opt, "count")) {
        auto n = ParseInt64(args_[j + 1]);
        if (!n) {
          error_ = errors::kNotInteger;
          return false;
        }
        if (*n < 1) {
          error_ = errors::kSyntax;
          return false;
        }
        count_ = static_cast<size_t>(*n);
      } else if (EqualsIgnoreCase(opt, "match")) {
        pattern_ = args_[j + 1];
        if (*pattern_ == "*") pattern_.reset();
      } else if (EqualsIgnoreCase(opt, "type")) {
        type_ = args_[j + 1];
      } else {
        error_ = errors::kSyntax;
        return false;
      }
    }
    return true;
  }

  ArgList args_;
  std::string error_;
  uint64_t cursor_ = 0;
  uint64_t next_cursor_ = 0;
  size_t count_ = 10;
  unsigned shard_count_ = 1;
  std::optional<std::string_view> pattern_;
  std::optional<std::string_view> type_;
  std::vector<std::string> keys_;
};

std::unique_ptr<MultiShardOp> MakeScan(ArgList a) { return std::make_unique<ScanOp>(a); }

class DbSizeOp : public MultiShardOp {
 public:
  explicit DbSizeOp(ArgList) {}
  bool needs_locks() const override { return false; }
  HopPlan FirstHop(unsigned n) override {
    sizes_.resize(n);
    return {HopTarget::kAllShards};
  }
  void RunHop(int, HopContext& h) override { sizes_[h.shard.index()] = h.shard.db(h.db).size(); }
  void Reply(ReplyBuilder& rb) override {
    size_t n = 0;
    for (size_t s : sizes_) n += s;
    rb.Integer(static_cast<int64_t>(n));
  }

 private:
  std::vector<size_t> sizes_;
};

std::unique_ptr<MultiShardOp> MakeDbSize(ArgList a) { return std::make_unique<DbSizeOp>(a); }

// RANDOMKEY: every shard offers one random live key and its size; the reply picks a
// shard with probability proportional to its size.
class RandomKeyOp : public MultiShardOp {
 public:
  explicit RandomKeyOp(ArgList) {}
  bool needs_locks() const override { return false; }
  HopPlan FirstHop(unsigned n) override {
    offers_.resize(n);
    return {HopTarget::kAllShards};
  }
  void RunHop(int, HopContext& h) override {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    auto& offer = offers_[h.shard.index()];
    const DbTable& t = h.shard.db(h.db);
    // Try a few times to skip logically expired keys, as Redis does.
    for (int attempt = 0; attempt < 100 && t.size() > 0; ++attempt) {
      const Slot* s = t.RandomSlot(rng());
      if (!s) break;
      if (s->expire_ms && s->expire_ms <= h.now_ms) continue;
      offer.key = s->key.str();
      offer.size = t.size();
      offer.found = true;
      break;
    }
  }
  void Reply(ReplyBuilder& rb) override {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    uint64_t total = 0;
    for (auto& o : offers_)
      if (o.found) total += o.size;
    if (total == 0) {
      rb.Null();
      return;
    }
    uint64_t pick = rng() % total;
    for (auto& o : offers_) {
      if (!o.found) continue;
      if (pick < o.size) {
        rb.Bulk(o.key);
        return;
      }
      pick -= o.size;
    }
  }

 private:
  struct Offer {
    std::string key;
    size_t size = 0;
    bool found = false;
  };
  std::vector<Offer> offers_;
};

std::unique_ptr<MultiShardOp> MakeRandomKey(ArgList a) { return std::make_unique<RandomKeyOp>(a); }

// FLUSHDB / FLUSHALL [ASYNC|SYNC]. Freeing is synchronous on each shard thread; all
// shards free in parallel, which is what ASYNC buys in Redis.
class FlushOp : public MultiShardOp {
 public:
  FlushOp(ArgList args, bool all) : all_(all) {
    if (args.size() > 2 || (args.size() == 2 && !EqualsIgnoreCase(args[1], "async") &&
                            !EqualsIgnoreCase(args[1], "sync")))
      error_ = true;
  }
  bool locks_whole_shards() const override { return true; }
  HopPlan FirstHop(unsigned) override { return error_ ? HopPlan{HopTarget::kDone} : HopPlan{HopTarget::kAllShards}; }
  void RunHop(int, HopContext& h) override {
    if (all_) {
      for (unsigned d = 0; d < h.shard.db_count(); ++d) h.shard.FlushDb(d);
    } else {
      h.shard.FlushDb(h.db);
    }
    h.effects.MarkDirty();
  }
  void Reply(ReplyBuilder& rb) override {
    if (error_) rb.Error(errors::kSyntax);
    else rb.Ok();
  }

 private:
  bool all_;
  bool error_ = false;
};

std::unique_ptr<MultiShardOp> MakeFlushDb(ArgList a) { return std::make_unique<FlushOp>(a, false); }
std::unique_ptr<MultiShardOp> MakeFlushAll(ArgList a) { return std::make_unique<FlushOp>(a, true); }

class SwapDbOp : public MultiShardOp {
 public:
  explicit SwapDbOp(ArgList args) : args_(args) {}
  bool locks_whole_shards() const override { return true; }
  HopPlan FirstHop(unsigned) override {
    auto a = ParseInt64(args_[1]);
    if (!a || *a < INT_MIN || *a > INT_MAX) {
      error_ = "ERR invalid first DB index";
      return {HopTarget::kDone};
    }
    auto b = ParseInt64(args_[2]);
    if (!b || *b < INT_MIN || *b > INT_MAX) {
      error_ = "ERR invalid second DB index";
      return {HopTarget::kDone};
    }
    a_ = *a;
    b_ = *b;
    return {HopTarget::kAllShards};
  }
  void RunHop(int, HopContext& h) override {
    int64_t n = h.shard.db_count();
    if (a_ < 0 || a_ >= n || b_ < 0 || b_ >= n) {
      error_ = errors::kDbIndexOutOfRange;  // same verdict on every shard
      return;
    }
    if (a_ != b_) h.shard.SwapDb(static_cast<unsigned>(a_), static_cast<unsigned>(b_));
    h.effects.MarkDirty();
  }
  void Reply(ReplyBuilder& rb) override {
    if (!error_.empty()) rb.Error(error_);
    else rb.Ok();
  }

 private:
  ArgList args_;
  std::string error_;
  int64_t a_ = 0, b_ = 0;
};

std::unique_ptr<MultiShardOp> MakeSwapDb(ArgList a) { return std::make_unique<SwapDbOp>(a); }

constexpr int kSharedIntegers = 10000;

void ObjectCommand(CommandContext& c) {
  std::string_view sub = c.args[1];
  if (EqualsIgnoreCase(sub, "help")) {
    if (c.args.size() != 2) {
      c.reply.Error(errors::WrongArity("object|help"));
      return;
    }
    static const char* kHelp[] = {
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    };
    c.reply.SimpleStringArray(kHelp);
    return;
  }
  bool known = EqualsIgnoreCase(sub, "encoding") || EqualsIgnoreCase(sub, "freq") ||
               EqualsIgnoreCase(sub, "idletime") || EqualsIgnoreCase(sub, "refcount");
  if (!known) {
    c.reply.Error("ERR unknown subcommand '" + std::string(sub) + "'. Try OBJECT HELP.");
    return;
  }
  if (c.args.size() != 3) {
    c.reply.Error(errors::WrongArity("object|" + ToLower(sub)));
    return;
  }
  const Slot* s = c.shard.FindForReadNoTouch(c.db, c.args[2], c.now_ms, /*notify_miss=*/false);
  if (!s) {
    c.reply.Null();
    return;
  }
  if (EqualsIgnoreCase(sub, "encoding")) {
    if (s->value.is_string()) c.reply.Bulk(StringEncodingName(s->value.string_view(), s->flags));
    else c.reply.Bulk(s->value.object()->EncodingName());
  } else if (EqualsIgnoreCase(sub, "refcount")) {
    int64_t refs = 1;
    if (s->value.is_string() && StringEncodingName(s->value.string_view(), s->flags) == "int") {
      auto v = ParseInt64(s->value.string_view());
      if (v && *v >= 0 && *v < kSharedIntegers) refs = INT_MAX;
    }
    c.reply.Integer(refs);
  } else if (EqualsIgnoreCase(sub, "idletime")) {
    if (GetStoreConfig().lfu_policy.load(std::memory_order_relaxed)) {
      c.reply.Error(
          "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between "
          "policies at runtime LRU and LFU data will take some time to adjust.");
      return;
    }
    uint32_t now = LruClock();
    c.reply.Integer(now >= s->access ? now - s->access : 0);
  } else {
    if (!GetStoreConfig().lfu_policy.load(std::memory_order_relaxed)) {
      c.reply.Error(
          "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when "
          "switching between policies at runtime LRU and LFU data will take some time to adjust.");
      return;
    }
    c.reply.Integer(LfuCounterNow(s->access));
  }
}

std::vector<size_t> ObjectKeys(ArgList args) {
  if (args.size() >= 3) return {2};
  return {};
}

}  // namespace

std::string_view TypeName(ValueType t) {
  switch (t) {
    case ValueType::kString: return "string";
    case ValueType::kList: return "list";
    case ValueType::kSet: return "set";
    case ValueType::kZset: return "zset";
    case ValueType::kHash: return "hash";
    case ValueType::kStream: return "stream";
  }
  return "none";
}

void RegisterGenericFamily(CommandTable& t) {
  constexpr uint32_t R = kCmdReadOnly;
  constexpr uint32_t W = kCmdWrite;
  constexpr uint32_t F = kCmdFast;
  CommandFamily family(t, kAclKeyspace);
  family << CommandRow("del", -2, W, 1, -1, 1).MultiShard(MakeDel)
         << CommandRow("unlink", -2, W | F, 1, -1, 1).MultiShard(MakeDel)
         << CommandRow("exists", -2, R | F, 1, -1, 1).MultiShard(MakeExists)
         << CommandRow("touch", -2, R | F, 1, -1, 1).MultiShard(MakeTouch)
         << CommandRow("type", 2, R | F, 1, 1, 1).Shard(TypeCommand)
         << CommandRow("expire", -3, W | F, 1, 1, 1).Shard(ExpireCommand)
         << CommandRow("pexpire", -3, W | F, 1, 1, 1).Shard(PExpireCommand)
         << CommandRow("expireat", -3, W | F, 1, 1, 1).Shard(ExpireAtCommand)
         << CommandRow("pexpireat", -3, W | F, 1, 1, 1).Shard(PExpireAtCommand)
         << CommandRow("ttl", 2, R | F | kCmdRandom, 1, 1, 1).Shard(TtlCommand)
         << CommandRow("pttl", 2, R | F | kCmdRandom, 1, 1, 1).Shard(PTtlCommand)
         << CommandRow("expiretime", 2, R | F, 1, 1, 1).Shard(ExpireTimeCommand)
         << CommandRow("pexpiretime", 2, R | F, 1, 1, 1).Shard(PExpireTimeCommand)
         << CommandRow("persist", 2, W | F, 1, 1, 1).Shard(PersistCommand)
         << CommandRow("move", 3, W | F, 1, 1, 1).Shard(MoveCommand)
         << CommandRow("rename", 3, W, 1, 2, 1).MultiShard(MakeRename).Keys(FirstTwoKeys)
         << CommandRow("renamenx", 3, W | F, 1, 2, 1).MultiShard(MakeRenameNx).Keys(FirstTwoKeys)
         << CommandRow("copy", -3, W | kCmdDenyOom, 1, 2, 1).MultiShard(MakeCopy).Keys(FirstTwoKeys)
         << CommandRow("keys", 2, R).MultiShard(MakeKeys).Acl(kAclDangerous)
         << CommandRow("scan", -2, R).MultiShard(MakeScan)
         << CommandRow("randomkey", 1, R | kCmdRandom).MultiShard(MakeRandomKey)
         << CommandRow("dbsize", 1, R | F).MultiShard(MakeDbSize)
         << CommandRow("flushdb", -1, W | kCmdGlobal).MultiShard(MakeFlushDb).Acl(kAclDangerous)
         << CommandRow("flushall", -1, W | kCmdGlobal).MultiShard(MakeFlushAll).Acl(kAclDangerous)
         << CommandRow("swapdb", 3, W | F | kCmdGlobal).MultiShard(MakeSwapDb).Acl(kAclDangerous)
         << CommandRow("object", -2, R, 2, 2, 1)
                .Shard(ObjectCommand)
                .Keys(ObjectKeys)
                .Container()
                .Subcommands({Sub("encoding", 3, R, 2, 2, 1), Sub("freq", 3, R, 2, 2, 1), Sub("idletime", 3, R, 2, 2, 1),
                              Sub("refcount", 3, R, 2, 2, 1), Sub("help", 2, kCmdLoading | kCmdStale)});
}

}  // namespace darter::store
