#include "server/repl/journal_merge.h"

#include <doctest/doctest.h>

using darter::server::JournalEntry;
using darter::server::JournalMerger;
using darter::server::JournalMergeSink;
using darter::server::MergedCommand;

namespace {

JournalEntry Cmd(uint64_t lsn, std::string c, uint64_t txid = 0, unsigned tx_shards = 1) {
  JournalEntry e;
  e.lsn = lsn;
  e.txid = txid;
  e.tx_shards = tx_shards;
  e.commands.push_back(std::move(c));
  return e;
}

JournalEntry End(uint64_t lsn, uint64_t txid, unsigned tx_shards, bool ran_here = true) {
  JournalEntry e;
  e.kind = JournalEntry::Kind::kTxEnd;
  e.lsn = lsn;
  e.txid = txid;
  e.tx_shards = tx_shards;
  e.ran_here = ran_here;
  return e;
}

// Records what comes out: "c" for a single command, "[a b]" for a transaction.
struct Recorder : JournalMergeSink {
  std::vector<std::string> out;
  void Single(unsigned, const JournalEntry& e) override {
    for (auto& c : e.commands) out.push_back(c);
  }
  void Transaction(uint64_t, const std::vector<MergedCommand>& cmds) override {
    std::string s = "[";
    for (auto& c : cmds) s += (s.size() > 1 ? " " : "") + *c.resp;
    out.push_back(s + "]");
  }
};

}  // namespace

TEST_CASE("a multi-shard transaction goes out whole once every shard's part is in") {
  JournalMerger m(2);
  Recorder r;
  m.Push(0, Cmd(1, "a"));
  m.Push(0, Cmd(2, "set x", 10, 2));
  m.Push(0, End(3, 10, 2));
  m.Push(0, Cmd(4, "after0"));
  m.Drain(r);
  // Shard 0's later write waits for the transaction, shard 1's part is missing.
  CHECK(r.out == std::vector<std::string>{"a"});
  CHECK(m.LowestHeld(0) == 2);
  CHECK(m.LowestHeld(1) == 0);
  m.Push(1, Cmd(1, "b"));
  m.Push(1, Cmd(2, "set y", 10, 2));
  m.Drain(r);
  CHECK(r.out == std::vector<std::string>{"a", "b"});
  m.Push(1, End(3, 10, 2));
  m.Drain(r);
  CHECK(r.out == std::vector<std::string>{"a", "b", "[set x set y]", "after0"});
  CHECK(m.held_entries() == 0);
}

TEST_CASE("a command both shards recorded (MSET as sent, FLUSHALL) goes out once") {
  JournalMerger m(3);
  Recorder r;
  for (unsigned s = 0; s < 3; ++s) {
    m.Push(s, Cmd(1, "flushall", 5, 3));
    m.Push(s, End(2, 5, 3));
  }
  m.Drain(r);
  CHECK(r.out == std::vector<std::string>{"[flushall]"});
}

TEST_CASE("writes that commute with a pending transaction are not held behind it") {
  JournalMerger m(2);
  Recorder r;
  m.Push(0, Cmd(1, "tx0", 7, 2));
  m.Push(0, Cmd(2, "other key"));  // journaled between the transaction's hops
  m.Push(0, End(3, 7, 2));
  m.Drain(r);
  CHECK(r.out == std::vector<std::string>{"other key"});
  // The transaction's first entry is still held: a resume must not start after it.
  CHECK(m.LowestHeld(0) == 1);
  m.Push(1, End(1, 7, 2));  // shard 1 took part without writing
  m.Drain(r);
  CHECK(r.out == std::vector<std::string>{"other key", "[tx0]"});
  CHECK(m.LowestHeld(0) == 0);
}

TEST_CASE("a shard released without a hop does not wait (no cycle)") {
  JournalMerger m(2);
  Recorder r;
  // Shard 1 concluded transaction 9 (no hop there) before running transaction 8.
  m.Push(1, End(1, 9, 2, /*ran_here=*/false));
  m.Push(1, Cmd(2, "t8 on 1", 8, 2));
  m.Push(1, End(3, 8, 2));
  m.Push(0, Cmd(1, "t8 on 0", 8, 2));
  m.Push(0, End(2, 8, 2));
  m.Push(0, Cmd(3, "t9 on 0", 9, 2));
  m.Push(0, End(4, 9, 2));
  m.Drain(r);
  CHECK(r.out == std::vector<std::string>{"[t8 on 0 t8 on 1]", "[t9 on 0]"});
}

TEST_CASE("a shard where the transaction ran but wrote nothing holds its later writes behind it") {
  // DEL k1 k2: k1 on shard 0 (deleted, the command journaled as sent), k2 on shard 1
  // (absent: nothing written there). A client's SET k2, run on shard 1 once the lock is
  // released, must reach a replica after the DEL, which deletes k2 there too.
  JournalMerger m(2);
  Recorder r;
  m.Push(1, End(1, 4, 2));
  m.Push(1, Cmd(2, "set k2"));
  m.Drain(r);
  CHECK(r.out.empty());
  m.Push(0, Cmd(1, "del k1 k2", 4, 2));
  m.Push(0, End(2, 4, 2));
  m.Drain(r);
  CHECK(r.out == std::vector<std::string>{"[del k1 k2]", "set k2"});
}
