#include "server/multi/watch_registry.h"

#include <algorithm>

#include "store/string_util.h"

namespace darter::server {

namespace {

using store::EqualsIgnoreCase;

// Commands whose keys include sources they only read: the one key they write. Redis
// signals only that key, so only it may invalidate a WATCH. Returns the index of the
// written key in `args`, or 0 when the command writes all of its keys (the default).
size_t OnlyWrittenKey(store::ArgList args) {
  std::string_view name = args[0];
  static constexpr std::string_view kDestFirst[] = {"sunionstore", "sinterstore", "sdiffstore",  "zunionstore",
                                                    "zinterstore", "zdiffstore",  "zrangestore", "geosearchstore",
                                                    "pfmerge",     "copy"};
  for (std::string_view n : kDestFirst)
    if (EqualsIgnoreCase(name, n)) return EqualsIgnoreCase(name, "copy") ? 2 : 1;
  if (EqualsIgnoreCase(name, "bitop")) return 2;
  if (EqualsIgnoreCase(name, "sort") || EqualsIgnoreCase(name, "georadius") ||
      EqualsIgnoreCase(name, "georadiusbymember")) {
    for (size_t i = 2; i + 1 < args.size(); ++i)
      if (EqualsIgnoreCase(args[i], "store") || EqualsIgnoreCase(args[i], "storedist")) return i + 1;
  }
  return 0;
}

// COPY ... DB n writes its destination in db n.
unsigned CopyTargetDb(store::ArgList args, unsigned db) {
  for (size_t i = 3; i + 1 < args.size(); ++i) {
    if (!EqualsIgnoreCase(args[i], "db")) continue;
    auto v = store::ParseInt64(args[i + 1]);
    if (v && *v >= 0) return static_cast<unsigned>(*v);
  }
  return db;
}

}  // namespace

WatchRegistry::WatchRegistry(store::Shard& shard) : shard_(shard) {}

const store::Slot* WatchRegistry::Present(unsigned db, std::string_view key) {
  if (db >= shard_.db_count()) return nullptr;
  return shard_.db(db).Find(key);
}

bool WatchRegistry::ExpiredNow(unsigned db, std::string_view key, int64_t now_ms) {
  const store::Slot* s = Present(db, key);
  return s && s->expire_ms && s->expire_ms <= now_ms;
}

void WatchRegistry::Watch(unsigned db, std::string_view key, const std::shared_ptr<Watcher>& w, int64_t now_ms) {
  // Observe the shard from its first WATCH on: a server whose clients never WATCH pays
  // nothing per write (nor per expired key, which the shard reports only to observers).
  if (!observing_) {
    shard_.AddWriteObserver(this);
    observing_ = true;
  }
  auto it = by_key_.find(LockKey{db, key});
  if (it == by_key_.end()) it = by_key_.emplace(OwnedLockKey{db, std::string(key)}, std::vector<Entry>{}).first;
  for (const Entry& e : it->second)
    if (e.watcher == w) return;
  it->second.push_back(Entry{w, ExpiredNow(db, key, now_ms)});
}

void WatchRegistry::Unwatch(unsigned db, std::string_view key, const Watcher* w) {
  auto it = by_key_.find(LockKey{db, key});
  if (it == by_key_.end()) return;
  std::erase_if(it->second, [w](const Entry& e) { return e.watcher.get() == w; });
  if (it->second.empty()) by_key_.erase(it);
}

bool WatchRegistry::CheckAndRelease(const std::shared_ptr<Watcher>& w, std::span<const WatchedKey* const> keys,
                                    int64_t now_ms) {
  bool ok = !w->dirty.load(std::memory_order_acquire);
  for (const WatchedKey* k : keys) {
    auto it = by_key_.find(LockKey{k->db, k->key});
    if (it == by_key_.end()) continue;
    for (const Entry& e : it->second) {
      // Redis 7.0's isWatchedKeyExpired: a key live at WATCH that has logically
      // expired since (even if not yet deleted) is a change.
      if (e.watcher == w && !e.expired_at_watch && ExpiredNow(k->db, k->key, now_ms)) ok = false;
    }
    Unwatch(k->db, k->key, w.get());
  }
  return ok;
}

void WatchRegistry::Touch(unsigned db, std::string_view key) {
  auto it = by_key_.find(LockKey{db, key});
  if (it == by_key_.end()) return;
  bool present = Present(db, key) != nullptr;
  for (Entry& e : it->second) {
    // A key that had already expired when watched and is now gone was deleted by
    // expiry: logically nothing changed. It is an ordinary watched key from now on.
    if (e.expired_at_watch && !present) {
      e.expired_at_watch = false;
      continue;
    }
    e.watcher->dirty.store(true, std::memory_order_release);
  }
}

// After SWAPDB a b: the keys of old db a now live in table b and vice versa. A watch on
// db x fires when the key existed in old x ("emptied") or exists in its replacement,
// with Redis 7.0's refinements for keys already expired at WATCH time.
void WatchRegistry::TouchSwapped(unsigned a, unsigned b) {
  int64_t now = store::UnixTimeMs();
  for (auto& [k, entries] : by_key_) {
    if (k.db != a && k.db != b) continue;
    unsigned old_home = k.db == a ? b : a;  // where the key's old database now lives
    bool in_emptied = Present(old_home, k.key) != nullptr;
    bool in_replacement = Present(k.db, k.key) != nullptr;
    if (!in_emptied && !in_replacement) continue;
    bool replacement_expired = in_replacement && ExpiredNow(k.db, k.key, now);
    for (Entry& e : entries) {
      if (e.expired_at_watch) {
        if (!in_replacement) {
          e.expired_at_watch = false;  // the expired key went away: no logical change
          continue;
        }
        if (replacement_expired) continue;  // expired before, expired now
      } else if (!in_emptied && replacement_expired) {
        e.expired_at_watch = true;  // absent before, logically absent now
        continue;
      }
      e.watcher->dirty.store(true, std::memory_order_release);
    }
  }
}

void WatchRegistry::BeforeClear(store::Shard&, unsigned db) {
  if (by_key_.empty()) return;
  for (auto& [k, entries] : by_key_) {
    if (k.db != db || !Present(db, k.key)) continue;
    for (Entry& e : entries) {
      if (e.expired_at_watch) {
        e.expired_at_watch = false;  // an expired key deleted: no logical change
        continue;
      }
      e.watcher->dirty.store(true, std::memory_order_release);
    }
  }
}

void WatchRegistry::OnWrite(store::Shard&, const store::AppliedWrite& write) {
  if (by_key_.empty()) return;
  store::ArgList args = write.args;
  std::string_view name = args[0];
  // FLUSHDB/FLUSHALL touched what existed in BeforeClear.
  if (EqualsIgnoreCase(name, "flushdb") || EqualsIgnoreCase(name, "flushall")) return;
  if (EqualsIgnoreCase(name, "swapdb")) {
    auto a = store::ParseInt64(args[1]);
    auto b = store::ParseInt64(args[2]);
    if (a && b && *a != *b && *a >= 0 && *b >= 0) TouchSwapped(static_cast<unsigned>(*a), static_cast<unsigned>(*b));
    return;
  }
  // An SMOVE whose destination already held the member changed only its source, and
  // says so by journaling SREM src member (set_family.cc).
  if (EqualsIgnoreCase(name, "smove") && write.effects.rewritten()) {
    for (const auto& cmd : write.effects.commands())
      if (cmd.size() >= 2 && std::find(write.keys.begin(), write.keys.end(), cmd[1]) != write.keys.end())
        Touch(write.db, cmd[1]);
    return;
  }
  if (size_t only = OnlyWrittenKey(args)) {
    if (only >= args.size()) return;
    std::string_view dest = args[only];
    if (std::find(write.keys.begin(), write.keys.end(), dest) == write.keys.end()) return;  // another shard's
    unsigned db = EqualsIgnoreCase(name, "copy") ? CopyTargetDb(args, write.db) : write.db;
    Touch(db, dest);
    return;
  }
  for (std::string_view key : write.keys) Touch(write.db, key);
  if (EqualsIgnoreCase(name, "move") && args.size() == 3) {
    auto target = store::ParseInt64(args[2]);
    if (target && *target >= 0) Touch(static_cast<unsigned>(*target), args[1]);
  }
}

}  // namespace darter::server
