#include "server/repl/journal_merge.h"

#include <algorithm>

namespace darter::server {

namespace {

// One transaction's commands, merged from each shard's part. A command recorded by
// several shards (a multi-key command as sent) is one command: it goes out once, when it
// heads every part that holds it; commands only one shard holds go first.
std::vector<MergedCommand> MergeTxParts(const std::vector<std::pair<unsigned, std::vector<JournalEntry>>>& parts) {
  std::vector<std::deque<MergedCommand>> q;
  for (auto& [shard, entries] : parts) {
    q.emplace_back();
    for (auto& e : entries)
      for (auto& c : e.commands) q.back().push_back({e.db, &c, e.upstream});
  }
  std::vector<MergedCommand> out;
  while (true) {
    int pick = -1, first = -1;
    for (size_t k = 0; k < q.size() && pick < 0; ++k) {
      if (q[k].empty()) continue;
      if (first < 0) first = static_cast<int>(k);
      const MergedCommand& h = q[k].front();
      bool ready = true;
      for (size_t j = 0; j < q.size() && ready; ++j) {
        if (j == k || q[j].empty() || q[j].front() == h) continue;
        if (std::find(q[j].begin(), q[j].end(), h) != q[j].end()) ready = false;
      }
      if (ready) pick = static_cast<int>(k);
    }
    if (first < 0) break;
    if (pick < 0) pick = first;
    MergedCommand h = q[pick].front();
    out.push_back(h);
    for (auto& qq : q)
      if (!qq.empty() && qq.front() == h) qq.pop_front();
  }
  return out;
}

}  // namespace

JournalMerger::JournalMerger(unsigned shards) : queues_(shards), blocked_on_(shards, 0) {}

void JournalMerger::Push(unsigned shard, JournalEntry e) {
  held_bytes_ += e.bytes();
  queues_[shard].push_back(std::move(e));
}

void JournalMerger::Drain(JournalMergeSink& sink) {
  const unsigned n = shards();
  bool progress = true;
  while (progress) {
    progress = false;
    for (unsigned s = 0; s < n; ++s) {
      auto& q = queues_[s];
      while (!q.empty() && blocked_on_[s] == 0) {
        JournalEntry& head = q.front();
        if (head.kind == JournalEntry::Kind::kCommand && head.txid == 0) {
          sink.Single(s, head);
          held_bytes_ -= head.bytes();
          q.pop_front();
          progress = true;
          continue;
        }
        // Part of a multi-shard transaction or a sync point: take this shard's whole part.
        const uint64_t txid = head.txid;
        size_t end = 0;
        while (end < q.size() && !(q[end].kind != JournalEntry::Kind::kCommand && q[end].txid == txid)) ++end;
        if (end == q.size()) break;  // the rest of the part has not arrived yet
        PendingTx& tx = txs_[txid];
        tx.tx_shards = q[end].tx_shards;
        tx.sync_point = q[end].kind == JournalEntry::Kind::kSyncPoint;
        // Commuting single writes go out now, ahead of the transaction; other
        // transactions' end marks in between stay queued for their own turn.
        std::vector<JournalEntry> part;
        std::vector<JournalEntry> marks;
        for (size_t i = 0; i < end; ++i) {
          if (q[i].kind != JournalEntry::Kind::kCommand) marks.push_back(std::move(q[i]));
          else if (q[i].txid == txid) part.push_back(std::move(q[i]));
          else {
            sink.Single(s, q[i]);
            held_bytes_ -= q[i].bytes();
          }
        }
        // The end mark stays in the part (without commands) so LowestHeld sees it.
        held_bytes_ -= q[end].bytes();
        part.push_back(std::move(q[end]));
        part.back().commands.clear();
        held_bytes_ += part.back().bytes();
        q.erase(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(end + 1));
        for (auto it = marks.rbegin(); it != marks.rend(); ++it) q.push_front(std::move(*it));
        // The end mark stayed last in the part; a shard whose part ran a hop holds back
        // its later writes even when it wrote nothing (journal.h, JournalEntry::ran_here).
        const bool took_part = part.size() > 1 || part.back().ran_here;
        tx.parts.emplace_back(s, std::move(part));
        progress = true;
        if (tx.parts.size() == tx.tx_shards) {
          Emit(sink, tx, txid);
          for (auto& [shard, entries] : tx.parts)
            for (auto& e : entries) held_bytes_ -= e.bytes();
          txs_.erase(txid);
          for (auto& b : blocked_on_)
            if (b == txid) b = 0;
          continue;
        }
        // Later writes of this shard wait for the transaction only if it ran here.
        if (took_part || tx.sync_point) {
          blocked_on_[s] = txid;
          break;
        }
      }
    }
  }
}

void JournalMerger::Emit(JournalMergeSink& sink, PendingTx& tx, uint64_t txid) {
  if (tx.sync_point) {
    sink.SyncPoint(txid);
    return;
  }
  std::sort(tx.parts.begin(), tx.parts.end(), [](auto& a, auto& b) { return a.first < b.first; });
  std::vector<MergedCommand> cmds = MergeTxParts(tx.parts);
  if (!cmds.empty()) sink.Transaction(txid, cmds);
}

uint64_t JournalMerger::LowestHeld(unsigned shard) const {
  uint64_t low = queues_[shard].empty() ? 0 : queues_[shard].front().lsn;
  for (auto& [txid, tx] : txs_)
    for (auto& [s, part] : tx.parts)
      if (s == shard && !part.empty() && (low == 0 || part.front().lsn < low)) low = part.front().lsn;
  return low;
}

size_t JournalMerger::held_entries() const {
  size_t n = 0;
  for (auto& q : queues_) n += q.size();
  for (auto& [txid, tx] : txs_)
    for (auto& p : tx.parts) n += p.second.size();
  return n;
}

std::string JournalMerger::DebugState() const {
  std::string out;
  for (auto& [txid, tx] : txs_) {
    out += "transaction " + std::to_string(txid) + " has " + std::to_string(tx.parts.size()) + " of " +
           std::to_string(tx.tx_shards) + " parts:";
    for (auto& p : tx.parts) out += " " + std::to_string(p.first) + "(" + std::to_string(p.second.size()) + ")";
    out += "\n";
  }
  for (size_t s = 0; s < queues_.size(); ++s) {
    if (txs_.empty()) break;
    auto& q = queues_[s];
    out += "shard " + std::to_string(s) + " blocked on " + std::to_string(blocked_on_[s]) + ", " +
           std::to_string(q.size()) + " queued:";
    for (size_t i = 0; i < q.size() && i < 6; ++i)
      out += " " + std::to_string(static_cast<int>(q[i].kind)) + ":" + std::to_string(q[i].txid) + "/" +
             std::to_string(q[i].tx_shards) + (q[i].commands.empty() ? "" : " " + q[i].commands[0].substr(0, 40));
    out += "\n";
  }
  return out;
}

}  // namespace darter::server
