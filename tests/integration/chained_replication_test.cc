// Chained replication through a Darter replica of redis-server: P (redis) -> D1 (darter,
// PSYNC) -> R2 (redis) and D2 (darter, PSYNC or multi-flow). D1 proxies its primary's
// stream byte for byte to its PSYNC replicas (docs/replication.md, "Chained"), so the
// whole chain shares P's offset space: once idle, D1's master_repl_offset, the offset D1
// reports for R2, and R2's own slave_repl_offset are P's master_repl_offset. Checked:
//   - every type, several DBs, MULTI blocks: R2 and D2 hold exactly what P holds;
//   - offsets meet on idle, and across a reconnect of R2 (partial resync, no full one);
//   - WAIT on D1 counts the sub-replicas that have everything D1 applied;
//   - promoting D1 keeps the offset space: R2 continues by partial resync (replid2).
#include <doctest/doctest.h>

#include "replication_support.h"

using namespace darter::test;
using namespace darter::test::repl;
using namespace std::chrono_literals;

namespace {

const std::vector<int> kDbs = {0, 2};

std::string Diffs(Client& a, Client& b) {
  std::string all;
  for (auto& d : CompareServers(a, b, kDbs)) all += d + "\n";
  return all;
}

// Every link up and every offset of the chain equal to P's (which is still).
bool OffsetsMeet(Client& p, Client& d1, Client& r2, std::chrono::milliseconds timeout) {
  return WaitFor(
      [&] {
        long long top = InfoInt(p, "replication", "master_repl_offset");
        long long mid = InfoInt(d1, "replication", "master_repl_offset");
        long long mid_applied = InfoInt(d1, "replication", "slave_repl_offset");
        long long low = InfoInt(r2, "replication", "slave_repl_offset");
        std::string slave0 = InfoStr(d1, "replication", "slave0");
        return InfoStr(d1, "replication", "master_link_status") == "up" &&
               InfoStr(r2, "replication", "master_link_status") == "up" && top == mid && mid == mid_applied &&
               mid == low && slave0.find(",offset=" + std::to_string(low) + ",") != std::string::npos &&
               InfoInt(p, "replication", "master_repl_offset") == top;
      },
      timeout);
}

std::string Offsets(Client& p, Client& d1, Client& r2) {
  return "P " + std::to_string(InfoInt(p, "replication", "master_repl_offset")) + ", D1 " +
         std::to_string(InfoInt(d1, "replication", "master_repl_offset")) + " (applied " +
         std::to_string(InfoInt(d1, "replication", "slave_repl_offset")) + ", slave0 " +
         InfoStr(d1, "replication", "slave0") + "), R2 " + std::to_string(InfoInt(r2, "replication", "slave_repl_offset"));
}

void Writes(Client& p, const Families& f, const std::string& tag) {
  FillDb(p, f, 0, 200, tag);
  FillDb(p, f, 2, 100, tag);
  p.Pipeline({{"MULTI"}, {"SET", tag + ":m1", "a"}, {"INCR", tag + ":m2"}, {"EXPIRE", tag + ":m1", "900"}, {"EXEC"}});
  p.Cmd({"SELECT", "2"});
  p.Cmd({"SETEX", tag + ":db2", "1000", "v"});  // the stream is left in db 2
}

}  // namespace

TEST_CASE("redis -> darter -> redis/darter: one offset space, exact data, partial resync of the sub-replica") {
  StartedServer p = StartRedis(0, {"--repl-diskless-sync-delay", "0"});
  REQUIRE_MESSAGE(p.status.ok, p.status.message);
  StartedServer d1 = StartDarter(0, {"--threads", "2", "--replicaof", "127.0.0.1:" + std::to_string(p.port())});
  REQUIRE_MESSAGE(d1.status.ok, d1.status.message);
  Client pc(p.port()), d1c(d1.port());
  Families f = DetectFamilies(d1c);
  Writes(pc, f, "before");
  REQUIRE(WaitCaughtUp(pc, d1c, 30s));

  // Sub-replicas attach while the stream is in db 2: the full sync tells them so.
  StartedServer r2 = StartRedis(0, {"--replicaof", "127.0.0.1", std::to_string(d1.port())});
  REQUIRE_MESSAGE(r2.status.ok, r2.status.message);
  StartedServer d2 = StartDarter(0, {"--threads", "3", "--repl-multi-flow", "no", "--replicaof",
                                     "127.0.0.1:" + std::to_string(d1.port())});
  REQUIRE_MESSAGE(d2.status.ok, d2.status.message);
  StartedServer d3 = StartDarter(0, {"--threads", "2", "--replicaof", "127.0.0.1:" + std::to_string(d1.port())});
  REQUIRE_MESSAGE(d3.status.ok, d3.status.message);
  Client r2c(r2.port()), d2c(d2.port()), d3c(d3.port());
  REQUIRE(WaitFor([&] { return InfoStr(r2c, "replication", "master_link_status") == "up"; }, 30s));
  pc.Cmd({"SET", "in-db2-after-sync", "x"});  // no SELECT before it: applies to db 2 everywhere
  Writes(pc, f, "after");

  REQUIRE_MESSAGE(OffsetsMeet(pc, d1c, r2c, 30s), Offsets(pc, d1c, r2c));
  CHECK(InfoStr(d1c, "replication", "master_replid") == InfoStr(pc, "replication", "master_replid"));
  // The Darter PSYNC sub-replica is in the same offset space too.
  REQUIRE(WaitFor([&] { return InfoInt(d2c, "replication", "slave_repl_offset") ==
                               InfoInt(pc, "replication", "master_repl_offset"); }, 30s));
  // The multi-flow sub-replica follows D1's journal (its own LSN space): D1 reports
  // what it acknowledged, and that equals the sub-replica's own offset.
  REQUIRE_MESSAGE(FlowsCaughtUp(d1c, d3c, 30s), InfoStr(d3c, "replication", "master_last_error"));
  CHECK(InfoStr(d3c, "replication", "master_sync_protocol") == "multi-flow");
  for (Client* sub : {&r2c, &d2c, &d3c}) CHECK_MESSAGE(Diffs(pc, *sub).empty(), Diffs(pc, *sub));
  CHECK(Format(d2c.Cmd({"SELECT", "2"})) == "+OK");
  CHECK(Format(d2c.Cmd({"GET", "in-db2-after-sync"})) == "\"x\"");

  // WAIT on D1 counts the sub-replicas that have everything D1 applied: R2 and D2 in the
  // proxied offset space, D3 by its flows' LSNs. A fourth never comes: the timeout answers.
  for (Client* c : {&pc, &d1c, &r2c, &d2c, &d3c}) REQUIRE(Format(c->Cmd({"SELECT", "0"})) == "+OK");
  pc.Cmd({"SET", "waited-for", "1"});
  REQUIRE(WaitFor([&] { return Format(d1c.Cmd({"GET", "waited-for"})) == "\"1\""; }, 20s));
  CHECK(d1c.Cmd({"WAIT", "3", "20000"}).integer == 3);
  for (Client* sub : {&r2c, &d2c, &d3c}) CHECK(Format(sub->Cmd({"GET", "waited-for"})) == "\"1\"");
  auto t0 = Clock::now();
  CHECK(d1c.Cmd({"WAIT", "4", "300"}).integer == 3);
  CHECK(Clock::now() - t0 >= 250ms);

  // R2's link cut: it continues by partial resync in the shared offset space.
  long long partial_before = InfoInt(d1c, "stats", "sync_partial_ok", 0);
  long long full_before = InfoInt(d1c, "stats", "sync_full", 0);
  CHECK(d1c.Cmd({"CLIENT", "KILL", "TYPE", "replica"}).integer >= 2);
  Writes(pc, f, "reconnect");
  REQUIRE_MESSAGE(OffsetsMeet(pc, d1c, r2c, 30s), Offsets(pc, d1c, r2c));
  // R2 and D2 (and D3's flows) come back by partial resync; D2 may reconnect after R2 has met.
  CHECK(WaitFor([&] { return InfoInt(d1c, "stats", "sync_partial_ok", 0) >= partial_before + 2; }, 30s));
  CHECK(InfoInt(d1c, "stats", "sync_full", 0) == full_before);
  REQUIRE(FlowsCaughtUp(d1c, d3c, 30s));
  REQUIRE(WaitFor([&] { return InfoInt(d2c, "replication", "slave_repl_offset") ==
                               InfoInt(pc, "replication", "master_repl_offset"); }, 30s));
  for (Client* sub : {&r2c, &d2c, &d3c}) CHECK_MESSAGE(Diffs(pc, *sub).empty(), Diffs(pc, *sub));

  // D1 promoted: a new id, P's id kept as replid2; R2 continues without a full sync and
  // D1's own writes reach it in the same offset space.
  const std::string p_id = InfoStr(pc, "replication", "master_replid");
  const long long at = InfoInt(pc, "replication", "master_repl_offset");
  CHECK(Format(d1c.Cmd({"REPLICAOF", "NO", "ONE"})) == "+OK");
  CHECK(InfoStr(d1c, "replication", "master_replid2") == p_id);
  CHECK(InfoInt(d1c, "replication", "second_repl_offset") == at + 1);
  CHECK(Format(d1c.Cmd({"SET", "promoted", "yes"})) == "+OK");
  REQUIRE(WaitFor([&] { return Format(r2c.Cmd({"GET", "promoted"})) == "\"yes\""; }, 20s));
  CHECK(InfoInt(d1c, "stats", "sync_full", 0) == full_before);
  REQUIRE(WaitFor([&] { return InfoInt(r2c, "replication", "slave_repl_offset") ==
                               InfoInt(d1c, "replication", "master_repl_offset"); }, 20s));
  CHECK(d1c.Cmd({"WAIT", "2", "5000"}).integer >= 2);
}
