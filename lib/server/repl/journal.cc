#include "server/repl/journal.h"


#include <algorithm>

#include "resp/bulk_encoding.h"
#include "server/core/eviction.h"
#include "store/shard.h"

namespace darter::server {

void EncodeCommand(std::string* out, std::span<const std::string_view> argv) {
  out->push_back('*');
  out->append(std::to_string(argv.size()));
  out->append("\r\n");
  for (std::string_view a : argv) resp::AppendBulk(*out, a);
}

std::string EncodeCommand(std::initializer_list<std::string_view> argv) {
  std::string out;
  EncodeCommand(&out, std::span<const std::string_view>(argv.begin(), argv.end()));
  return out;
}

void EncodeCommand(std::string* out, const std::vector<std::string>& argv) {
  out->push_back('*');
  out->append(std::to_string(argv.size()));
  out->append("\r\n");
  for (const std::string& a : argv) resp::AppendBulk(*out, a);
}

void ShardJournal::OnWrite(store::Shard&, const store::AppliedWrite& write) {
  JournalEntry e;
  e.db = write.db;
  e.txid = write.txid;
  e.tx_shards = write.tx_shards;
  if (write.effects.rewritten()) {
    for (const auto& cmd : write.effects.commands()) {
      e.commands.emplace_back();
      EncodeCommand(&e.commands.back(), cmd);
    }
  } else {
    e.commands.emplace_back();
    EncodeCommand(&e.commands.back(), std::span<const std::string_view>(write.args.data(), write.args.size()));
  }
  Append(std::move(e));
}

void ShardJournal::OnTxEnd(store::Shard&, uint64_t txid, unsigned tx_shards, bool ran_here) {
  JournalEntry e;
  e.kind = JournalEntry::Kind::kTxEnd;
  e.txid = txid;
  e.tx_shards = tx_shards;
  e.ran_here = ran_here;
  Append(std::move(e));
}

void ShardJournal::AppendSyncPoint(uint64_t sync_id, unsigned shard_count) {
  JournalEntry e;
  e.kind = JournalEntry::Kind::kSyncPoint;
  e.txid = sync_id;
  e.tx_shards = shard_count;
  Append(std::move(e));
}

void ShardJournal::Append(JournalEntry e) {
  bool wake = false;
  {
    MutexLock lk(&mu_);
    e.lsn = next_lsn_++;
    ring_bytes_ += e.bytes();
    // The ring's bytes are replication buffers, not counted against maxmemory.
    JournalBytesOfShard(shard_).fetch_add(static_cast<int64_t>(e.heap_bytes()), std::memory_order_relaxed);
    ring_.push_back(std::move(e));
    if (!reader_notified_) {
      reader_notified_ = true;
      wake = true;
    }
  }
  if (wake) wake_();
}

void ShardJournal::ReadAfter(uint64_t after_lsn, std::vector<JournalEntry>* out, size_t max_bytes) {
  MutexLock lk(&mu_);
  reader_notified_ = false;
  if (ring_.empty() || ring_.back().lsn <= after_lsn) return;
  // LSNs in the ring are consecutive: index by difference.
  size_t first = 0;
  if (after_lsn >= ring_.front().lsn) first = static_cast<size_t>(after_lsn - ring_.front().lsn + 1);
  size_t copied = 0;
  for (size_t i = first; i < ring_.size() && copied < max_bytes; ++i) {
    out->push_back(ring_[i]);
    copied += ring_[i].bytes();
  }
}

void ShardJournal::Trim(uint64_t consumed_lsn, size_t max_bytes) {
  MutexLock lk(&mu_);
  uint64_t keep_after = consumed_lsn;
  if (ring_bytes_ <= kPinnedLimit)
    for (auto& [reader, lsn] : pins_) keep_after = std::min(keep_after, lsn);
  while (!ring_.empty() && ring_bytes_ > max_bytes && ring_.front().lsn <= keep_after) {
    ring_bytes_ -= ring_.front().bytes();
    JournalBytesOfShard(shard_).fetch_sub(static_cast<int64_t>(ring_.front().heap_bytes()), std::memory_order_relaxed);
    ring_.pop_front();
  }
}

uint64_t ShardJournal::last_lsn() const {
  MutexLock lk(&mu_);
  return next_lsn_ - 1;
}

bool ShardJournal::HoldsLocked(uint64_t after_lsn) const {
  if (after_lsn + 1 == next_lsn_) return true;
  return after_lsn < next_lsn_ && !ring_.empty() && ring_.front().lsn <= after_lsn + 1;
}

bool ShardJournal::Pin(uint64_t reader, uint64_t after_lsn) {
  MutexLock lk(&mu_);
  if (!HoldsLocked(after_lsn)) return false;
  pins_[reader] = after_lsn;
  return true;
}

void ShardJournal::Advance(uint64_t reader, uint64_t after_lsn) {
  bool trim_due = false;
  {
    MutexLock lk(&mu_);
    auto it = pins_.find(reader);
    if (it != pins_.end() && after_lsn > it->second) {
      // The ring is trimmed where it is merged (on writes); a reader draining a ring that
      // grew while it was stalled asks for that pass itself, or the ring's bytes would stay
      // until the next write.
      trim_due = ring_bytes_ > kTrimWhenAdvancedPast && !ring_.empty() && ring_.front().lsn <= it->second;
      it->second = after_lsn;
    }
  }
  if (trim_due) wake_();
}

void ShardJournal::Unpin(uint64_t reader) {
  MutexLock lk(&mu_);
  pins_.erase(reader);
}

void Journal::Create(unsigned shard_count, std::function<void(unsigned)> wake) {
  for (unsigned i = 0; i < shard_count; ++i)
    journals_.push_back(std::make_unique<ShardJournal>(i, [wake, i] { wake(i); }));
}

void Journal::Register(store::Shard& shard) { shard.AddWriteObserver(journals_[shard.index()].get()); }

void Journal::Unregister(store::Shard& shard) { shard.RemoveWriteObserver(journals_[shard.index()].get()); }

}  // namespace darter::server
