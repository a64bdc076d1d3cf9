// Client-side caching (Redis 6's CLIENT TRACKING), the server side: who may hold which
// key, and the invalidation messages that tell them a key changed. docs/client-tracking.md.
//
// Per shard, a TrackingTable remembers, for each key of the shard that a tracking client
// read, the clients that read it (Redis's TrackingTable; keys are db-agnostic, as in
// Redis), and the BCAST prefixes with their clients (Redis's PrefixTable, a copy on every
// shard). It is one of the shard's write observers: a write to a remembered key sends an
// invalidation to each of its clients and forgets the key; a write under a prefix sends
// one to each client of the prefix; a flush sends the null "everything" invalidation to
// every tracking client and empties the table.
//
// Messages reach a client on its own thread (posted, like pub/sub deliveries), which
// checks the client's current state (gone, tracking off, mode changed: dropped, as Redis
// drops them) and its redirection: a redirect target may live on a third thread, and a
// redirect to a client that went away reports tracking-redir-broken back to the client.
//
// Thread-safety: a TrackingTable is touched only on its shard's thread, except the
// counters INFO reads (atomics). Tracking (the server-wide set of tables) is built once
// per Server and lives as long as the process.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/core/executor.h"
#include "store/write_observer.h"

namespace darter::server {

class Server;
class Connection;

// Where a tracking client lives: its id and its connection's thread.
struct TrackedClient {
  uint64_t id = 0;
  unsigned thread = 0;
};

class TrackingTable final : public store::WriteObserver {
 public:
  TrackingTable(Server& server, unsigned shard) : server_(server), shard_(shard) {}

  // ---- shard thread only ----
  // Becomes a write observer of `shard` the first time (and stays one: the table outlives
  // the shard's writes).
  void EnsureObserving(store::Shard& shard);
  // Remembers `keys` for the scope's client (trackingRememberKeys), then evicts random
  // keys past this shard's share of tracking-table-max-keys, invalidating them.
  void Remember(const TrackingScope& scope, std::span<const std::string_view> keys);
  void AddPrefix(const std::string& prefix, TrackedClient client);
  void RemovePrefixes(uint64_t client, const std::vector<std::string>& prefixes);

  void OnWrite(store::Shard& shard, const store::AppliedWrite& write) override;
  void BeforeClear(store::Shard& shard, unsigned db) override;

  // ---- any thread (INFO) ----
  size_t key_count() const { return key_count_.load(std::memory_order_relaxed); }
  size_t item_count() const { return item_count_.load(std::memory_order_relaxed); }
  size_t prefix_count() const { return prefix_count_.load(std::memory_order_relaxed); }

 private:
  // Invalidations gathered by one write, by destination thread, then posted.
  class Outbox;
  // Adds the invalidation of `key` for its clients (but the writer when it is NOLOOP) to
  // `out` and forgets the key.
  void InvalidateKey(std::string_view key, const TrackingScope* writer, Outbox& out);
  void Broadcast(std::span<const std::string_view> keys, const TrackingScope* writer);
  void EvictOverLimit();
  void UpdateCounts();

  Server& server_;
  const unsigned shard_;
  bool observing_ = false;
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  // Key -> the clients that read it, sorted by id.
  std::unordered_map<std::string, std::vector<TrackedClient>, KeyHash, std::equal_to<>> keys_;
  size_t items_ = 0;
  std::map<std::string, std::vector<TrackedClient>, std::less<>> prefixes_;
  std::atomic<size_t> key_count_{0}, item_count_{0}, prefix_count_{0};
};

class Tracking {
 public:
  explicit Tracking(Server& server);
  TrackingTable& table(unsigned shard) { return *tables_[shard]; }
  unsigned shard_count() const { return static_cast<unsigned>(tables_.size()); }
  // Clients with tracking on (INFO tracking_clients).
  std::atomic<int64_t> clients{0};

  // ---- thread `thread` only ----
  // True the first time a flush of transaction `txid` reaches the thread (each shard the
  // flush ran on reports it; the null invalidation goes out once).
  bool FirstFlushReport(unsigned thread, uint64_t txid);

 private:
  std::vector<std::unique_ptr<TrackingTable>> tables_;
  std::vector<std::vector<uint64_t>> recent_flushes_;  // per thread, a small ring
};

// The server's tracking tables, built at the first call; null before (FindTracking).
Tracking& TrackingOf(Server& server);
Tracking* FindTracking(Server& server);

// What a client is told, posted to its thread.
struct Invalidation {
  enum class Kind { kKey, kPrefix, kFlush };
  Kind kind;
  uint64_t client;   // kFlush: the flush's transaction id (one null per flush and thread)
  std::string keys;  // the RESP array of keys (kKey, kPrefix); empty for kFlush
  bool own_write = false;  // the client wrote the key itself: the message follows its reply
};
// Posts `list` (for clients on `thread`) to that thread.
void PostInvalidations(Server& server, unsigned thread, std::vector<Invalidation> list);

}  // namespace darter::server
