// Hash commands (Redis's t_hash.c), with Redis 7.0 replies and error strings. Every
// hash command names one key and runs on that key's shard.
#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "resp/reply_builder.h"
#include "store/command_table.h"
#include "store/errors.h"
#include "store/family_util.h"
#include "store/hash_object.h"
#include "store/random_picks.h"
#include "store/shard.h"
#include "store/string_util.h"

namespace darter::store {
namespace {

using resp::ReplyBuilder;

constexpr std::string_view kHashNotInteger = "ERR hash value is not an integer";
constexpr std::string_view kHashNotFloat = "ERR hash value is not a float";
constexpr std::string_view kNanOrInf = "ERR value is NaN or Infinity";
constexpr std::string_view kWouldProduceNan = "ERR increment would produce NaN or Infinity";
constexpr std::string_view kOutOfRange = "ERR value is out of range";
constexpr std::string_view kLongRange =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
constexpr std::string_view kInvalidCursor = "ERR invalid cursor";

HashObject* AsHash(const Slot* s) { return s->value.As<HashObject>(); }

std::mt19937_64& Rng() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return rng;
}

// The hash at args[1] for writing, created when absent; nullptr after a WRONGTYPE reply.
Slot* HashForWrite(CommandContext& c) {
  Slot* s;
  if (!FindTypedForWrite(c, c.args[1], ValueType::kHash, &s)) return nullptr;
  if (!s) s = AddObjectKey(c.shard, c.db, c.args[1], std::make_unique<HashObject>());
  return s;
}

// HSET/HMSET need field/value pairs.
std::string ValidatePairs(ArgList args) {
  if (args.size() % 2 == 1) return errors::WrongArity(ToLower(args[0]));
  return {};
}

void HSetCommand(CommandContext& c) {
  Slot* s = HashForWrite(c);
  if (!s) return;
  HashObject* h = AsHash(s);
  int64_t created = static_cast<int64_t>(h->SetPairs(c.args.subspan(2)));
  c.effects.MarkDirty((c.args.size() - 2) / 2);
  c.shard.NotifyKeyspaceEvent(kNotifyHash, "hset", c.db, c.args[1]);
  c.reply.Integer(created);
}

void HMSetCommand(CommandContext& c) {
  Slot* s = HashForWrite(c);
  if (!s) return;
  AsHash(s)->SetPairs(c.args.subspan(2));
  c.effects.MarkDirty((c.args.size() - 2) / 2);
  c.shard.NotifyKeyspaceEvent(kNotifyHash, "hset", c.db, c.args[1]);
  c.reply.Ok();
}

void HSetNxCommand(CommandContext& c) {
  Slot* s;
  if (!FindTypedForWrite(c, c.args[1], ValueType::kHash, &s)) return;
  if (s && AsHash(s)->Get(c.args[2])) {
    c.reply.Integer(0);
    return;
  }
  if (!s) s = AddObjectKey(c.shard, c.db, c.args[1], std::make_unique<HashObject>());
  AsHash(s)->Set(c.args[2], c.args[3]);
  c.effects.MarkDirty();
  c.shard.NotifyKeyspaceEvent(kNotifyHash, "hset", c.db, c.args[1]);
  c.reply.Integer(1);
}

void HGetCommand(CommandContext& c) {
  const Slot* s;
  if (!FindTyped(c, c.args[1], ValueType::kHash, &s)) return;
  auto v = s ? AsHash(s)->Get(c.args[2]) : std::nullopt;
  if (v) c.reply.Bulk(*v);
  else c.reply.Null();
}

void HMGetCommand(CommandContext& c) {
  const Slot* s;
  if (!FindTyped(c, c.args[1], ValueType::kHash, &s)) return;
  c.reply.ArrayHeader(c.args.size() - 2);
  for (size_t i = 2; i < c.args.size(); ++i) {
    auto v = s ? AsHash(s)->Get(c.args[i]) : std::nullopt;
    if (v) c.reply.Bulk(*v);
    else c.reply.Null();
  }
}

void HDelCommand(CommandContext& c) {
  Slot* s;
  if (!FindTypedForWrite(c, c.args[1], ValueType::kHash, &s)) return;
  if (!s) {
    c.reply.Integer(0);
    return;
  }
  HashObject* h = AsHash(s);
  int64_t deleted = 0;
  for (size_t i = 2; i < c.args.size() && h->size() > 0; ++i) deleted += h->Delete(c.args[i]);
  if (deleted) {
    c.effects.MarkDirty(static_cast<uint64_t>(deleted));
    c.shard.NotifyKeyspaceEvent(kNotifyHash, "hdel", c.db, c.args[1]);
  }
  if (h->size() == 0) DeleteSlot(c.shard, c.db, s, c.args[1]);
  c.reply.Integer(deleted);
}

void HLenCommand(CommandContext& c) {
  const Slot* s;
  if (!FindTyped(c, c.args[1], ValueType::kHash, &s)) return;
  c.reply.Integer(s ? static_cast<int64_t>(AsHash(s)->size()) : 0);
}

void HExistsCommand(CommandContext& c) {
  const Slot* s;
  if (!FindTyped(c, c.args[1], ValueType::kHash, &s)) return;
  c.reply.Integer(s && AsHash(s)->Get(c.args[2]) ? 1 : 0);
}

void HStrlenCommand(CommandContext& c) {
  const Slot* s;
  if (!FindTyped(c, c.args[1], ValueType::kHash, &s)) return;
  auto v = s ? AsHash(s)->Get(c.args[2]) : std::nullopt;
  c.reply.Integer(v ? static_cast<int64_t>(v->size()) : 0);
}

enum GetAllWhat { kFields = 1, kValues = 2, kBoth = 3 };

void GetAll(CommandContext& c, GetAllWhat what) {
  const Slot* s;
  if (!FindTyped(c, c.args[1], ValueType::kHash, &s)) return;
  if (!s) {
    if (what == kBoth) c.reply.MapHeader(0);
    else c.reply.ArrayHeader(0);
    return;
  }
  HashObject* h = AsHash(s);
  if (what == kBoth) c.reply.MapHeader(h->size());
  else c.reply.ArrayHeader(h->size());
  h->ForEach([&](std::string_view f, std::string_view v) {
    if (what & kFields) c.reply.Bulk(f);
    if (what & kValues) c.reply.Bulk(v);
  });
}

void HGetAllCommand(CommandContext& c) { GetAll(c, kBoth); }
void HKeysCommand(CommandContext& c) { GetAll(c, kFields); }
void HValsCommand(CommandContext& c) { GetAll(c, kValues); }

void HIncrByCommand(CommandContext& c) {
  auto incr = ParseInt64(c.args[3]);
  if (!incr) {
    c.reply.Error(errors::kNotInteger);
    return;
  }
  Slot* s = HashForWrite(c);
  if (!s) return;
  HashObject* h = AsHash(s);
  int64_t value = 0;
  if (auto old = h->Get(c.args[2])) {
    auto v = ParseInt64(*old);
    if (!v) {
      c.reply.Error(kHashNotInteger);
      return;
    }
    value = *v;
  }
  if ((*incr < 0 && value < 0 && *incr < INT64_MIN - value) || (*incr > 0 && value > 0 && *incr > INT64_MAX - value)) {
    c.reply.Error(errors::kOverflow);
    return;
  }
  value += *incr;
  h->Set(c.args[2], FormatInt64(value));
  c.effects.MarkDirty();
  c.shard.NotifyKeyspaceEvent(kNotifyHash, "hincrby", c.db, c.args[1]);
  c.reply.Integer(value);
}

void HIncrByFloatCommand(CommandContext& c) {
  auto incr = ParseLongDouble(c.args[3]);
  if (!incr) {
    c.reply.Error(errors::kNotFloat);
    return;
  }
  if (std::isnan(*incr) || std::isinf(*incr)) {
    c.reply.Error(kNanOrInf);
    return;
  }
  Slot* s = HashForWrite(c);
  if (!s) return;
  HashObject* h = AsHash(s);
  long double value = 0;
  if (auto old = h->Get(c.args[2])) {
    auto v = ParseLongDouble(*old);
    if (!v) {
      c.reply.Error(kHashNotFloat);
      return;
    }
    value = *v;
  }
  value += *incr;
  if (std::isnan(value) || std::isinf(value)) {
    c.reply.Error(kWouldProduceNan);
    return;
  }
  std::string text = FormatLongDoubleHuman(value);
  h->Set(c.args[2], text);
  c.effects.MarkDirty();
  c.shard.NotifyKeyspaceEvent(kNotifyHash, "hincrbyfloat", c.db, c.args[1]);
  // Replaying the increment could round differently elsewhere: send the result.
  c.effects.Propagate({"HSET", c.args[1], c.args[2], text});
  c.reply.Bulk(text);
}

// HRANDFIELD key [count [WITHVALUES]].
void HRandFieldCommand(CommandContext& c) {
  if (c.args.size() == 2) {
    const Slot* s;
    if (!FindTyped(c, c.args[1], ValueType::kHash, &s)) return;
    if (!s) {
      c.reply.Null();
      return;
    }
    HashObject* h = AsHash(s);
    c.reply.Bulk(h->EntryAt(Rng()() % h->size()).first);
    return;
  }
  auto l = ParseInt64(c.args[2]);
  if (!l) {
    c.reply.Error(errors::kNotInteger);
    return;
  }
  if (*l == INT64_MIN) {
    c.reply.Error(kLongRange);
    return;
  }
  bool withvalues = false;
  if (c.args.size() > 4 || (c.args.size() == 4 && !EqualsIgnoreCase(c.args[3], "withvalues"))) {
    c.reply.Error(errors::kSyntax);
    return;
  }
  if (c.args.size() == 4) {
    withvalues = true;
    if (*l < -INT64_MAX / 2 || *l > INT64_MAX / 2) {
      c.reply.Error(kOutOfRange);
      return;
    }
  }
  const Slot* s;
  if (!FindTyped(c, c.args[1], ValueType::kHash, &s)) return;
  if (!s || *l == 0) {
    c.reply.ArrayHeader(0);
    return;
  }
  HashObject* h = AsHash(s);
  // A listpack is walked once into a vector; a hash table is indexed directly.
  std::vector<std::pair<std::string_view, std::string_view>> pack_entries;
  if (!h->is_table()) pack_entries = h->Entries();
  const size_t size = h->size();
  auto entry = [&](size_t i) { return h->is_table() ? h->EntryAt(i) : pack_entries[i]; };
  bool resp3 = c.reply.protocol() == 3;
  auto emit = [&](std::pair<std::string_view, std::string_view> e) {
    if (withvalues && resp3) c.reply.ArrayHeader(2);
    c.reply.Bulk(e.first);
    if (withvalues) c.reply.Bulk(e.second);
  };
  size_t header_mult = withvalues && !resp3 ? 2 : 1;
  if (*l < 0) {
    // Repetitions allowed: -count independent draws.
    uint64_t count = static_cast<uint64_t>(-*l);
    ReplyRepeatedPicks(c.reply, count, count * header_mult, [&] { emit(entry(Rng()() % size)); });
    return;
  }
  size_t count = static_cast<size_t>(*l);
  if (count >= size) {
    c.reply.ArrayHeader(size * header_mult);
    for (size_t i = 0; i < size; ++i) emit(entry(i));
    return;
  }
  c.reply.ArrayHeader(count * header_mult);
  if (count * 3 < size) {
    // Few of many: draw until `count` distinct indices.
    std::unordered_set<size_t> picked;
    while (picked.size() < count) {
      size_t i = Rng()() % size;
      if (picked.insert(i).second) emit(entry(i));
    }
    return;
  }
  // Distinct fields: a partial Fisher-Yates shuffle.
  std::vector<size_t> idx(size);
  for (size_t i = 0; i < size; ++i) idx[i] = i;
  for (size_t i = 0; i < count; ++i) std::swap(idx[i], idx[i + Rng()() % (size - i)]);
  for (size_t i = 0; i < count; ++i) emit(entry(idx[i]));
}

// Redis's parseScanCursorOrReply: strtoul rules (a leading '-' wraps), no leading space.
bool ParseCursor(std::string_view arg, uint64_t* cursor) {
  std::string s(arg);
  if (!s.empty() && std::isspace(static_cast<unsigned char>(s[0]))) return false;
  if (s.find('\0') != std::string::npos) return false;
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (*end != '\0' || errno == ERANGE) return false;
  *cursor = v;
  return true;
}

void HScanCommand(CommandContext& c) {
  uint64_t cursor;
  if (!ParseCursor(c.args[2], &cursor)) {
    c.reply.Error(kInvalidCursor);
    return;
  }
  const Slot* s;
  if (!FindTyped(c, c.args[1], ValueType::kHash, &s)) return;
  if (!s) {
    c.reply.ArrayHeader(2);
    c.reply.Bulk("0");
    c.reply.ArrayHeader(0);
    return;
  }
  size_t count = 10;
  std::optional<std::string_view> pattern;
  for (size_t j = 3; j < c.args.size(); j += 2) {
    if (j + 1 >= c.args.size()) {
      c.reply.Error(errors::kSyntax);
      return;
    }
    std::string_view opt = c.args[j];
    if (EqualsIgnoreCase(opt, "count")) {
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
    } else if (EqualsIgnoreCase(opt, "match")) {
      pattern = c.args[j + 1];
      if (*pattern == "*") pattern.reset();
    } else {
      c.reply.Error(errors::kSyntax);
      return;
    }
  }
  std::vector<std::string_view> out;
  uint64_t next = AsHash(s)->Scan(cursor, count, [&](std::string_view f, std::string_view v) {
    if (pattern && !GlobMatch(*pattern, f)) return;
    out.push_back(f);
    out.push_back(v);
  });
  c.reply.ArrayHeader(2);
  c.reply.Bulk(std::to_string(next));
  c.reply.ArrayHeader(out.size());
  for (auto e : out) c.reply.Bulk(e);
}

}  // namespace

void RegisterHashFamily(CommandTable& t) {
  constexpr uint32_t W = kCmdWrite | kCmdDenyOom | kCmdFast;
  constexpr uint32_t RF = kCmdReadOnly | kCmdFast;
  constexpr uint32_t R = kCmdReadOnly;
  CommandFamily family(t, kAclHash);
  family << CommandRow("hset", -4, W, 1, 1, 1).Shard(HSetCommand).Validate(ValidatePairs)
         << CommandRow("hmset", -4, W, 1, 1, 1).Shard(HMSetCommand).Validate(ValidatePairs)
         << CommandRow("hsetnx", 4, W, 1, 1, 1).Shard(HSetNxCommand)
         << CommandRow("hget", 3, RF, 1, 1, 1).Shard(HGetCommand)
         << CommandRow("hmget", -3, RF, 1, 1, 1).Shard(HMGetCommand)
         << CommandRow("hgetall", 2, R, 1, 1, 1).Shard(HGetAllCommand)
         << CommandRow("hkeys", 2, R, 1, 1, 1).Shard(HKeysCommand)
         << CommandRow("hvals", 2, R, 1, 1, 1).Shard(HValsCommand)
         << CommandRow("hdel", -3, kCmdWrite | kCmdFast, 1, 1, 1).Shard(HDelCommand)
         << CommandRow("hlen", 2, RF, 1, 1, 1).Shard(HLenCommand)
         << CommandRow("hexists", 3, RF, 1, 1, 1).Shard(HExistsCommand)
         << CommandRow("hstrlen", 3, RF, 1, 1, 1).Shard(HStrlenCommand)
         << CommandRow("hincrby", 4, W, 1, 1, 1).Shard(HIncrByCommand)
         << CommandRow("hincrbyfloat", 4, W, 1, 1, 1).Shard(HIncrByFloatCommand)
         << CommandRow("hrandfield", -2, R, 1, 1, 1).Shard(HRandFieldCommand)
         << CommandRow("hscan", -3, R, 1, 1, 1).Shard(HScanCommand);
}

}  // namespace darter::store
