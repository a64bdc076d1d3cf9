// DUMP and RESTORE (Redis's cluster.c): values as RDB payloads (value + 2-byte RDB
// version + CRC64), compatible with Redis 6.2 and 7.0 in both directions.
#include "rdb/dump_payload.h"
#include "resp/reply_builder.h"
#include "store/command_table.h"
#include "store/errors.h"
#include "store/family_util.h"
#include "store/rdb_load.h"
#include "store/rdb_save.h"
#include "store/shard.h"
#include "store/store_config.h"
#include "store/string_util.h"

namespace darter::store {
namespace {

void DumpCommand(CommandContext& c) {
  const Slot* s = c.shard.FindForRead(c.db, c.args[1], c.now_ms);
  if (!s) {
    c.reply.Null();
    return;
  }
  std::string payload;
  rdb::DumpPayloadEncoder enc(&payload);
  rdb::Status st = WriteValue(enc.writer(), {}, "", s->value);
  if (st.ok()) st = enc.Finish();
  if (!st.ok()) {
    c.reply.Error("ERR " + st.message());
    return;
  }
  c.reply.Bulk(payload);
}

// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
void RestoreCommand(CommandContext& c) {
  bool replace = false, absttl = false;
  int64_t idletime = -1, freq = -1;
  for (size_t j = 4; j < c.args.size(); ++j) {
    bool more = j + 1 < c.args.size();
    if (EqualsIgnoreCase(c.args[j], "replace")) {
      replace = true;
    } else if (EqualsIgnoreCase(c.args[j], "absttl")) {
      absttl = true;
    } else if (EqualsIgnoreCase(c.args[j], "idletime") && more && freq == -1) {
      auto v = ParseInt64(c.args[++j]);
      if (!v) {
        c.reply.Error(errors::kNotInteger);
        return;
      }
      if (*v < 0) {
        c.reply.Error("ERR Invalid IDLETIME value, must be >= 0");
        return;
      }
      idletime = *v;
    } else if (EqualsIgnoreCase(c.args[j], "freq") && more && idletime == -1) {
      auto v = ParseInt64(c.args[++j]);
      if (!v) {
        c.reply.Error(errors::kNotInteger);
        return;
      }
      if (*v < 0 || *v > 255) {
        c.reply.Error("ERR Invalid FREQ value, must be >= 0 and <= 255");
        return;
      }
      freq = *v;
    } else {
      c.reply.Error(errors::kSyntax);
      return;
    }
  }
  // Redis's order of checks: an existing key, then the TTL, then the payload.
  if (!replace && c.shard.FindLive(c.db, c.args[1], c.now_ms)) {
    c.reply.Error("BUSYKEY Target key name already exists.");
    return;
  }
  auto ttl = ParseInt64(c.args[2]);
  if (!ttl) {
    c.reply.Error(errors::kNotInteger);
    return;
  }
  if (*ttl < 0) {
    c.reply.Error("ERR Invalid TTL value, must be >= 0");
    return;
  }
  if (!rdb::CheckDumpPayload(c.args[3]).ok()) {
    c.reply.Error("ERR DUMP payload version or checksum are wrong");
    return;
  }
  std::optional<Value> restored;
  RdbValueBuilder builder(1, [&](LoadedEntry&& e) -> rdb::Status {
    restored.emplace(std::move(e.value));
    return {};
  });
  if (!rdb::DecodeDumpPayload(c.args[3], &builder).ok() || !restored) {
    c.reply.Error("ERR Bad data format");
    return;
  }
  int64_t when = 0;
  if (*ttl > 0) {
    // A relative TTL past the end of time wraps in Redis (its sum overflows into the
    // past), so the key counts as already expired; the same here, without the overflow.
    if (absttl) when = *ttl;
    else if (__builtin_add_overflow(c.now_ms, *ttl, &when)) when = c.now_ms;
    if (when <= c.now_ms && c.shard.expire_on_access()) {
      // Already expired: Redis deletes the target (with REPLACE) and replies OK; a
      // replica stores it and waits for its primary's DEL.
      if (replace && c.shard.Delete(c.db, c.args[1], c.now_ms)) {
        c.effects.MarkDirty();
        c.shard.NotifyKeyspaceEvent(kNotifyGeneric, "del", c.db, c.args[1]);
      }
      c.reply.Ok();
      return;
    }
  }
  c.shard.Delete(c.db, c.args[1], c.now_ms);
  Slot* s = c.shard.InsertNew(c.db, c.args[1]);
  s->value = std::move(*restored);
  s->access = NewAccessStamp();
  // As Redis: FREQ counts under an LFU maxmemory-policy only, IDLETIME otherwise only.
  if (GetStoreConfig().lfu_policy.load(std::memory_order_relaxed)) {
    if (freq >= 0) s->access = (s->access & ~0xFFu) | static_cast<uint32_t>(freq);
  } else if (idletime >= 0) {
    s->access = LruClock() - static_cast<uint32_t>(std::min<int64_t>(idletime, LruClock()));
  }
  c.shard.SetExpire(c.db, s, when);
  c.effects.MarkDirty();
  c.shard.NotifyKeyspaceEvent(kNotifyGeneric, "restore", c.db, c.args[1]);
  if (when && !absttl) {
    // Replay with an absolute deadline so a late replica does not extend the key's life.
    std::vector<std::string_view> argv(c.args.begin(), c.args.end());
    std::string at = FormatInt64(when);
    argv[2] = at;
    bool has_absttl = false;
    for (auto a : argv) has_absttl = has_absttl || EqualsIgnoreCase(a, "absttl");
    if (!has_absttl) argv.push_back("ABSTTL");
    c.effects.Propagate(argv);
  }
  c.reply.Ok();
}

}  // namespace

void RegisterDumpFamily(CommandTable& t) {
  CommandFamily family(t, kAclKeyspace);
  family << CommandRow("dump", 2, kCmdReadOnly | kCmdRandom, 1, 1, 1).Shard(DumpCommand)
         << CommandRow("restore", -4, kCmdWrite | kCmdDenyOom, 1, 1, 1).Shard(RestoreCommand).Acl(kAclDangerous)
         // What a cluster node's MIGRATE sends; outside cluster mode it is RESTORE, as in Redis.
         << CommandRow("restore-asking", -4, kCmdWrite | kCmdDenyOom, 1, 1, 1)
                .Shard(RestoreCommand)
                .Acl(kAclDangerous);
}

}  // namespace darter::store
