// darter-server as a replica of Debian's redis-server: every data type Darter has
// registered, with TTLs, in several databases, under a concurrent writer; link cuts
// during the RDB transfer and during streaming (healed by a partial resync);
// REPLICAOF NO ONE and REPLICAOF another primary; a cutover under write load.
#include <doctest/doctest.h>

#include <iostream>

#include "replication_support.h"

using namespace darter::test;
using namespace darter::test::repl;
using namespace std::chrono_literals;

namespace {

const std::vector<int> kDbs = {0, 1, 3};

Families ReportFamilies(Client& darter) {
  Families f = DetectFamilies(darter);
  std::cout << "[replication] data families on darter: " << f.Describe() << std::endl;
  CHECK_MESSAGE(AllFamilies(f), "a data family is missing or does not survive DUMP/RESTORE: " << f.Describe());
  return f;
}

void CheckIdentical(Client& src, Client& dst, const std::vector<int>& dbs) {
  REQUIRE_MESSAGE(WaitCaughtUp(src, dst, 30s), "darter did not catch up: " << InfoStr(dst, "replication", "master_last_error"));
  auto diffs = CompareServers(src, dst, dbs);
  std::string all;
  for (auto& d : diffs) all += d + "\n";
  CHECK_MESSAGE(diffs.empty(), all);
}

}  // namespace

TEST_CASE("every type with TTLs in several DBs replicates exactly while a writer runs") {
  StartedServer redis = StartRedis(0, {"--repl-diskless-sync-delay", "0"});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client src(redis.port()), dst(darter.port());
  Families f = ReportFamilies(dst);
  for (int db : kDbs) FillDb(src, f, db, 2000);

  BackgroundWriter writer(redis.port(), "w", f, 100000, 30s);
  REQUIRE(WaitFor([&] { return writer.acked() > 50; }, 10s));
  CHECK(Format(dst.Cmd({"REPLICAOF", "127.0.0.1", std::to_string(redis.port())})) == "+OK");
  REQUIRE_MESSAGE(WaitFor([&] { return InfoInt(dst, "stats", "replica_full_syncs", 0) >= 1 &&
                                       InfoStr(dst, "replication", "master_link_status") == "up"; },
                          60s),
                  "no full sync: " << InfoStr(dst, "replication", "master_last_error"));
  // Keep writing for a while after the full sync (streaming), then stop.
  long long at_sync = writer.acked();
  REQUIRE(WaitFor([&] { return writer.acked() > at_sync + 300; }, 20s));
  writer.Stop();
  CHECK_MESSAGE(writer.error().empty(), writer.error());
  CheckIdentical(src, dst, kDbs);
  // Writes through a replica are refused.
  Reply ro = dst.Cmd({"SET", "x", "1"});
  CHECK(Format(ro).find("READONLY") != std::string::npos);
}

TEST_CASE("link cut during the RDB transfer and during streaming: darter recovers, partial resync after the stream cut") {
  StartedServer redis = StartRedis(0, {"--repl-diskless-sync-delay", "0", "--repl-backlog-size", "16mb"});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client src(redis.port()), dst(darter.port());
  Families f = ReportFamilies(dst);
  REQUIRE(Format(src.Cmd({"DEBUG", "POPULATE", "20000", "pop", "16"})) == "+OK");
  FillDb(src, f, 1, 300);
  // 200 us per key: the snapshot takes about 4 s, long enough to cut it.
  REQUIRE(Format(src.Cmd({"CONFIG", "SET", "rdb-key-save-delay", "200"})) == "+OK");

  CHECK(Format(dst.Cmd({"REPLICAOF", "127.0.0.1", std::to_string(redis.port())})) == "+OK");
  REQUIRE_MESSAGE(WaitFor([&] { return InfoInt(dst, "replication", "master_sync_in_progress", 0) == 1 &&
                                       InfoInt(dst, "replication", "master_sync_read_bytes", 0) > 0; },
                          20s),
                  "the transfer did not start");
  Reply killed = src.Cmd({"CLIENT", "KILL", "TYPE", "replica"});
  CHECK(killed.integer >= 1);
  std::cout << "[replication] cut the link during the RDB transfer" << std::endl;
  REQUIRE(Format(src.Cmd({"CONFIG", "SET", "rdb-key-save-delay", "0"})) == "+OK");
  REQUIRE_MESSAGE(WaitFor([&] { return InfoInt(dst, "stats", "replica_full_syncs", 0) >= 1 &&
                                       InfoStr(dst, "replication", "master_link_status") == "up"; },
                          60s),
                  "darter did not recover: " << InfoStr(dst, "replication", "master_last_error"));
  CheckIdentical(src, dst, {0, 1});

  // Streaming cut: writes before, a kill, writes after; the gap is in the backlog.
  long long partial_before = InfoInt(src, "stats", "sync_partial_ok", 0);
  long long full_before = InfoInt(src, "stats", "sync_full", 0);
  for (int i = 0; i < 200; ++i) src.Cmd({"SET", "s:" + std::to_string(i), std::to_string(i)});
  REQUIRE(WaitCaughtUp(src, dst, 20s));
  CHECK(src.Cmd({"CLIENT", "KILL", "TYPE", "replica"}).integer >= 1);
  for (int i = 0; i < 200; ++i) src.Cmd({"SET", "after:" + std::to_string(i), std::to_string(i)});
  src.Cmd({"DEL", "s:1", "s:2"});
  REQUIRE_MESSAGE(WaitFor([&] { return InfoInt(src, "stats", "sync_partial_ok", 0) > partial_before &&
                                       InfoStr(dst, "replication", "master_link_status") == "up"; },
                          30s),
                  "no partial resync: source sync_partial_ok " << InfoInt(src, "stats", "sync_partial_ok", 0)
                                                               << ", darter error " << InfoStr(dst, "replication", "master_last_error"));
  CHECK(InfoInt(src, "stats", "sync_full", 0) == full_before);
  CHECK(InfoInt(dst, "stats", "replica_partial_syncs", 0) >= 1);
  CheckIdentical(src, dst, {0, 1});
}

TEST_CASE("REPLICAOF NO ONE keeps the data and accepts writes; REPLICAOF another primary discards it") {
  StartedServer redis1 = StartRedis(0, {"--repl-diskless-sync-delay", "0"});
  REQUIRE_MESSAGE(redis1.status.ok, redis1.status.message);
  StartedServer redis2 = StartRedis(0, {"--repl-diskless-sync-delay", "0"});
  REQUIRE_MESSAGE(redis2.status.ok, redis2.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client a(redis1.port()), b(redis2.port()), dst(darter.port());
  Families f = ReportFamilies(dst);
  FillDb(a, f, 0, 200, "first");
  FillDb(b, f, 2, 100, "second");

  dst.Cmd({"REPLICAOF", "127.0.0.1", std::to_string(redis1.port())});
  REQUIRE(WaitFor([&] { return InfoInt(dst, "stats", "replica_full_syncs", 0) >= 1; }, 30s));
  CheckIdentical(a, dst, {0});
  CHECK(Format(dst.Cmd({"REPLICAOF", "NO", "ONE"})) == "+OK");
  CHECK(InfoStr(dst, "replication", "role") == "master");
  CHECK(Format(dst.Cmd({"SET", "after-promotion", "yes"})) == "+OK");
  CHECK(Format(dst.Cmd({"GET", "first:0:5:str"})) == Format(a.Cmd({"GET", "first:0:5:str"})));
  CHECK(dst.Cmd({"DBSIZE"}).integer == a.Cmd({"DBSIZE"}).integer + 1);

  dst.Cmd({"REPLICAOF", "127.0.0.1", std::to_string(redis2.port())});
  REQUIRE(WaitFor([&] { return InfoInt(dst, "stats", "replica_full_syncs", 0) >= 2 &&
                               InfoStr(dst, "replication", "master_link_status") == "up"; },
                  30s));
  CHECK(dst.Cmd({"EXISTS", "after-promotion"}).integer == 0);
  CHECK(dst.Cmd({"DBSIZE"}).integer == 0);  // db0: redis2 has nothing there
  CheckIdentical(b, dst, {0, 2});
}

TEST_CASE("cutover under a steady write load loses no acknowledged write") {
  StartedServer redis = StartRedis(0, {"--repl-diskless-sync-delay", "0"});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client src(redis.port()), dst(darter.port());
  Families f = DetectFamilies(dst);
  CHECK_MESSAGE(AllFamilies(f), f.Describe());
  FillDb(src, f, 0, 500);
  dst.Cmd({"REPLICAOF", "127.0.0.1", std::to_string(redis.port())});
  REQUIRE(WaitFor([&] { return InfoInt(dst, "stats", "replica_full_syncs", 0) >= 1 &&
                               InfoStr(dst, "replication", "master_link_status") == "up"; },
                  30s));

  BackgroundWriter writer(redis.port(), "cut", f, 1000000, 30s);
  REQUIRE(WaitFor([&] { return writer.acked() > 500; }, 15s));
  // The cutover, step by step.
  auto paused_at = Clock::now();
  REQUIRE(Format(src.Cmd({"CLIENT", "PAUSE", "10000", "WRITE"})) == "+OK");
  long long offset = InfoInt(src, "replication", "master_repl_offset");
  REQUIRE(WaitFor([&] { return InfoInt(dst, "replication", "slave_repl_offset") >= offset; }, 8s));
  CHECK(Format(dst.Cmd({"REPLICAOF", "NO", "ONE"})) == "+OK");
  CHECK(InfoInt(src, "replication", "master_repl_offset") == offset);
  CHECK(Format(src.Cmd({"CLIENT", "UNPAUSE"})) == "+OK");
  REQUIRE(WaitFor([&] { return writer.acked() > 0; }, 1s));
  writer.Stop();
  CHECK_MESSAGE(writer.error().empty(), writer.error());

  // Every write acknowledged before the pause is on the target.
  long long last_before = -1;
  for (auto& [seq, t] : writer.acks())
    if (t < paused_at) last_before = seq;
  REQUIRE(last_before > 0);
  std::vector<std::vector<std::string>> gets;
  for (long long i = 0; i <= last_before; ++i) gets.push_back({"EXISTS", "cut:seq:" + std::to_string(i)});
  // The writer spreads its writes over dbs 0..2 by i % 3.
  long long missing = 0;
  for (int db = 0; db < 3; ++db) {
    dst.Cmd({"SELECT", std::to_string(db)});
    std::vector<std::vector<std::string>> mine;
    for (long long i = db; i <= last_before; i += 3) mine.push_back({"EXISTS", "cut:seq:" + std::to_string(i)});
    for (auto& r : dst.Pipeline(mine)) missing += r.integer == 1 ? 0 : 1;
  }
  CHECK_MESSAGE(missing == 0, missing << " acknowledged writes (of " << last_before + 1 << ") are missing on the target");
  std::cout << "[replication] cutover: " << last_before + 1 << " writes acknowledged before the pause, all on the target"
            << std::endl;
}
