// ShardSnapshot: point-in-time content while writes interleave with the walk.
#include <doctest/doctest.h>

#include <map>
#include <string>

#include "snapshot_reader.h"
#include "store/shard.h"
#include "store/snapshot.h"

using namespace darter;
using namespace darter::store;

namespace {

using Content = std::map<std::pair<unsigned, std::string>, std::string>;

Content Decode(const std::vector<std::string>& chunks, unsigned dbs) {
  Content got;
  testing::ForEachSnapshotEntry(chunks, dbs, [&](LoadedEntry&& e) {
    auto key = std::make_pair(e.db, e.key);
    CHECK_MESSAGE(got.count(key) == 0, "emitted twice: " << e.key);
    got[key] = std::string(e.value.string_view());
  });
  return got;
}

Content Live(Shard& shard) {
  Content c;
  for (unsigned d = 0; d < shard.db_count(); ++d)
    shard.db(d).Traverse(0, SIZE_MAX, [&](const Slot& s) { c[{d, s.key.str()}] = std::string(s.value.string_view()); });
  return c;
}

// Plain Shard mutations: the serialize-before-write hook lives inside them.
void Set(Shard& shard, unsigned db, const std::string& key, const std::string& v) {
  shard.Upsert(db, key, Value(v), 0);
}

void Del(Shard& shard, unsigned db, const std::string& key) { shard.Delete(db, key, 0); }

}  // namespace

TEST_CASE("Snapshot of a quiet shard holds every key once, in chunks starting with SELECTDB") {
  Shard shard(0, 3);
  for (int i = 0; i < 5000; ++i) shard.Upsert(i % 3, "k" + std::to_string(i), Value("v" + std::to_string(i)), 0);
  Content before = Live(shard);
  std::vector<std::string> chunks;
  ShardSnapshot snap(shard, [&](std::string c) { chunks.push_back(std::move(c)); }, {.chunk_bytes = 4096});
  REQUIRE(snap.Start().ok());
  while (!snap.Step(100)) {
  }
  CHECK(snap.keys_written() == 5000);
  CHECK(chunks.size() > 5);
  for (auto& c : chunks) CHECK(static_cast<uint8_t>(c[0]) == 0xFE);  // SELECTDB
  CHECK(Decode(chunks, 3) == before);
  CHECK(!shard.snapshot_running());
}

TEST_CASE("Writes during a snapshot do not leak into it; splits do not duplicate keys") {
  Shard shard(0, 2);
  for (int i = 0; i < 3000; ++i) shard.Upsert(i % 2, "k" + std::to_string(i), Value("old"), 0);
  Content before = Live(shard);
  std::vector<std::string> chunks;
  ShardSnapshot snap(shard, [&](std::string c) { chunks.push_back(std::move(c)); }, {.chunk_bytes = 1024});
  REQUIRE(snap.Start().ok());
  int round = 0;
  while (!snap.Step(50)) {
    // Overwrite, delete, and insert many new keys (forcing splits under the walk).
    for (int j = 0; j < 20; ++j) {
      int i = (round * 37 + j * 101) % 3000;
      if (j % 3 == 0) Del(shard, i % 2, "k" + std::to_string(i));
      else Set(shard, i % 2, "k" + std::to_string(i), "new");
      Set(shard, round % 2, "n" + std::to_string(round) + "_" + std::to_string(j), "fresh");
    }
    round++;
  }
  CHECK(round > 10);
  CHECK(Decode(chunks, 2) == before);

  // The next snapshot sees the current state (the bits were left consistent).
  Content now = Live(shard);
  std::vector<std::string> chunks2;
  ShardSnapshot snap2(shard, [&](std::string c) { chunks2.push_back(std::move(c)); });
  REQUIRE(snap2.Start().ok());
  snap2.Finish();
  CHECK(Decode(chunks2, 2) == now);
}

TEST_CASE("Expiry and FLUSHDB during a snapshot keep the point-in-time content") {
  Shard shard(0, 2);
  for (int i = 0; i < 2000; ++i) {
    Slot* s = shard.Upsert(0, "e" + std::to_string(i), Value("x"), 0);
    if (i % 2) shard.SetExpire(0, s, 1000);  // long expired: active expiry deletes them
  }
  for (int i = 0; i < 500; ++i) shard.Upsert(1, "f" + std::to_string(i), Value("y"), 0);
  Content before = Live(shard);
  std::vector<std::string> chunks;
  ShardSnapshot snap(shard, [&](std::string c) { chunks.push_back(std::move(c)); });
  REQUIRE(snap.Start().ok());
  snap.Step(10);
  shard.ActiveExpireStep(UnixTimeMs(), 5000);
  CHECK(shard.db(0).size() == 1000);
  shard.FlushDb(1);  // finishes the snapshot first
  CHECK(snap.done());
  // Expired keys are emitted before deletion (a loader drops them, a replica keeps them
  // until the journal's DEL), and db 1 as it was before the flush.
  CHECK(Decode(chunks, 2) == before);
}

TEST_CASE("Several snapshots run at once; Cancel leaves the shard ready for the next") {
  Shard shard(0, 1);
  for (int i = 0; i < 1000; ++i) shard.Upsert(0, "k" + std::to_string(i), Value("a"), 0);
  Content v1 = Live(shard);
  std::vector<std::string> c1, c2, c3;
  ShardSnapshot s1(shard, [&](std::string c) { c1.push_back(std::move(c)); });
  REQUIRE(s1.Start().ok());
  s1.Step(100);
  for (int i = 0; i < 1000; i += 2) Set(shard, 0, "k" + std::to_string(i), "b");
  Content v2 = Live(shard);
  {
    ShardSnapshot cancelled(shard, [&](std::string) { FAIL("cancelled snapshot emitted"); }, {.chunk_bytes = 1 << 30});
    REQUIRE(cancelled.Start().ok());
    cancelled.Step(10);
    cancelled.Cancel();
  }
  ShardSnapshot s2(shard, [&](std::string c) { c2.push_back(std::move(c)); });
  REQUIRE(s2.Start().ok());
  for (int i = 0; i < 1000; i += 3) Set(shard, 0, "k" + std::to_string(i), "c");
  s1.Finish();
  s2.Finish();
  CHECK(Decode(c1, 1) == v1);
  CHECK(Decode(c2, 1) == v2);
  Content v3 = Live(shard);
  ShardSnapshot s3(shard, [&](std::string c) { c3.push_back(std::move(c)); });
  REQUIRE(s3.Start().ok());
  s3.Finish();
  CHECK(Decode(c3, 1) == v3);
}

TEST_CASE("A write in another database emits that database's key of the same name (MOVE, COPY ... DB)") {
  Shard shard(0, 3);
  shard.Upsert(0, "k", Value("in0"), 0);
  shard.Upsert(2, "k", Value("in2"), 0);
  Content before = Live(shard);
  std::vector<std::string> chunks;
  ShardSnapshot snap(shard, [&](std::string c) { chunks.push_back(std::move(c)); });
  REQUIRE(snap.Start().ok());
  // COPY k k DB 2 REPLACE, run in db 0: the write lookup of db 2 emits db 2's "k" only.
  REQUIRE(shard.FindLive(0, "k", 0) != nullptr);
  CHECK(snap.keys_written() == 1);
  REQUIRE(shard.FindLive(2, "k", 0) != nullptr);
  CHECK(snap.keys_written() == 2);
  shard.Upsert(2, "k", Value("copied"), 0);
  shard.Delete(0, "k", 0);
  snap.Finish();
  CHECK(snap.keys_written() == 2);
  CHECK(Decode(chunks, 3) == before);
}

TEST_CASE("Every mutating Shard entry point emits a pending slot first; read lookups do not") {
  Shard shard(0, 1);
  for (const char* k : {"live", "up", "del", "erase", "ttl", "change", "read"}) shard.Upsert(0, k, Value("v"), 0);
  std::vector<std::string> chunks;
  ShardSnapshot snap(shard, [&](std::string c) { chunks.push_back(std::move(c)); });
  REQUIRE(snap.Start().ok());
  REQUIRE(shard.FindForRead(0, "read", 0) != nullptr);
  REQUIRE(shard.FindForReadNoTouch(0, "read", 0) != nullptr);
  CHECK(snap.keys_written() == 0);
  Slot* live = shard.FindLive(0, "live", 0);
  REQUIRE(live != nullptr);
  CHECK(snap.keys_written() == 1);
  live->value.SetString("changed");
  shard.FindLive(0, "live", 0);  // already emitted: not again
  CHECK(snap.keys_written() == 1);
  shard.Upsert(0, "up", Value("changed"), 0);
  CHECK(snap.keys_written() == 2);
  CHECK(shard.Delete(0, "del", 0));
  CHECK(snap.keys_written() == 3);
  shard.Erase(0, const_cast<Slot*>(shard.db(0).Find("erase")));
  CHECK(snap.keys_written() == 4);
  shard.SetExpire(0, const_cast<Slot*>(shard.db(0).Find("ttl")), 1ll << 50);
  CHECK(snap.keys_written() == 5);
  shard.ForChange(0, shard.FindForRead(0, "change", 0))->value.SetString("changed");
  CHECK(snap.keys_written() == 6);
  shard.Upsert(0, "new", Value("after the point"), 0);  // not part of the snapshot
  snap.Finish();
  CHECK(snap.keys_written() == 7);
  Content got = Decode(chunks, 1);
  CHECK(got.size() == 7);
  CHECK(got.count({0, "new"}) == 0);
  for (auto& [key, value] : got) CHECK(value == "v");
}

TEST_CASE("The write lookup emits nothing without a running snapshot, and Start fails past the limit") {
  Shard shard(0, 1);
  shard.Upsert(0, "k", Value("v"), 0);
  CHECK(shard.FindLive(0, "k", 0) != nullptr);
  CHECK(!shard.snapshot_running());
  std::vector<std::unique_ptr<ShardSnapshot>> snaps;
  for (unsigned i = 0; i < ShardSnapshot::kMaxSnapshots; ++i) {
    snaps.push_back(std::make_unique<ShardSnapshot>(shard, [](std::string) {}));
    CHECK(snaps.back()->Start().ok());
  }
  ShardSnapshot extra(shard, [](std::string) {});
  CHECK(!extra.Start().ok());
  snaps.clear();  // cancels them
  CHECK(!shard.snapshot_running());
  CHECK(extra.Start().ok());  // a refused Start left it unstarted; there is room now
  CHECK(!extra.Start().ok());  // but a snapshot starts once
}
