// Bitmap commands (Redis's bitops.c): SETBIT GETBIT BITCOUNT BITPOS BITFIELD
// BITFIELD_RO run on their key's shard; BITOP is a MultiShardOp (each shard folds its
// source keys into one partial result, the destination's shard folds the partials and
// stores the result). Bitmaps are plain string values; a string changed in place is
// flagged raw, as Redis's unshared sds strings are.
#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "resp/reply_builder.h"
#include "store/bitfield.h"
#include "store/command_table.h"
#include "store/errors.h"
#include "store/multi_shard_op.h"
#include "store/family_util.h"
#include "store/shard.h"
#include "store/store_config.h"
#include "store/string_ops.h"
#include "store/string_util.h"

namespace darter::store {
namespace {

using resp::ReplyBuilder;

constexpr std::string_view kBadOffset = "ERR bit offset is not an integer or out of range";
constexpr std::string_view kBadBit = "ERR bit is not an integer or out of range";
constexpr std::string_view kBadBitfieldType =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
constexpr std::string_view kBitfieldRoGetOnly = "ERR BITFIELD_RO only supports the GET subcommand";
constexpr std::string_view kBadOverflow = "ERR Invalid OVERFLOW type specified";
constexpr std::string_view kBitposBit = "ERR The bit argument must be 1 or 0.";
constexpr std::string_view kBitopNot = "ERR BITOP NOT must be called with a single source key.";

// Redis's getBitOffsetFromArgument: a bit offset below 8 * proto-max-bulk-len
// (read at each call: CONFIG SET proto-max-bulk-len moves it; 2^32 bits at the
// 512 MB default); with `hash`, "#N" means N * bits.
std::optional<uint64_t> ParseBitOffset(std::string_view arg, bool hash, unsigned bits) {
  bool usehash = hash && arg.size() > 1 && arg[0] == '#';
  auto v = ParseInt64(usehash ? arg.substr(1) : arg);
  if (!v || *v < 0) return std::nullopt;
  int64_t off = *v;
  if (usehash) {
    if (off > INT64_MAX / static_cast<int64_t>(bits)) return std::nullopt;
    off *= bits;
  }
  if (static_cast<uint64_t>(off >> 3) >= ProtoMaxBulkLen()) return std::nullopt;
  return static_cast<uint64_t>(off);
}

// "i<1..64>" or "u<1..63>"; case-sensitive, as Redis.
bool ParseBitfieldType(std::string_view arg, bool* sign, unsigned* bits) {
  if (arg.empty() || (arg[0] != 'i' && arg[0] != 'u')) return false;
  *sign = arg[0] == 'i';
  auto n = ParseInt64(arg.substr(1));
  if (!n || *n < 1 || (*sign && *n > 64) || (!*sign && *n > 63)) return false;
  *bits = static_cast<unsigned>(*n);
  return true;
}

// Looks `key` up as a string for reading; false after replying WRONGTYPE.
bool LookupString(CommandContext& c, const Slot** slot) {
  *slot = c.shard.FindForRead(c.db, c.args[1], c.now_ms);
  if (*slot && !(*slot)->value.is_string()) {
    c.reply.Error(errors::kWrongType);
    return false;
  }
  return true;
}

// Redis's lookupStringForBitCommand: the key's string, created or zero-grown so that
// bit `max_bit` exists. Null after replying WRONGTYPE. *grown says whether the key was
// created or lengthened.
Slot* StringForBitWrite(CommandContext& c, uint64_t max_bit, bool* grown) {
  size_t need = static_cast<size_t>(max_bit >> 3) + 1;
  Slot* s = c.shard.FindLive(c.db, c.args[1], c.now_ms);
  if (s && !s->value.is_string()) {
    c.reply.Error(errors::kWrongType);
    return nullptr;
  }
  *grown = false;
  if (!s) {
    s = c.shard.InsertNew(c.db, c.args[1]);
    *grown = true;
  }
  CompactString& str = s->value.mutable_string();
  if (str.size() < need) {
    str.Resize(need);
    *grown = true;
  }
  s->flags = kSlotRawString;
  s->access = LruClock();
  return s;
}

void SetBitCommand(CommandContext& c) {
  auto offset = ParseBitOffset(c.args[2], false, 0);
  if (!offset) {
    c.reply.Error(kBadOffset);
    return;
  }
  auto on = ParseInt64(c.args[3]);
  if (!on || (*on & ~int64_t{1})) {
    c.reply.Error(kBadBit);
    return;
  }
  bool grown;
  Slot* s = StringForBitWrite(c, *offset, &grown);
  if (!s) return;
  char* data = s->value.mutable_string().mutable_data();
  uint8_t mask = static_cast<uint8_t>(1u << (7 - (*offset & 7)));
  uint8_t& byte = reinterpret_cast<uint8_t&>(data[*offset >> 3]);
  bool old = byte & mask;
  if (grown || old != (*on == 1)) {
    byte = static_cast<uint8_t>(*on ? (byte | mask) : (byte & ~mask));
    c.effects.MarkDirty();
    c.shard.NotifyKeyspaceEvent(kNotifyString, "setbit", c.db, c.args[1]);
  }
  c.reply.Integer(old ? 1 : 0);
}

void GetBitCommand(CommandContext& c) {
  auto offset = ParseBitOffset(c.args[2], false, 0);
  if (!offset) {
    c.reply.Error(kBadOffset);
    return;
  }
  const Slot* s;
  if (!LookupString(c, &s)) return;
  int bit = 0;
  if (s) {
    std::string_view v = s->value.string_view();
    uint64_t byte = *offset >> 3;
    if (byte < v.size()) bit = (static_cast<uint8_t>(v[byte]) >> (7 - (*offset & 7))) & 1;
  }
  c.reply.Integer(bit);
}

// Resolves BITCOUNT/BITPOS's start/end (already parsed) against a string of `len`
// bytes into an inclusive bit range; false when the range is empty. Redis's rules:
// negative indexes count from the end, then both are clamped into the string.
bool ResolveRange(int64_t start, int64_t end, bool isbit, int64_t len, uint64_t* first, uint64_t* last) {
  int64_t total = isbit ? len * 8 : len;
  if (start < 0) start += total;
  if (end < 0) end += total;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= total) end = total - 1;
  if (start > end) return false;
  *first = isbit ? start : start * 8;
  *last = isbit ? end : end * 8 + 7;
  return true;
}

// "BIT" / "BYTE" unit argument; nullopt after replying a syntax error.
std::optional<bool> ParseUnit(CommandContext& c, std::string_view arg) {
  if (EqualsIgnoreCase(arg, "bit")) return true;
  if (EqualsIgnoreCase(arg, "byte")) return false;
  c.reply.Error(errors::kSyntax);
  return std::nullopt;
}

// Redis 7.0 looks the key up before parsing the range: a missing key answers 0 even
// for malformed ranges.
void BitCountCommand(CommandContext& c) {
  const Slot* s;
  if (!LookupString(c, &s)) return;
  if (!s) {
    c.reply.Integer(0);
    return;
  }
  std::string_view v = s->value.string_view();
  size_t argc = c.args.size();
  int64_t start = 0, end = -1;
  bool isbit = false;
  if (argc == 4 || argc == 5) {
    auto a = ParseInt64(c.args[2]);
    auto b = a ? ParseInt64(c.args[3]) : std::nullopt;
    if (!a || !b) {
      c.reply.Error(errors::kNotInteger);
      return;
    }
    start = *a;
    end = *b;
    if (start < 0 && end < 0 && start > end) {
      c.reply.Integer(0);
      return;
    }
    if (argc == 5) {
      auto unit = ParseUnit(c, c.args[4]);
      if (!unit) return;
      isbit = *unit;
    }
  } else if (argc != 2) {
    c.reply.Error(errors::kSyntax);
    return;
  }
  uint64_t first, last;
  if (!ResolveRange(start, end, isbit, static_cast<int64_t>(v.size()), &first, &last)) {
    c.reply.Integer(0);
    return;
  }
  c.reply.Integer(static_cast<int64_t>(bits::CountBits(v, first, last)));
}

void BitPosCommand(CommandContext& c) {
  auto bit = ParseInt64(c.args[2]);
  if (!bit) {
    c.reply.Error(errors::kNotInteger);
    return;
  }
  if (*bit != 0 && *bit != 1) {
    c.reply.Error(kBitposBit);
    return;
  }
  const Slot* s;
  if (!LookupString(c, &s)) return;
  if (!s) {  // an endless run of zero bits
    c.reply.Integer(*bit ? -1 : 0);
    return;
  }
  std::string_view v = s->value.string_view();
  int64_t len = static_cast<int64_t>(v.size());
  size_t argc = c.args.size();
  int64_t start = 0, end = len - 1;
  bool isbit = false, end_given = false;
  if (argc >= 4 && argc <= 6) {
    auto a = ParseInt64(c.args[3]);
    if (!a) {
      c.reply.Error(errors::kNotInteger);
      return;
    }
    start = *a;
    if (argc == 6) {
      auto unit = ParseUnit(c, c.args[5]);
      if (!unit) return;
      isbit = *unit;
    }
    if (argc >= 5) {
      auto b = ParseInt64(c.args[4]);
      if (!b) {
        c.reply.Error(errors::kNotInteger);
        return;
      }
      end = *b;
      end_given = true;
    } else {
      end = isbit ? len * 8 + 7 : len - 1;
    }
  } else if (argc != 3) {
    c.reply.Error(errors::kSyntax);
    return;
  }
  uint64_t first, last;
  if (!ResolveRange(start, end, isbit, len, &first, &last)) {
    c.reply.Integer(-1);
    return;
  }
  int64_t pos = bits::FindBit(v, first, last, static_cast<int>(*bit));
  if (pos < 0 && *bit == 0 && !end_given) {
    // Looking for a clear bit with no explicit end: the string continues with zeros
    // right after the range's last byte.
    pos = static_cast<int64_t>((last >> 3) + 1) * 8;
  }
  c.reply.Integer(pos);
}

struct BitfieldOp {
  enum Kind { kGet, kSet, kIncrBy } kind;
  bits::Overflow overflow;
  bool sign;
  unsigned width;
  uint64_t offset;
  int64_t value;
};

void ApplyWrite(const BitfieldOp& op, CompactString& str, ReplyBuilder& rb) {
  char* data = str.mutable_data();
  std::string_view v = str.view();
  bool fail = op.overflow == bits::Overflow::kFail;
  if (op.sign) {
    int64_t oldval = bits::GetSigned(v, op.offset, op.width), newval, wrapped = 0, ret;
    int of;
    if (op.kind == BitfieldOp::kIncrBy) {
      of = bits::CheckSignedOverflow(oldval, op.value, op.width, op.overflow, &wrapped);
      newval = of ? wrapped : static_cast<int64_t>(static_cast<uint64_t>(oldval) + static_cast<uint64_t>(op.value));
      ret = newval;
    } else {
      newval = op.value;
      of = bits::CheckSignedOverflow(newval, 0, op.width, op.overflow, &wrapped);
      if (of) newval = wrapped;
      ret = oldval;
    }
    if (of && fail) {
      rb.Null();
      return;
    }
    rb.Integer(ret);
    bits::SetField(data, op.offset, op.width, static_cast<uint64_t>(newval));
  } else {
    uint64_t oldval = bits::GetUnsigned(v, op.offset, op.width), newval, wrapped = 0, ret;
    int of;
    if (op.kind == BitfieldOp::kIncrBy) {
      newval = oldval + static_cast<uint64_t>(op.value);
      of = bits::CheckUnsignedOverflow(oldval, op.value, op.width, op.overflow, &wrapped);
      if (of) newval = wrapped;
      ret = newval;
    } else {
      newval = static_cast<uint64_t>(op.value);
      of = bits::CheckUnsignedOverflow(newval, 0, op.width, op.overflow, &wrapped);
      if (of) newval = wrapped;
      ret = oldval;
    }
    if (of && fail) {
      rb.Null();
      return;
    }
    rb.Integer(static_cast<int64_t>(ret));
    bits::SetField(data, op.offset, op.width, newval);
  }
}

void BitfieldGeneric(CommandContext& c, bool ro_command) {
  std::vector<BitfieldOp> ops;
  bits::Overflow overflow = bits::Overflow::kWrap;
  bool readonly = true;
  uint64_t highest_write = 0;
  size_t argc = c.args.size();
  for (size_t j = 2; j < argc; ++j) {
    size_t remaining = argc - j - 1;
    std::string_view sub = c.args[j];
    BitfieldOp op{};
    if (EqualsIgnoreCase(sub, "get") && remaining >= 2) {
      op.kind = BitfieldOp::kGet;
    } else if (EqualsIgnoreCase(sub, "set") && remaining >= 3) {
      op.kind = BitfieldOp::kSet;
    } else if (EqualsIgnoreCase(sub, "incrby") && remaining >= 3) {
      op.kind = BitfieldOp::kIncrBy;
    } else if (EqualsIgnoreCase(sub, "overflow") && remaining >= 1) {
      std::string_view type = c.args[++j];
      if (EqualsIgnoreCase(type, "wrap")) overflow = bits::Overflow::kWrap;
      else if (EqualsIgnoreCase(type, "sat")) overflow = bits::Overflow::kSat;
      else if (EqualsIgnoreCase(type, "fail")) overflow = bits::Overflow::kFail;
      else {
        c.reply.Error(kBadOverflow);
        return;
      }
      continue;
    } else {
      c.reply.Error(errors::kSyntax);
      return;
    }
    if (!ParseBitfieldType(c.args[j + 1], &op.sign, &op.width)) {
      c.reply.Error(kBadBitfieldType);
      return;
    }
    auto offset = ParseBitOffset(c.args[j + 2], true, op.width);
    if (!offset) {
      c.reply.Error(kBadOffset);
      return;
    }
    op.offset = *offset;
    if (op.kind != BitfieldOp::kGet) {
      readonly = false;
      highest_write = std::max(highest_write, op.offset + op.width - 1);
      auto v = ParseInt64(c.args[j + 3]);
      if (!v) {
        c.reply.Error(errors::kNotInteger);
        return;
      }
      op.value = *v;
    }
    op.overflow = overflow;
    ops.push_back(op);
    j += op.kind == BitfieldOp::kGet ? 2 : 3;
  }

  const Slot* r = nullptr;  // what GET reads
  Slot* s = nullptr;        // what SET / INCRBY change (the write form only)
  if (readonly) {
    if (!LookupString(c, &r)) return;
  } else {
    if (ro_command) {
      c.reply.Error(kBitfieldRoGetOnly);
      return;
    }
    bool grown;
    if (!(s = StringForBitWrite(c, highest_write, &grown))) return;
    r = s;
  }

  c.reply.ArrayHeader(ops.size());
  uint64_t changes = 0;
  for (const BitfieldOp& op : ops) {
    if (op.kind == BitfieldOp::kGet) {
      std::string_view v = r ? r->value.string_view() : std::string_view();
      if (op.sign) c.reply.Integer(bits::GetSigned(v, op.offset, op.width));
      else c.reply.Integer(static_cast<int64_t>(bits::GetUnsigned(v, op.offset, op.width)));
    } else {
      ApplyWrite(op, s->value.mutable_string(), c.reply);
      ++changes;
    }
  }
  if (changes) {
    c.effects.MarkDirty(changes);
    c.shard.NotifyKeyspaceEvent(kNotifyString, "setbit", c.db, c.args[1]);
  }
}

void BitfieldCommand(CommandContext& c) { BitfieldGeneric(c, false); }
void BitfieldRoCommand(CommandContext& c) { BitfieldGeneric(c, true); }

enum class BitOpKind { kAnd, kOr, kXor, kNot };

std::optional<BitOpKind> ParseBitOp(std::string_view name) {
  if (EqualsIgnoreCase(name, "and")) return BitOpKind::kAnd;
  if (EqualsIgnoreCase(name, "or")) return BitOpKind::kOr;
  if (EqualsIgnoreCase(name, "xor")) return BitOpKind::kXor;
  if (EqualsIgnoreCase(name, "not")) return BitOpKind::kNot;
  return std::nullopt;
}

std::string ValidateBitOp(ArgList args) {
  auto op = ParseBitOp(args[1]);
  if (!op) return std::string(errors::kSyntax);
  if (*op == BitOpKind::kNot && args.size() != 4) return std::string(kBitopNot);
  return {};
}

// One bitwise fold step: acc = acc OP src, the shorter side zero-extended.
void Fold(BitOpKind op, std::string* acc, std::string_view src) {
  if (src.size() > acc->size()) acc->resize(src.size(), '\0');
  char* a = acc->data();
  size_t n = src.size(), i = 0;
  auto apply = [op](uint64_t x, uint64_t y) {
    switch (op) {
      case BitOpKind::kAnd:
        return x & y;
      case BitOpKind::kOr:
        return x | y;
      default:
        return x ^ y;
    }
  };
  for (; i + 8 <= n; i += 8) {
    uint64_t x, y;
    std::memcpy(&x, a + i, 8);
    std::memcpy(&y, src.data() + i, 8);
    x = apply(x, y);
    std::memcpy(a + i, &x, 8);
  }
  for (; i < n; ++i)
    a[i] = static_cast<char>(apply(static_cast<uint8_t>(a[i]), static_cast<uint8_t>(src[i])));
  // Bytes past `src` meet zeros: AND clears them, OR and XOR keep them.
  if (op == BitOpKind::kAnd && acc->size() > n) std::memset(a + n, 0, acc->size() - n);
}

// BITOP op dest src...: hop 0 folds each shard's sources (missing keys are empty
// strings) into a partial; hop 1, on the destination's shard, folds the partials and
// stores the result, or deletes the destination when every source was empty.
class BitOpOp : public MultiShardOp {
 public:
  explicit BitOpOp(ArgList args) : op_(*ParseBitOp(args[1])) {}
  int max_hops() const override { return 2; }

  HopPlan FirstHop(unsigned shard_count) override {
    partials_.resize(shard_count);
    return {HopTarget::kKeyShards};
  }

  void RunHop(int hop, HopContext& h) override {
    if (hop == 0) Gather(h);
    else Store(h);
  }

  HopPlan NextHop(int hop) override {
    if (hop > 0) return {HopTarget::kDone};
    for (const Partial& p : partials_)
      if (p.wrong_type) return {HopTarget::kDone};
    return {HopTarget::kShardOfKey, 2};
  }

  void Reply(ReplyBuilder& rb) override {
    for (const Partial& p : partials_) {
      if (p.wrong_type) {
        rb.Error(errors::kWrongType);
        return;
      }
    }
    rb.Integer(static_cast<int64_t>(result_len_));
  }

 private:
  struct Partial {
    bool present = false;
    bool wrong_type = false;
    std::string bytes;
  };

  void Gather(HopContext& h) {
    Partial& part = partials_[h.shard.index()];
    for (size_t i : h.key_indices) {
      if (i < 3) continue;  // the destination, unless it is also a source (a later index)
      const Slot* s = FindSource(h.shard, h.db, h.args[i], h.now_ms, /*stores=*/true);
      if (s && !s->value.is_string()) {
        part.wrong_type = true;
        return;
      }
      std::string_view v = s ? s->value.string_view() : std::string_view();
      if (!part.present) {
        part.bytes.assign(v);
        part.present = true;
      } else {
        Fold(op_, &part.bytes, v);
      }
    }
  }

  void Store(HopContext& h) {
    std::string result;
    bool any = false;
    for (Partial& p : partials_) {
      if (!p.present) continue;
      if (!any) {
        result = std::move(p.bytes);
        any = true;
      } else {
        Fold(op_, &result, p.bytes);
      }
    }
    if (op_ == BitOpKind::kNot)
      for (char& ch : result) ch = static_cast<char>(~ch);
    result_len_ = result.size();
    if (result.empty()) {
      if (h.shard.Delete(h.db, h.args[2], h.now_ms)) {
        h.effects.MarkDirty();
        h.shard.NotifyKeyspaceEvent(kNotifyGeneric, "del", h.db, h.args[2]);
      }
      return;
    }
    Slot* s = h.shard.Upsert(h.db, h.args[2], Value(result), h.now_ms);
    s->flags = kSlotRawString;
    h.effects.MarkDirty();
    h.shard.NotifyKeyspaceEvent(kNotifyString, "set", h.db, h.args[2]);
  }

  BitOpKind op_;
  std::vector<Partial> partials_;  // by shard index
  size_t result_len_ = 0;
};

std::unique_ptr<MultiShardOp> MakeBitOp(ArgList args) { return std::make_unique<BitOpOp>(args); }

}  // namespace

void RegisterBitopsFamily(CommandTable& t) {
  constexpr uint32_t W = kCmdWrite | kCmdDenyOom;
  constexpr uint32_t R = kCmdReadOnly;
  CommandFamily family(t, kAclBitmap);
  family << CommandRow("setbit", 4, W, 1, 1, 1).Shard(SetBitCommand)
         << CommandRow("getbit", 3, R | kCmdFast, 1, 1, 1).Shard(GetBitCommand)
         << CommandRow("bitcount", -2, R, 1, 1, 1).Shard(BitCountCommand)
         << CommandRow("bitpos", -3, R, 1, 1, 1).Shard(BitPosCommand)
         << CommandRow("bitfield", -2, W, 1, 1, 1).Shard(BitfieldCommand)
         << CommandRow("bitfield_ro", -2, R | kCmdFast, 1, 1, 1).Shard(BitfieldRoCommand)
         << CommandRow("bitop", -4, W, 2, -1, 1).MultiShard(MakeBitOp).Validate(ValidateBitOp);
}

}  // namespace darter::store
