#include "server/tracking/tracking_table.h"


#include <algorithm>
#include <mutex>
#include <random>

#include "resp/bulk_encoding.h"
#include "server/core/asio.h"
#include "server/core/config.h"
#include "server/core/server.h"
#include "server/core/shard_set.h"
#include "store/shard.h"
#include "store/string_util.h"

namespace darter::server {

namespace {

std::string KeyArray(std::span<const std::string_view> keys) {
  std::string out = "*" + std::to_string(keys.size()) + "\r\n";
  for (std::string_view k : keys) resp::AppendBulk(out, k);
  return out;
}

bool IsFlushCommand(std::string_view name) {
  return store::EqualsIgnoreCase(name, "flushall") || store::EqualsIgnoreCase(name, "flushdb");
}

// FLUSHALL/FLUSHDB as a command, or inside a MULTI block or script (their commands are
// the write's rewrites).
bool IsFlush(const store::AppliedWrite& write) {
  if (!write.args.empty() && IsFlushCommand(write.args[0])) return true;
  for (const auto& command : write.effects.commands())
    if (!command.empty() && IsFlushCommand(command[0])) return true;
  return false;
}

}  // namespace

class TrackingTable::Outbox {
 public:
  explicit Outbox(unsigned threads) : by_thread_(threads) {}
  void Add(unsigned thread, Invalidation inv) { by_thread_[thread].push_back(std::move(inv)); }
  void Post(Server& server) {
    for (unsigned t = 0; t < by_thread_.size(); ++t)
      if (!by_thread_[t].empty()) PostInvalidations(server, t, std::move(by_thread_[t]));
  }

 private:
  std::vector<std::vector<Invalidation>> by_thread_;
};

// ---- TrackingTable ----

void TrackingTable::EnsureObserving(store::Shard& shard) {
  if (observing_) return;
  observing_ = true;
  shard.AddWriteObserver(this);
}

void TrackingTable::UpdateCounts() {
  key_count_.store(keys_.size(), std::memory_order_relaxed);
  item_count_.store(items_, std::memory_order_relaxed);
  prefix_count_.store(prefixes_.size(), std::memory_order_relaxed);
}

void TrackingTable::Remember(const TrackingScope& scope, std::span<const std::string_view> keys) {
  for (std::string_view key : keys) {
    auto it = keys_.find(key);
    if (it == keys_.end()) it = keys_.emplace(std::string(key), std::vector<TrackedClient>()).first;
    // Sorted by id: a hot key read again by one of many clients costs a binary search.
    auto& clients = it->second;
    auto at = std::lower_bound(clients.begin(), clients.end(), scope.client,
                               [](const TrackedClient& c, uint64_t id) { return c.id < id; });
    if (at == clients.end() || at->id != scope.client) {
      clients.insert(at, {scope.client, scope.thread});
      ++items_;
    }
  }
  EvictOverLimit();
  UpdateCounts();
}

void TrackingTable::EvictOverLimit() {
  const uint64_t max_keys = TrackingTableMaxKeys().load(std::memory_order_relaxed);
  if (max_keys == 0) return;
  // This shard's share of the server-wide bound: the shards together stay under it.
  const size_t share = std::max<uint64_t>(1, max_keys / server_.shards().size());
  thread_local std::minstd_rand rng(std::random_device{}());
  if (keys_.size() <= share) return;
  Outbox out(server_.shards().size());
  while (keys_.size() > share) {
    // A random key: a random bucket, then the next non-empty one.
    size_t buckets = keys_.bucket_count();
    size_t b = rng() % buckets;
    while (keys_.bucket_size(b) == 0) b = (b + 1) % buckets;
    std::string key = keys_.begin(b)->first;
    InvalidateKey(key, nullptr, out);  // as Redis: the clients are told, as for a write
  }
  out.Post(server_);
}

void TrackingTable::AddPrefix(const std::string& prefix, TrackedClient client) {
  auto& clients = prefixes_[prefix];
  if (std::none_of(clients.begin(), clients.end(), [&](const TrackedClient& c) { return c.id == client.id; }))
    clients.push_back(client);
  UpdateCounts();
}

void TrackingTable::RemovePrefixes(uint64_t client, const std::vector<std::string>& prefixes) {
  for (const std::string& p : prefixes) {
    auto it = prefixes_.find(p);
    if (it == prefixes_.end()) continue;
    std::erase_if(it->second, [&](const TrackedClient& c) { return c.id == client; });
    if (it->second.empty()) prefixes_.erase(it);
  }
  UpdateCounts();
}

void TrackingTable::InvalidateKey(std::string_view key, const TrackingScope* writer, Outbox& out) {
  auto it = keys_.find(key);
  if (it == keys_.end()) return;
  std::string array;
  for (const TrackedClient& c : it->second) {
    // NOLOOP: the client's own writes do not invalidate its keys (the key is forgotten
    // all the same, as in Redis).
    if (writer && writer->noloop && writer->client == c.id) continue;
    if (array.empty()) array = KeyArray({&key, 1});
    out.Add(c.thread, {Invalidation::Kind::kKey, c.id, array, writer && writer->client == c.id});
  }
  items_ -= it->second.size();
  keys_.erase(it);
}

void TrackingTable::Broadcast(std::span<const std::string_view> keys, const TrackingScope* writer) {
  // Per client, the keys of this write under its prefixes (a client's prefixes never
  // overlap, so a key matches at most one of them).
  std::map<uint64_t, std::pair<unsigned, std::vector<std::string_view>>> per_client;
  auto match = [&](std::string_view key, const std::vector<TrackedClient>& clients) {
    for (const TrackedClient& c : clients) {
      if (writer && writer->noloop && writer->client == c.id) continue;
      auto& entry = per_client[c.id];
      entry.first = c.thread;
      entry.second.push_back(key);
    }
  };
  for (std::string_view key : keys) {
    if (prefixes_.size() <= key.size() + 1) {
      for (const auto& [prefix, clients] : prefixes_)
        if (key.starts_with(prefix)) match(key, clients);
    } else {
      // Many prefixes: look up each prefix of the key instead of walking them all.
      for (size_t len = 0; len <= key.size(); ++len) {
        auto it = prefixes_.find(key.substr(0, len));
        if (it != prefixes_.end()) match(key, it->second);
      }
    }
  }
  if (per_client.empty()) return;
  Outbox out(server_.shards().size());
  for (auto& [id, entry] : per_client)
    out.Add(entry.first, {Invalidation::Kind::kPrefix, id, KeyArray(entry.second), writer && writer->client == id});
  out.Post(server_);
}

void TrackingTable::OnWrite(store::Shard& shard, const store::AppliedWrite& write) {
  (void)shard;
  if (IsFlush(write)) {
    // Every tracking client, on every thread, gets one null invalidation per flush: each
    // shard the flush ran on reports it; the threads drop the repeats (by txid).
    for (unsigned t = 0; t < server_.shards().size(); ++t) {
      std::vector<Invalidation> one;
      one.push_back({Invalidation::Kind::kFlush, write.txid, {}});
      PostInvalidations(server_, t, std::move(one));
    }
    return;
  }
  if (keys_.empty() && prefixes_.empty()) return;
  const TrackingScope* writer = t_tracking_scope;
  if (!prefixes_.empty()) Broadcast(write.keys, writer);
  if (!keys_.empty()) {
    Outbox out(server_.shards().size());
    for (std::string_view key : write.keys) InvalidateKey(key, writer, out);
    out.Post(server_);
    UpdateCounts();
  }
}

void TrackingTable::BeforeClear(store::Shard& shard, unsigned db) {
  (void)shard, (void)db;
  // Tracking is not per database: a flush of any database forgets every key (Redis's
  // trackingInvalidateKeysOnFlush); the clients get the null invalidation from OnWrite.
  keys_.clear();
  items_ = 0;
  UpdateCounts();
}

// ---- Tracking ----

Tracking::Tracking(Server& server) : recent_flushes_(server.shards().size()) {
  for (unsigned i = 0; i < server.shards().size(); ++i) tables_.push_back(std::make_unique<TrackingTable>(server, i));
}

bool Tracking::FirstFlushReport(unsigned thread, uint64_t txid) {
  if (txid == 0) return true;  // a single-shard flush reports once
  auto& seen = recent_flushes_[thread];
  if (std::find(seen.begin(), seen.end(), txid) != seen.end()) return false;
  if (seen.size() >= 64) seen.erase(seen.begin());
  seen.push_back(txid);
  return true;
}

namespace {
std::mutex registry_mu;
// One Tracking per Server, never freed: shard write observers and deliveries in flight
// may point at it until the process ends.
std::unordered_map<Server*, Tracking*>& Registry() {
  static auto* r = new std::unordered_map<Server*, Tracking*>();
  return *r;
}
}  // namespace

Tracking& TrackingOf(Server& server) {
  std::lock_guard lock(registry_mu);
  Tracking*& t = Registry()[&server];
  if (!t) t = new Tracking(server);
  return *t;
}

Tracking* FindTracking(Server& server) {
  std::lock_guard lock(registry_mu);
  auto it = Registry().find(&server);
  return it == Registry().end() ? nullptr : it->second;
}

}  // namespace darter::server
