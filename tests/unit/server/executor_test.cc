// The shard executor (executor.h): the handler, with a running snapshot still getting
// each key as it was (the store's lookups emit it), and one report per write to the
// shard's observers, with the journal's rule that an op's command as sent is reported
// once per shard across its hops.
#include "server/core/executor.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "store/snapshot.h"

using namespace darter;
using darter::server::OpOnShard;
using darter::server::RunAllHopsOnShard;
using darter::server::RunOnShard;
using darter::server::TxTag;

namespace {

struct Reported {
  std::string command;  // the first propagated command's name, else args[0]
  std::vector<std::string> keys;
  uint64_t txid;
  unsigned tx_shards;
};

class Recorder : public store::WriteObserver {
 public:
  void OnWrite(store::Shard&, const store::AppliedWrite& w) override {
    Reported r{w.effects.rewritten() ? w.effects.commands()[0][0] : std::string(w.args[0]), {}, w.txid, w.tx_shards};
    for (auto k : w.keys) r.keys.emplace_back(k);
    writes.push_back(std::move(r));
  }
  std::vector<Reported> writes;
};

// A snapshot of `shard` taken now; Content() finishes it and returns its raw records
// (uncompressed, so short values appear verbatim).
class RawSnapshot {
 public:
  explicit RawSnapshot(store::Shard& shard)
      : snap_(shard, [this](std::string c) { bytes_ += c; }, {.compress = false}) {
    REQUIRE(snap_.Start().ok());
  }
  const std::string& Content() {
    snap_.Finish();
    return bytes_;
  }

 private:
  std::string bytes_;
  store::ShardSnapshot snap_;
};

std::string Run(store::Shard& shard, std::vector<std::string_view> args, TxTag tx, bool* wrote) {
  const store::CommandSpec* spec = store::CommandTable::Global().Find(args[0]);
  REQUIRE(spec);
  std::vector<std::string_view> keys = {args[1]};
  std::string out;
  resp::ReplyBuilder rb(&out);
  *wrote = RunOnShard(shard, *spec, 0, args, keys, rb, store::UnixTimeMs(), tx);
  return out;
}

// Two hops that each overwrite the key at args[1] without rewriting the command, then a
// third that propagates a rewritten command.
class ThreeHopOp : public store::MultiShardOp {
 public:
  store::HopPlan NextHop(int hop) override { return {hop < 2 ? store::HopTarget::kKeyShards : store::HopTarget::kDone}; }
  void RunHop(int hop, store::HopContext& h) override {
    h.shard.Upsert(h.db, h.args[1], store::Value("hop" + std::to_string(hop)), h.now_ms);
    h.effects.MarkDirty();
    if (hop == 2) h.effects.Propagate({"SET", h.args[1], "hop2"});
  }
  void Reply(resp::ReplyBuilder& rb) override { rb.Ok(); }
};

}  // namespace

TEST_CASE("RunOnShard: a write goes after a running snapshot took the key, and is reported once with its tx tag") {
  store::Shard shard(0, 1);
  shard.Upsert(0, "k", store::Value("before"), 0);
  Recorder rec;
  shard.AddWriteObserver(&rec);
  RawSnapshot snap(shard);

  bool wrote = false;
  CHECK(Run(shard, {"SET", "k", "after!"}, TxTag{7, 2}, &wrote) == "+OK\r\n");
  CHECK(wrote);
  REQUIRE(rec.writes.size() == 1);
  CHECK(rec.writes[0].command == "SET");
  CHECK(rec.writes[0].keys == std::vector<std::string>{"k"});
  CHECK(rec.writes[0].txid == 7);
  CHECK(rec.writes[0].tx_shards == 2);

  // A read changes nothing: no report.
  CHECK(Run(shard, {"GET", "k"}, TxTag{}, &wrote) == "$6\r\nafter!\r\n");
  CHECK_FALSE(wrote);
  CHECK(rec.writes.size() == 1);

  const std::string& content = snap.Content();
  CHECK(content.find("before") != std::string::npos);
  CHECK(content.find("after!") == std::string::npos);
  shard.RemoveWriteObserver(&rec);
}

TEST_CASE("RunAllHopsOnShard: the command as sent is reported once per shard, rewritten hops each time") {
  store::Shard shard(0, 1);
  shard.Upsert(0, "k", store::Value("before"), 0);
  Recorder rec;
  shard.AddWriteObserver(&rec);
  RawSnapshot snap(shard);

  std::vector<std::string_view> args = {"THREEHOP", "k"};
  std::vector<size_t> key_indices = {1};
  ThreeHopOp op;
  CHECK(RunAllHopsOnShard(shard, op, op.FirstHop(1), args, key_indices, 0, 1, store::UnixTimeMs(), TxTag{9, 1}));
  REQUIRE(rec.writes.size() == 2);
  CHECK(rec.writes[0].command == "THREEHOP");
  CHECK(rec.writes[0].keys == std::vector<std::string>{"k"});
  CHECK(rec.writes[1].command == "SET");
  for (auto& w : rec.writes) CHECK(w.txid == 9);

  const std::string& content = snap.Content();
  CHECK(content.find("before") != std::string::npos);
  CHECK(content.find("hop") == std::string::npos);
  shard.RemoveWriteObserver(&rec);
}

TEST_CASE("RunHopOnShard: a hop that changed nothing reports nothing and leaves the op unwritten here") {
  struct ReadOp : store::MultiShardOp {
    void RunHop(int, store::HopContext&) override {}
    void Reply(resp::ReplyBuilder& rb) override { rb.Ok(); }
  } op;
  store::Shard shard(0, 1);
  Recorder rec;
  shard.AddWriteObserver(&rec);
  std::vector<std::string_view> args = {"READ", "k"};
  std::vector<size_t> key_indices = {1};
  store::HopContext ctx{shard, 0, args, key_indices, 0, 1};
  OpOnShard state;
  darter::server::RunHopOnShard(op, 0, ctx, state);
  CHECK_FALSE(state.wrote);
  CHECK(rec.writes.empty());
  shard.RemoveWriteObserver(&rec);
}
