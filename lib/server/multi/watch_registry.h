// WATCH bookkeeping: which clients watch which keys of one shard, and the write
// observer that marks them dirty (optimistic locking for MULTI/EXEC, as Redis's
// multi.c does it, spread over shards).
//
// A client's WATCH session is one Watcher, shared between the client (which reads its
// flag) and the registries of the shards its keys live on (which set it). Each registry
// keeps (db, key) -> watchers and, per watcher, whether the key had already logically
// expired when it was watched (Redis 7.0: the later deletion of such a key is no change,
// and only keys live at WATCH time abort EXEC by expiring).
//
// A watched key is "touched" (its watchers become dirty) by every applied write that
// names it — from any connection or shard, inside MULTI/EXEC blocks, by expiry — and
// by FLUSHDB/FLUSHALL/SWAPDB when the key existed in a database they empty or replace.
//
// Thread-safety: a WatchRegistry is touched only on its shard's thread. Watcher::dirty
// is atomic: shards set it, the client's thread reads it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/core/shard_set.h"
#include "store/shard.h"
#include "store/write_observer.h"

namespace darter::server {

// One client's WATCH session. A new session (after UNWATCH, EXEC or DISCARD) gets a new
// Watcher, so a registry entry of an old session can never dirty a new one.
struct Watcher {
  std::atomic<bool> dirty{false};
};

// A watched key as the client named it: the db it was selected in, and the key.
struct WatchedKey {
  unsigned db;
  std::string key;
};

class WatchRegistry final : public store::WriteObserver {
 public:
  // Becomes a write observer of `shard` at the first Watch (on the shard's thread) and
  // never unregisters: the registry must outlive the shard's writes (the Server owns
  // both and stops the threads first).
  explicit WatchRegistry(store::Shard& shard);

  // ---- shard thread only ----
  // Adds `w` as a watcher of (db, key). A key present but past its deadline is
  // remembered as expired-at-WATCH.
  void Watch(unsigned db, std::string_view key, const std::shared_ptr<Watcher>& w, int64_t now_ms);
  // Removes `w` from (db, key); no-op when absent.
  void Unwatch(unsigned db, std::string_view key, const Watcher* w);
  // EXEC's check, under the transaction's locks: false when `w` is dirty or one of
  // `keys` (all on this shard) was live at WATCH time and has logically expired by
  // `now_ms`. Removes `w`'s entries for `keys` either way (EXEC ends the session).
  bool CheckAndRelease(const std::shared_ptr<Watcher>& w, std::span<const WatchedKey* const> keys, int64_t now_ms);
  // Watched (db, key) pairs, for tests and DEBUG.
  size_t size() const { return by_key_.size(); }

  void OnWrite(store::Shard& shard, const store::AppliedWrite& write) override;
  void BeforeClear(store::Shard& shard, unsigned db) override;

 private:
  struct Entry {
    std::shared_ptr<Watcher> watcher;
    bool expired_at_watch;
  };
  void Touch(unsigned db, std::string_view key);
  void TouchSwapped(unsigned a, unsigned b);
  // The slot of (db, key) whether or not it is past its deadline (Redis's dictFind).
  const store::Slot* Present(unsigned db, std::string_view key);
  bool ExpiredNow(unsigned db, std::string_view key, int64_t now_ms);

  store::Shard& shard_;
  bool observing_ = false;
  std::unordered_map<OwnedLockKey, std::vector<Entry>, LockKeyHash, LockKeyEq> by_key_;
};

}  // namespace darter::server
