// String commands (Redis's t_string.c): GET, SET and its variants, counters, ranges.
// Single-key commands run on the key's shard; MGET/MSET/MSETNX are MultiShardOps.
#include <cmath>
#include <optional>
#include <string>

#include "resp/reply_builder.h"
#include "store/command_table.h"
#include "store/errors.h"
#include "store/multi_shard_op.h"
#include "store/shard.h"
#include "store/store_config.h"
#include "store/string_ops.h"
#include "store/string_util.h"

namespace darter::store {

std::string_view StringEncodingName(std::string_view value, uint8_t flags) {
  if (flags & kSlotRawString) return "raw";
  if (!(flags & kSlotNoIntEncoding) && value.size() <= 20 && ParseInt64(value)) return "int";
  return value.size() <= 44 ? "embstr" : "raw";
}

namespace {

using resp::ReplyBuilder;

// Looks `key` up for a string command: the read lookup for reads, the write lookup
// (shard.h) for commands that write. Returns false (and replies WRONGTYPE) when the key
// holds another type; *slot is nullptr when the key is absent.
bool CheckString(CommandContext& c, const Slot* slot) {
  if (slot && !slot->value.is_string()) {
    c.reply.Error(errors::kWrongType);
    return false;
  }
  return true;
}
bool LookupString(CommandContext& c, std::string_view key, const Slot** slot) {
  *slot = c.shard.FindForRead(c.db, key, c.now_ms);
  return CheckString(c, *slot);
}
bool LookupStringForWrite(CommandContext& c, std::string_view key, Slot** slot) {
  *slot = c.shard.FindLive(c.db, key, c.now_ms);
  return CheckString(c, *slot);
}
// For the commands Redis answers through a read lookup before writing (SET .. GET,
// GETSET, GETDEL, GETEX): one write lookup, plus the keymiss event the read lookup fires
// when the key is missing.
bool LookupStringForReadWrite(CommandContext& c, std::string_view key, Slot** slot) {
  *slot = c.shard.FindLive(c.db, key, c.now_ms);
  if (!*slot) c.shard.NotifyKeyspaceEvent(kNotifyKeyMiss, "keymiss", c.db, key);
  return CheckString(c, *slot);
}

// Writes a string value, keeping the slot's TTL when `keep_ttl`.
Slot* StoreString(CommandContext& c, std::string_view key, std::string_view value, bool keep_ttl, uint8_t flags = 0) {
  Slot* s = c.shard.FindLive(c.db, key, c.now_ms);
  if (!s) s = c.shard.InsertNew(c.db, key);
  else if (!keep_ttl) c.shard.SetExpire(c.db, s, 0);
  s->value.SetString(value);
  s->flags = flags;
  s->access = NewAccessStamp();
  return s;
}

enum SetFlags : unsigned {
  kNx = 1, kXx = 2, kGet = 4, kKeepTtl = 8, kPersist = 16, kEx = 32, kPx = 64, kExAt = 128, kPxAt = 256,
};
constexpr unsigned kAnyExpire = kEx | kPx | kExAt | kPxAt;

enum class OptionSet { kSet, kGetEx };

// Redis's parseExtendedStringArgumentsOrReply: the same precedence rules, so the same
// inputs are accepted and rejected.
bool ParseSetOptions(CommandContext& c, size_t first, OptionSet which, unsigned* flags,
                     std::optional<std::string_view>* expire) {
  for (size_t j = first; j < c.args.size(); ++j) {
    std::string_view opt = c.args[j];
    bool has_next = j + 1 < c.args.size();
    if (EqualsIgnoreCase(opt, "nx") && !(*flags & kXx) && which == OptionSet::kSet) {
      *flags |= kNx;
    } else if (EqualsIgnoreCase(opt, "xx") && !(*flags & kNx) && which == OptionSet::kSet) {
      *flags |= kXx;
    } else if (EqualsIgnoreCase(opt, "get") && which == OptionSet::kSet) {
      *flags |= kGet;
    } else if (EqualsIgnoreCase(opt, "keepttl") && !(*flags & kPersist) && !(*flags & kAnyExpire) &&
               which == OptionSet::kSet) {
      *flags |= kKeepTtl;
    } else if (EqualsIgnoreCase(opt, "persist") && which == OptionSet::kGetEx && !(*flags & kAnyExpire) &&
               !(*flags & kKeepTtl)) {
      *flags |= kPersist;
    } else if (has_next && EqualsIgnoreCase(opt, "ex") && !(*flags & (kKeepTtl | kPersist | kExAt | kPx | kPxAt))) {
      *flags |= kEx;
      *expire = c.args[++j];
    } else if (has_next && EqualsIgnoreCase(opt, "px") && !(*flags & (kKeepTtl | kPersist | kEx | kExAt | kPxAt))) {
      *flags |= kPx;
      *expire = c.args[++j];
    } else if (has_next && EqualsIgnoreCase(opt, "exat") && !(*flags & (kKeepTtl | kPersist | kEx | kPx | kPxAt))) {
      *flags |= kExAt;
      *expire = c.args[++j];
    } else if (has_next && EqualsIgnoreCase(opt, "pxat") && !(*flags & (kKeepTtl | kPersist | kEx | kExAt | kPx))) {
      *flags |= kPxAt;
      *expire = c.args[++j];
    } else {
      c.reply.Error(errors::kSyntax);
      return false;
    }
  }
  return true;
}

// Redis's getExpireMillisecondsOrReply: turns the EX/PX/EXAT/PXAT argument into an
// absolute unix-ms deadline.
bool ExpireDeadline(CommandContext& c, std::string_view arg, unsigned flags, std::string_view cmd, int64_t* when) {
  auto v = ParseInt64(arg);
  if (!v) {
    c.reply.Error(errors::kNotInteger);
    return false;
  }
  int64_t ms = *v;
  bool seconds = flags & (kEx | kExAt);
  if (ms <= 0 || (seconds && ms > INT64_MAX / 1000)) {
    c.reply.Error(errors::InvalidExpire(cmd));
    return false;
  }
  if (seconds) ms *= 1000;
  if (flags & (kEx | kPx)) {
    if (ms > INT64_MAX - c.now_ms) {
      c.reply.Error(errors::InvalidExpire(cmd));
      return false;
    }
    ms += c.now_ms;
  }
  *when = ms;
  return true;
}

// SET and the commands Redis implements through setGenericCommand.
void SetGeneric(CommandContext& c, unsigned flags, std::string_view key, std::string_view value,
                std::optional<std::string_view> expire, std::string_view cmd_name, bool reply_ok_as_int = false) {
  int64_t when = 0;
  if (expire && !ExpireDeadline(c, *expire, flags, cmd_name, &when)) return;
  Slot* old = nullptr;
  if (flags & kGet) {
    if (!LookupStringForReadWrite(c, key, &old)) return;
  } else {
    old = c.shard.FindLive(c.db, key, c.now_ms);
  }
  if (flags & kGet) {
    if (old) c.reply.Bulk(old->value.string_view());
    else c.reply.Null();
  }
  if ((flags & kNx && old) || (flags & kXx && !old)) {
    if (reply_ok_as_int) c.reply.Integer(0);
    else if (!(flags & kGet)) c.reply.Null();
    return;
  }
  Slot* s = StoreString(c, key, value, flags & kKeepTtl);
  c.effects.MarkDirty();
  c.shard.NotifyKeyspaceEvent(kNotifyString, "set", c.db, key);
  if (expire) {
    c.shard.SetExpire(c.db, s, when);
    c.shard.NotifyKeyspaceEvent(kNotifyGeneric, "expire", c.db, key);
    // Relative expiries are replayed as absolute ones so a replica that applies the
    // command later does not extend the key's life (Redis 7.0 does the same).
    std::string at = FormatInt64(when);
    c.effects.Propagate({"SET", key, value, "PXAT", at});
  } else if (flags & kGet) {
    // The old value was the reply's business only; the replica needs the plain write.
    if (flags & kKeepTtl) c.effects.Propagate({"SET", key, value, "KEEPTTL"});
    else c.effects.Propagate({"SET", key, value});
  }
  if (reply_ok_as_int) c.reply.Integer(1);
  else if (!(flags & kGet)) c.reply.Ok();
}

void GetCommand(CommandContext& c) {
  const Slot* s;
  if (!LookupString(c, c.args[1], &s)) return;
  if (s) c.reply.Bulk(s->value.string_view());
  else c.reply.Null();
}

void SetCommand(CommandContext& c) {
  unsigned flags = 0;
  std::optional<std::string_view> expire;
  if (!ParseSetOptions(c, 3, OptionSet::kSet, &flags, &expire)) return;
  SetGeneric(c, flags, c.args[1], c.args[2], expire, "set");
}

void SetNxCommand(CommandContext& c) { SetGeneric(c, kNx, c.args[1], c.args[2], std::nullopt, "setnx", true); }

void SetExCommand(CommandContext& c) { SetGeneric(c, kEx, c.args[1], c.args[3], c.args[2], "setex"); }

void PSetExCommand(CommandContext& c) { SetGeneric(c, kPx, c.args[1], c.args[3], c.args[2], "psetex"); }

void GetSetCommand(CommandContext& c) {
  Slot* s;
  if (!LookupStringForReadWrite(c, c.args[1], &s)) return;
  if (s) c.reply.Bulk(s->value.string_view());
  else c.reply.Null();
  StoreString(c, c.args[1], c.args[2], false);
  c.effects.MarkDirty();
  c.shard.NotifyKeyspaceEvent(kNotifyString, "set", c.db, c.args[1]);
  c.effects.Propagate({"SET", c.args[1], c.args[2]});
}

void GetDelCommand(CommandContext& c) {
  Slot* s;
  if (!LookupStringForReadWrite(c, c.args[1], &s)) return;
  if (!s) {
    c.reply.Null();
    return;
  }
  c.reply.Bulk(s->value.string_view());
  c.shard.Erase(c.db, s);
  c.effects.MarkDirty();
  c.effects.Propagate({"DEL", c.args[1]});
  c.shard.NotifyKeyspaceEvent(kNotifyGeneric, "del", c.db, c.args[1]);
}

void GetExCommand(CommandContext& c) {
  unsigned flags = 0;
  std::optional<std::string_view> expire;
  if (!ParseSetOptions(c, 2, OptionSet::kGetEx, &flags, &expire)) return;
  Slot* s;
  if (!LookupStringForReadWrite(c, c.args[1], &s)) return;
  if (!s) {
    c.reply.Null();
    return;
  }
  int64_t when = 0;
  if (expire && !ExpireDeadline(c, *expire, flags, "getex", &when)) return;
  c.reply.Bulk(s->value.string_view());
  if ((flags & (kExAt | kPxAt)) && when <= c.now_ms && c.shard.expire_on_access()) {
    c.shard.Erase(c.db, s);
    c.effects.MarkDirty();
    c.effects.Propagate({"DEL", c.args[1]});
    c.shard.NotifyKeyspaceEvent(kNotifyGeneric, "del", c.db, c.args[1]);
  } else if (expire) {
    c.shard.SetExpire(c.db, s, when);
    c.effects.MarkDirty();
    c.shard.NotifyKeyspaceEvent(kNotifyGeneric, "expire", c.db, c.args[1]);
    std::string at = FormatInt64(when);
    c.effects.Propagate({"PEXPIREAT", c.args[1], at});
  } else if (flags & kPersist) {
    if (s->expire_ms) {
      c.shard.SetExpire(c.db, s, 0);
      c.effects.MarkDirty();
      c.effects.Propagate({"PERSIST", c.args[1]});
      c.shard.NotifyKeyspaceEvent(kNotifyGeneric, "persist", c.db, c.args[1]);
    }
  }
}

void AppendCommand(CommandContext& c) {
  Slot* s;
  if (!LookupStringForWrite(c, c.args[1], &s)) return;
  std::string_view tail = c.args[2];
  if (!s) {
    StoreString(c, c.args[1], tail, false);
    c.effects.MarkDirty();
    c.shard.NotifyKeyspaceEvent(kNotifyString, "append", c.db, c.args[1]);
    c.reply.Integer(static_cast<int64_t>(tail.size()));
    return;
  }
  CompactString& str = s->value.mutable_string();
  size_t old = str.size();
  if (old + tail.size() > ProtoMaxBulkLen()) {
    c.reply.Error(errors::kStringTooLong);
    return;
  }
  str.Resize(old + tail.size());
  std::memcpy(str.mutable_data() + old, tail.data(), tail.size());
  s->flags = kSlotRawString;
  c.effects.MarkDirty();
  c.shard.NotifyKeyspaceEvent(kNotifyString, "append", c.db, c.args[1]);
  c.reply.Integer(static_cast<int64_t>(str.size()));
}

void StrlenCommand(CommandContext& c) {
  const Slot* s;
  if (!LookupString(c, c.args[1], &s)) return;
  c.reply.Integer(s ? static_cast<int64_t>(s->value.string_view().size()) : 0);
}

void IncrDecrBy(CommandContext& c, int64_t incr) {
  Slot* s;
  if (!LookupStringForWrite(c, c.args[1], &s)) return;
  int64_t value = 0;
  if (s) {
    auto v = ParseInt64(s->value.string_view());
    if (!v) {
      c.reply.Error(errors::kNotInteger);
      return;
    }
    value = *v;
  }
  if ((incr < 0 && value < 0 && incr < INT64_MIN - value) || (incr > 0 && value > 0 && incr > INT64_MAX - value)) {
    c.reply.Error(errors::kOverflow);
    return;
  }
  value += incr;
  std::string text = FormatInt64(value);
  StoreString(c, c.args[1], text, /*keep_ttl=*/true);
  c.effects.MarkDirty();
  c.shard.NotifyKeyspaceEvent(kNotifyString, "incrby", c.db, c.args[1]);
  c.reply.Integer(value);
}

void IncrCommand(CommandContext& c) { IncrDecrBy(c, 1); }
void DecrCommand(CommandContext& c) { IncrDecrBy(c, -1); }

void IncrByCommand(CommandContext& c) {
  auto v = ParseInt64(c.args[2]);
  if (!v) {
    c.reply.Error(errors::kNotInteger);
    return;
  }
  IncrDecrBy(c, *v);
}

void DecrByCommand(CommandContext& c) {
  auto v = ParseInt64(c.args[2]);
  if (!v) {
    c.reply.Error(errors::kNotInteger);
    return;
  }
  if (*v == INT64_MIN) {
    c.reply.Error("ERR decrement would overflow");
    return;
  }
  IncrDecrBy(c, -*v);
}

void IncrByFloatCommand(CommandContext& c) {
  Slot* s;
  if (!LookupStringForWrite(c, c.args[1], &s)) return;
  long double value = 0;
  if (s) {
    auto v = ParseLongDouble(s->value.string_view());
    if (!v) {
      c.reply.Error(errors::kNotFloat);
      return;
    }
    value = *v;
  }
  auto incr = ParseLongDouble(c.args[2]);
  if (!incr) {
    c.reply.Error(errors::kNotFloat);
    return;
  }
  value += *incr;
  if (std::isnan(value) || std::isinf(value)) {
    c.reply.Error("ERR increment would produce NaN or Infinity");
    return;
  }
  std::string text = FormatLongDoubleHuman(value);
  StoreString(c, c.args[1], text, /*keep_ttl=*/true, kSlotNoIntEncoding);
  c.effects.MarkDirty();
  c.shard.NotifyKeyspaceEvent(kNotifyString, "incrbyfloat", c.db, c.args[1]);
  // Replaying the increment could round differently elsewhere: send the result.
  c.effects.Propagate({"SET", c.args[1], text, "KEEPTTL"});
  c.reply.Bulk(text);
}

void GetRangeCommand(CommandContext& c) {
  auto start_arg = ParseInt64(c.args[2]);
  auto end_arg = ParseInt64(c.args[3]);
  if (!start_arg || !end_arg) {
    c.reply.Error(errors::kNotInteger);
    return;
  }
  const Slot* s;
  if (!LookupString(c, c.args[1], &s)) return;
  if (!s) {
    c.reply.Bulk("");
    return;
  }
  int64_t start = *start_arg, end = *end_arg;
  std::string_view str = s->value.string_view();
  int64_t len = static_cast<int64_t>(str.size());
  if (start < 0 && end < 0 && start > end) {
    c.reply.Bulk("");
    return;
  }
  if (start < 0) start = len + start;
  if (end < 0) end = len + end;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= len) end = len - 1;
  if (start > end || len == 0) {
    c.reply.Bulk("");
    return;
  }
  c.reply.Bulk(str.substr(start, end - start + 1));
}

void SetRangeCommand(CommandContext& c) {
  auto offset_arg = ParseInt64(c.args[2]);
  if (!offset_arg) {
    c.reply.Error(errors::kNotInteger);
    return;
  }
  int64_t offset = *offset_arg;
  std::string_view value = c.args[3];
  if (offset < 0) {
    c.reply.Error(errors::kOffsetOutOfRange);
    return;
  }
  Slot* s;
  if (!LookupStringForWrite(c, c.args[1], &s)) return;
  size_t old_len = s ? s->value.string_view().size() : 0;
  if (value.empty()) {
    c.reply.Integer(static_cast<int64_t>(old_len));
    return;
  }
  if (static_cast<uint64_t>(offset) + value.size() > ProtoMaxBulkLen()) {
    c.reply.Error(errors::kStringTooLong);
    return;
  }
  if (!s) s = StoreString(c, c.args[1], "", false);
  CompactString& str = s->value.mutable_string();
  size_t need = static_cast<size_t>(offset) + value.size();
  if (need > str.size()) str.Resize(need);
  std::memcpy(str.mutable_data() + offset, value.data(), value.size());
  s->flags = kSlotRawString;
  c.effects.MarkDirty();
  c.shard.NotifyKeyspaceEvent(kNotifyString, "setrange", c.db, c.args[1]);
  c.reply.Integer(static_cast<int64_t>(str.size()));
}

// MGET: each shard reads its keys; the reply keeps argument order.
class MGetOp : public MultiShardOp {
 public:
  explicit MGetOp(ArgList args) : values_(args.size()), present_(args.size(), false) {}
  int max_hops() const override { return 1; }
  void RunHop(int, HopContext& h) override {
    for (size_t i : h.key_indices) {
      const Slot* s = h.shard.FindForRead(h.db, h.args[i], h.now_ms);
      if (s && s->value.is_string()) {
        values_[i].assign(s->value.string_view());
        present_[i] = true;
      }
    }
  }
  void Reply(ReplyBuilder& rb) override {
    rb.ArrayHeader(values_.size() - 1);
    for (size_t i = 1; i < values_.size(); ++i) {
      if (present_[i]) rb.Bulk(values_[i]);
      else rb.Null();
    }
  }

 private:
  std::vector<std::string> values_;
  std::vector<char> present_;  // not vector<bool>: shards write distinct elements concurrently
};

void WritePairs(HopContext& h) {
  for (size_t i : h.key_indices) {
    h.effects.MarkDirty();
    Slot* s = h.shard.FindLive(h.db, h.args[i], h.now_ms);
    if (!s) s = h.shard.InsertNew(h.db, h.args[i]);
    else h.shard.SetExpire(h.db, s, 0);
    s->value.SetString(h.args[i + 1]);
    s->flags = 0;
    s->access = NewAccessStamp();
    h.shard.NotifyKeyspaceEvent(kNotifyString, "set", h.db, h.args[i]);
  }
}

class MSetOp : public MultiShardOp {
 public:
  explicit MSetOp(ArgList) {}
  int max_hops() const override { return 1; }
  void RunHop(int, HopContext& h) override { WritePairs(h); }
  void Reply(ReplyBuilder& rb) override { rb.Ok(); }
};

// MSETNX: hop 0 checks every key on its shard; hop 1 writes only when none existed.
class MSetNxOp : public MultiShardOp {
 public:
  explicit MSetNxOp(ArgList args) : exists_(args.size(), 0) {}
  int max_hops() const override { return 2; }
  void RunHop(int hop, HopContext& h) override {
    if (hop == 0) {
      for (size_t i : h.key_indices) exists_[i] = h.shard.FindLive(h.db, h.args[i], h.now_ms) != nullptr;
    } else {
      WritePairs(h);
    }
  }
  HopPlan NextHop(int hop) override {
    if (hop > 0) return {HopTarget::kDone};
    for (char e : exists_)
      if (e) return {HopTarget::kDone};
    written_ = true;
    return {HopTarget::kKeyShards};
  }
  void Reply(ReplyBuilder& rb) override { rb.Integer(written_ ? 1 : 0); }

 private:
  std::vector<char> exists_;
  bool written_ = false;
};

template <typename Op>
std::unique_ptr<MultiShardOp> Make(ArgList args) {
  return std::make_unique<Op>(args);
}

// MSET/MSETNX: the name, then key-value pairs.
std::string ValidateKeyValuePairs(ArgList args) {
  if (args.size() % 2 == 0) return errors::WrongArity(ToLower(args[0]));
  return {};
}

}  // namespace

void RegisterStringFamily(CommandTable& t) {
  constexpr uint32_t R = kCmdReadOnly | kCmdFast;
  constexpr uint32_t W = kCmdWrite | kCmdDenyOom;
  constexpr uint32_t F = kCmdFast;
  CommandFamily family(t, kAclString);
  family << CommandRow("get", 2, R, 1, 1, 1).Shard(GetCommand)
         << CommandRow("set", -3, W, 1, 1, 1).Shard(SetCommand)
         << CommandRow("setnx", 3, W | F, 1, 1, 1).Shard(SetNxCommand)
         << CommandRow("setex", 4, W, 1, 1, 1).Shard(SetExCommand)
         << CommandRow("psetex", 4, W, 1, 1, 1).Shard(PSetExCommand)
         << CommandRow("getset", 3, W | F, 1, 1, 1).Shard(GetSetCommand)
         << CommandRow("getdel", 2, kCmdWrite | F, 1, 1, 1).Shard(GetDelCommand)
         << CommandRow("getex", -2, kCmdWrite | F, 1, 1, 1).Shard(GetExCommand)
         << CommandRow("append", 3, W | F, 1, 1, 1).Shard(AppendCommand)
         << CommandRow("strlen", 2, R, 1, 1, 1).Shard(StrlenCommand)
         << CommandRow("incr", 2, W | F, 1, 1, 1).Shard(IncrCommand)
         << CommandRow("decr", 2, W | F, 1, 1, 1).Shard(DecrCommand)
         << CommandRow("incrby", 3, W | F, 1, 1, 1).Shard(IncrByCommand)
         << CommandRow("decrby", 3, W | F, 1, 1, 1).Shard(DecrByCommand)
         << CommandRow("incrbyfloat", 3, W | F, 1, 1, 1).Shard(IncrByFloatCommand)
         << CommandRow("getrange", 4, kCmdReadOnly, 1, 1, 1).Shard(GetRangeCommand)
         << CommandRow("substr", 4, kCmdReadOnly, 1, 1, 1).Shard(GetRangeCommand)
         << CommandRow("setrange", 4, W, 1, 1, 1).Shard(SetRangeCommand)
         << CommandRow("mget", -2, R, 1, -1, 1).MultiShard(Make<MGetOp>)
         << CommandRow("mset", -3, W, 1, -1, 2).MultiShard(Make<MSetOp>).Validate(ValidateKeyValuePairs)
         << CommandRow("msetnx", -3, W, 1, -1, 2).MultiShard(Make<MSetNxOp>).Validate(ValidateKeyValuePairs);
}

}  // namespace darter::store
