// JournalMerger: the shards' journals (journal.h) merged into one order that every
// shard's order agrees with, with each multi-shard transaction whole.
//
// Used twice: the PSYNC primary turns its own shards' journals into one Redis command
// stream (repl_master.cc), and a multi-flow replica merges the flows it receives from a
// Darter primary, one per primary shard, before applying them (replica_flows.cc) — the
// replica's "txid barrier".
//
// Rules (each shard runs transactions in txid order, so none of this waits in a cycle):
//  * An entry outside any multi-shard transaction goes out as soon as it heads its queue.
//  * A transaction (txid, tx_shards) goes out once every participating shard's part is
//    complete (its kTxEnd mark); shards where it ran a hop emit nothing after it until it
//    is out, even when it wrote nothing there: a command it replays as sent (DEL k1 k2,
//    SUNIONSTORE d s1 s2) acts on their keys too, so their later writes must follow it.
//    A shard that concluded the transaction without running a hop there may hold its mark
//    out of txid order, so it does not wait.
//  * Single-key writes a shard journaled between a transaction's first write there and
//    its end touch keys the transaction did not lock (or are expiry DELs): they commute
//    with it and go out ahead of it.
//  * A kSyncPoint (a PSYNC full sync's cut) is handled like a transaction with no
//    commands: it goes out when every shard reached it.
//
// Thread-safety: none; one owner thread.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "server/repl/journal.h"

namespace darter::server {

// One command of a merged transaction: its db and its RESP encoding (owned by the merger
// until the sink returns).
struct MergedCommand {
  unsigned db;
  const std::string* resp;
  bool upstream = false;  // JournalEntry::upstream of the entry it came from
  bool operator==(const MergedCommand& o) const { return db == o.db && *resp == *o.resp; }
};

class JournalMergeSink {
 public:
  virtual ~JournalMergeSink() = default;
  // An entry outside any multi-shard transaction (its commands in order).
  virtual void Single(unsigned shard, const JournalEntry& e) = 0;
  // A whole multi-shard transaction; a command several shards recorded identically (a
  // multi-key command as sent, FLUSHALL) appears once.
  virtual void Transaction(uint64_t txid, const std::vector<MergedCommand>& commands) = 0;
  // Every shard reached sync point `sync_id`.
  virtual void SyncPoint(uint64_t sync_id) { (void)sync_id; }
};

class JournalMerger {
 public:
  explicit JournalMerger(unsigned shards);

  unsigned shards() const { return static_cast<unsigned>(queues_.size()); }
  // Entries of one shard arrive in LSN order.
  void Push(unsigned shard, JournalEntry e);
  // Hands the sink everything that may go out now.
  void Drain(JournalMergeSink& sink);
  // The lowest LSN of `shard` not yet handed to a sink (queued or part of an incomplete
  // transaction), or 0 when nothing of it is held.
  uint64_t LowestHeld(unsigned shard) const;
  size_t held_entries() const;
  // JournalEntry::bytes() of every entry held (queued or in an incomplete transaction).
  size_t held_bytes() const { return held_bytes_; }
  // One line per waiting transaction and blocked shard, for the logs.
  std::string DebugState() const;

 private:
  struct PendingTx {
    unsigned tx_shards = 0;
    bool sync_point = false;
    std::vector<std::pair<unsigned, std::vector<JournalEntry>>> parts;  // (shard, its entries)
  };
  void Emit(JournalMergeSink& sink, PendingTx& tx, uint64_t txid);

  std::vector<std::deque<JournalEntry>> queues_;
  std::vector<uint64_t> blocked_on_;
  std::map<uint64_t, PendingTx> txs_;
  size_t held_bytes_ = 0;
};

}  // namespace darter::server
