// Journal: what each shard changed, in the order it changed it, for replication.
//
// One ShardJournal per shard is a WriteObserver (store/write_observer.h). For every
// applied write it records an entry {lsn, db, txid, tx_shards, commands}: the Effects'
// rewritten commands when the handler propagated some, else the command as sent. The
// commands are stored RESP-encoded, ready to go on the wire. Multi-shard transactions
// also leave a kTxEnd entry on every participating shard when they conclude (even a shard
// that changed nothing), so a reader knows when it holds the whole of one shard's part.
//
// Entries stay in a per-shard ring bounded by repl-backlog-size bytes (the newest are
// always kept until the reader has taken them), for a reader that resumes by LSN.
//
// Zero cost when nobody replicates: the observers are registered only by Enable(), which
// the first replica triggers.
//
// Thread-safety: Append/OnWrite run on the shard's thread; Read/Trim run on the reader's
// thread. A per-shard mutex guards the ring (never contended by two shard threads).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "store/thread_annotations.h"
#include "store/write_observer.h"

namespace darter::server {

struct JournalEntry {
  enum class Kind : uint8_t {
    kCommand,    // one applied write (possibly several commands, e.g. a MULTI block's part)
    kTxEnd,      // this shard's part of multi-shard transaction `txid` is complete
    kSyncPoint,  // a full-sync snapshot was taken here (txid = sync id, tx_shards = all)
  };
  Kind kind = Kind::kCommand;
  uint64_t lsn = 0;
  unsigned db = 0;
  uint64_t txid = 0;       // 0: not part of a multi-shard transaction
  unsigned tx_shards = 1;
  // kTxEnd: the transaction ran a hop on this shard. Its later writes here then wait for
  // the whole transaction in the merge (journal_merge.h), even when it wrote nothing here:
  // a command replayed as sent (DEL k1 k2, SUNIONSTORE) also acts on this shard's keys.
  bool ran_here = true;
  std::vector<std::string> commands;  // RESP-encoded
  // Reader-side only (not on the wire): the write came from a PSYNC primary's stream that
  // this server proxies byte for byte, so its stream must not carry it again.
  bool upstream = false;
  size_t bytes() const {
    size_t n = 64;
    for (auto& c : commands) n += c.size();
    return n;
  }
  // What the entry holds in malloc blocks (for mem_not_counted_for_evict): the entry in
  // its deque, the vector, and each command's buffer once past the inline 15 bytes,
  // with the allocator's 16-byte chunk header per block.
  size_t heap_bytes() const {
    size_t n = sizeof(JournalEntry) + (commands.empty() ? 0 : commands.capacity() * sizeof(std::string) + 16);
    for (auto& c : commands)
      if (c.capacity() > 15) n += c.capacity() + 1 + 16;
    return n;
  }
};

// Appends the RESP array encoding of `argv` to `out`.
void EncodeCommand(std::string* out, std::span<const std::string_view> argv);
void EncodeCommand(std::string* out, const std::vector<std::string>& argv);
std::string EncodeCommand(std::initializer_list<std::string_view> argv);

class ShardJournal : public store::WriteObserver {
 public:
  // `wake` is called (on the shard thread, outside the lock) when entries become
  // available and the reader has not been told yet.
  ShardJournal(unsigned shard, std::function<void()> wake) : shard_(shard), wake_(std::move(wake)) {}

  void OnWrite(store::Shard& shard, const store::AppliedWrite& write) override;
  void OnTxEnd(store::Shard& shard, uint64_t txid, unsigned tx_shards, bool ran_here) override;
  // Shard thread: records a sync point (the caller holds the whole shard).
  void AppendSyncPoint(uint64_t sync_id, unsigned shard_count);

  // Reader: moves copies of the entries after `after_lsn` into `out` and re-arms the wake;
  // at most about `max_bytes` of them (at least one), so a reader far behind copies the
  // ring out in bounded steps instead of doubling it at once.
  void ReadAfter(uint64_t after_lsn, std::vector<JournalEntry>* out, size_t max_bytes = SIZE_MAX);
  // Reader: entries at or below `consumed_lsn` may be dropped beyond `max_bytes`, except
  // those a pinned reader still needs (until the ring passes kPinnedLimit bytes: a reader
  // that far behind loses its place and must notice the gap).
  void Trim(uint64_t consumed_lsn, size_t max_bytes);
  static constexpr size_t kPinnedLimit = 256ull << 20;
  // A reader's Advance over a ring larger than this asks for a trim (the wake).
  static constexpr size_t kTrimWhenAdvancedPast = 4ull << 20;

  // A reader that copies entries out at its own pace (a multi-flow replica's flow) keeps
  // every entry after `after_lsn` in the ring. Pin returns false when some of them are
  // already gone; Advance moves the pin forward as the reader reads.
  bool Pin(uint64_t reader, uint64_t after_lsn);
  void Advance(uint64_t reader, uint64_t after_lsn);
  void Unpin(uint64_t reader);

  uint64_t last_lsn() const;
  unsigned shard() const { return shard_; }

 private:
  void Append(JournalEntry e);
  // True when every entry after `after_lsn` is still in the ring (a reader may resume there).
  bool HoldsLocked(uint64_t after_lsn) const REQUIRES(mu_);

  unsigned shard_;
  std::function<void()> wake_;
  mutable Mutex mu_;
  std::deque<JournalEntry> ring_ GUARDED_BY(mu_);
  size_t ring_bytes_ GUARDED_BY(mu_) = 0;
  uint64_t next_lsn_ GUARDED_BY(mu_) = 1;
  bool reader_notified_ GUARDED_BY(mu_) = false;
  std::map<uint64_t, uint64_t> pins_ GUARDED_BY(mu_);  // reader -> the last LSN it no longer needs
};

// The shards' journals. Created once (Create), registered on each shard by the caller
// on that shard's thread (Register), and kept for the server's life.
class Journal {
 public:
  // Creates the per-shard journals; `wake(shard)` is what they call when entries arrive.
  // REQUIRES: called once, before Register.
  void Create(unsigned shard_count, std::function<void(unsigned)> wake);
  bool created() const { return !journals_.empty(); }
  // Shard thread `i` only: starts recording that shard's writes.
  void Register(store::Shard& shard);
  void Unregister(store::Shard& shard);
  ShardJournal& shard(unsigned i) { return *journals_[i]; }
  unsigned size() const { return static_cast<unsigned>(journals_.size()); }

 private:
  std::vector<std::unique_ptr<ShardJournal>> journals_;
};

}  // namespace darter::server
