// Darter as a primary: stock redis-server replicas and Darter replicas follow
// a Darter primary over PSYNC, under concurrent load (single-key writes, multi-shard
// MSET/DEL/RENAME, expiries), across link cuts during full sync and stable sync; once
// the load stops and offsets meet, every replica holds what the primary holds. A short
// cut heals by partial resync, a cut longer than the backlog by a full one; WAIT counts
// the replicas that acknowledged.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <random>

#include "replication_support.h"

using namespace darter::test;
using namespace darter::test::repl;
using namespace std::chrono_literals;

namespace {

// Keeps writing until stopped (or max_ops / 60 s): single-key writes of several types,
// multi-shard MSET/DEL/RENAME, keys that expire within a second, EXPIRE, INCRBYFLOAT,
// SPOP, LMOVE/RPOPLPUSH/SMOVE on one shard and across shards, MULTI/EXEC blocks and
// EVAL scripts, in dbs 0..2.
class Load {
 public:
  Load(int port, int id, int max_ops = 100000) : port_(port), id_(id), max_ops_(max_ops) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~Load() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  long long ops() const { return ops_.load(); }
  std::string error() {
    std::lock_guard lk(mu_);
    return error_;
  }

 private:
  void Loop() {
    Client c(port_);
    std::mt19937 rng(static_cast<unsigned>(id_ * 7919 + 1));
    auto deadline = Clock::now() + 60s;
    std::string p = "L" + std::to_string(id_) + ":";
    for (int i = 0; i < max_ops_ && !stop_ && Clock::now() < deadline; ++i) {
      auto k = [&](int n) { return p + std::to_string(rng() % n); };
      std::string v = std::to_string(i);
      std::vector<std::vector<std::string>> cmds = {{"SELECT", std::to_string(i % 3)}};
      cmds.push_back({"SET", "s:" + k(500), v});
      cmds.push_back({"INCR", "cnt:" + k(10)});
      cmds.push_back({"MSET", "m:" + k(200), v, "m:" + k(200), v, "m:" + k(200), v});
      cmds.push_back({"SET", "e:" + k(300), v, "PX", std::to_string(20 + rng() % 600)});
      cmds.push_back({"HSET", "h:" + k(20), "f" + std::to_string(rng() % 50), v});
      cmds.push_back({"RPUSH", "l:" + k(20), v});
      cmds.push_back({"SADD", "set:" + k(20), std::to_string(rng() % 100)});
      cmds.push_back({"ZINCRBY", "z:" + k(10), "1.5", "m" + std::to_string(rng() % 40)});
      if (i % 5 == 0) cmds.push_back({"DEL", "s:" + k(500), "m:" + k(200), "m:" + k(200)});
      if (i % 7 == 0) cmds.push_back({"EXPIRE", "s:" + k(500), "1000"});
      if (i % 9 == 0) cmds.push_back({"INCRBYFLOAT", "f:" + k(5), "0.25"});
      if (i % 13 == 0) cmds.push_back({"SPOP", "set:" + k(20)});
      if (i % 17 == 0) cmds.push_back({"RENAME", "m:" + k(200), "r:" + k(50)});
      if (i % 19 == 0) cmds.push_back({"LPOP", "l:" + k(20)});
      // Multi-hop ops on one shard ({tag}) and across shards: journaled once each.
      if (i % 4 == 0) cmds.push_back({"LMOVE", "l:{" + k(20) + "}", "l:" + k(20), "LEFT", "RIGHT"});
      if (i % 6 == 0) cmds.push_back({"LMOVE", "l:" + k(20), "l:" + k(20), "RIGHT", "LEFT"});
      if (i % 8 == 0) cmds.push_back({"RPUSH", "l:{" + p + "}a", v, v});
      if (i % 8 == 4) cmds.push_back({"RPOPLPUSH", "l:{" + p + "}a", "l:{" + p + "}b"});
      if (i % 14 == 0)
        cmds.push_back({"BLMOVE", "l:{" + p + "}b", "l:{" + p + "}a", "LEFT", "RIGHT", "0.01"});
      if (i % 10 == 0) cmds.push_back({"SMOVE", "set:" + k(20), "set:" + k(20), std::to_string(rng() % 100)});
      // Client transactions and scripts: their effects reach the replicas atomically.
      if (i % 11 == 0) {
        cmds.push_back({"MULTI"});
        cmds.push_back({"INCR", "tx:" + k(10)});
        cmds.push_back({"LMOVE", "l:" + k(20), "l:" + k(20), "LEFT", "LEFT"});
        cmds.push_back({"MSET", "m:" + k(200), v, "m:" + k(200), v});
        cmds.push_back({"EXEC"});
      }
      if (i % 12 == 0)
        cmds.push_back({"EVAL", "redis.call('incr', KEYS[1]); redis.call('rpush', KEYS[2], ARGV[1]); return 1", "2",
                        "cnt:" + k(10), "l:" + k(20), v});
      auto replies = c.Pipeline(cmds);
      if (replies.size() != cmds.size() || replies[0].IsIoError()) {
        std::lock_guard lk(mu_);
        error_ = "load " + std::to_string(id_) + " lost its connection at op " + std::to_string(i);
        return;
      }
      for (size_t j = 0; j < replies.size(); ++j) {
        // RENAME of a missing key is expected to fail.
        // A MULTI's EXEC reply holds the per-command results; errors inside are not expected.
        if (replies[j].IsError() && cmds[j][0] != "RENAME") {
          std::lock_guard lk(mu_);
          if (error_.empty()) error_ = "load got " + Format(replies[j]) + " for " + cmds[j][0];
        }
      }
      ops_ = i + 1;
    }
  }

  int port_, id_, max_ops_;
  std::atomic<bool> stop_{false};
  std::atomic<long long> ops_{0};
  std::mutex mu_;
  std::string error_;
  std::thread thread_;
};

// The replica applied everything the primary emitted, and the primary's offset is still.
bool OffsetsMeet(Client& primary, Client& replica, std::chrono::milliseconds timeout) {
  return WaitFor(
      [&] {
        long long want = InfoInt(primary, "replication", "master_repl_offset");
        return InfoStr(replica, "replication", "master_link_status") == "up" &&
               InfoInt(replica, "replication", "slave_repl_offset") == want &&
               InfoInt(primary, "replication", "master_repl_offset") == want;
      },
      timeout);
}

int OnlineReplicas(Client& primary) {
  auto info = Info(primary, "replication");
  int n = 0;
  for (auto& [k, v] : info)
    if (k.rfind("slave", 0) == 0 && k != "slave_read_only" && v.find("state=online") != std::string::npos) ++n;
  return n;
}

std::string ReplicaState(Client& primary) {
  auto info = Info(primary, "replication");
  auto it = info.find("slave0");
  if (it == info.end()) return "";
  size_t s = it->second.find("state=");
  return it->second.substr(s + 6, it->second.find(',', s) - s - 6);
}

// Key by key: the same keys in dbs 0..2, the same types and values, TTLs within 5 s of
// each other (read back to back, so the clocks' drift during the walk does not count).
// DBSIZE counts keys past their deadline that the primary has not deleted yet (its
// DELs are in flight while the walk's reads expire them), so it is awaited, not sampled.
void ExpectSameContent(Client& primary, Client& replica, const std::string& what) {
  auto dbsizes_equal = [&] {
    for (int db = 0; db < 3; ++db) {
      primary.Cmd({"SELECT", std::to_string(db)});
      replica.Cmd({"SELECT", std::to_string(db)});
      if (primary.Cmd({"DBSIZE"}).integer != replica.Cmd({"DBSIZE"}).integer) return false;
    }
    return true;
  };
  std::vector<std::string> diffs;
  for (int db = 0; db < 3; ++db) {
    primary.Cmd({"SELECT", std::to_string(db)});
    replica.Cmd({"SELECT", std::to_string(db)});
    auto a = Strings(primary.Cmd({"KEYS", "*"})), b = Strings(replica.Cmd({"KEYS", "*"}));
    std::set<std::string> sa(a.begin(), a.end()), sb(b.begin(), b.end());
    for (auto& k : sb)
      if (!sa.count(k)) diffs.push_back("db" + std::to_string(db) + " " + k + ": only on the replica");
    for (auto& k : sa) {
      if (!sb.count(k)) {
        diffs.push_back("db" + std::to_string(db) + " " + k + ": missing on the replica");
        continue;
      }
      std::string va = DumpKey(primary, k, 1000000000), vb = DumpKey(replica, k, 1000000000);
      long long ta = primary.Cmd({"PTTL", k}).integer, tb = replica.Cmd({"PTTL", k}).integer;
      if (va != vb) diffs.push_back("db" + std::to_string(db) + " " + k + ": " + va.substr(0, 150) + " | " + vb.substr(0, 150));
      else if (std::llabs(ta - tb) > 5000) diffs.push_back("db" + std::to_string(db) + " " + k + ": pttl " + std::to_string(ta) + " | " + std::to_string(tb));
    }
  }
  primary.Cmd({"SELECT", "0"});
  replica.Cmd({"SELECT", "0"});
  std::string text;
  for (size_t i = 0; i < diffs.size() && i < 20; ++i) text += diffs[i] + "\n";
  CHECK_MESSAGE(diffs.empty(), what << " differs from the primary in " << diffs.size() << " keys:\n" << text);
  bool same_size = WaitFor(dbsizes_equal, 20s);
  std::string sizes;
  for (int db = 0; db < 3; ++db) {
    primary.Cmd({"SELECT", std::to_string(db)});
    replica.Cmd({"SELECT", std::to_string(db)});
    sizes += " db" + std::to_string(db) + " " + std::to_string(primary.Cmd({"DBSIZE"}).integer) + "/" +
             std::to_string(replica.Cmd({"DBSIZE"}).integer);
  }
  CHECK_MESSAGE(same_size, what << ": DBSIZE (primary/replica) differs:" << sizes);
  primary.Cmd({"SELECT", "0"});
  replica.Cmd({"SELECT", "0"});
}

}  // namespace

TEST_CASE("redis-server and Darter replicas follow a Darter primary under load, across link cuts") {
  StartedServer primary = StartDarter(0, {"--threads", "3", "--loglevel", "verbose", "--repl-ping-replica-period", "1"});
  REQUIRE_MESSAGE(primary.status.ok, primary.status.message);
  Client p(primary.port());
  // Something for the first full sync to carry (DEBUG POPULATE is not replicated, as in
  // Redis, but it is in the snapshot).
  REQUIRE(Format(p.Cmd({"DEBUG", "POPULATE", "20000", "pop", "64"})) == "+OK");

  std::vector<std::unique_ptr<Load>> loads;
  for (int i = 0; i < 3; ++i) loads.push_back(std::make_unique<Load>(primary.port(), i));
  WaitFor([&] { return loads[0]->ops() > 200; }, 10s);

  // Attached during the load: one stock Redis, two Darters with other thread counts.
  StartedServer redis = StartRedis(0, {"--replicaof", "127.0.0.1", std::to_string(primary.port())});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "2", "--replicaof", "127.0.0.1:" + std::to_string(primary.port())});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  StartedServer darter1 =
      StartDarter(0, {"--threads", "1", "--replicaof", "127.0.0.1:" + std::to_string(primary.port())});
  REQUIRE_MESSAGE(darter1.status.ok, darter1.status.message);
  Client r(redis.port()), d(darter.port()), d1(darter1.port());

  // Cut during the full sync (or as soon after it as we see it).
  REQUIRE(WaitFor([&] { return InfoInt(p, "replication", "connected_slaves") >= 1; }, 20s));
  std::string state_at_cut = ReplicaState(p);
  const bool cuts = getenv("NO_CUTS") == nullptr;
  long long killed = cuts ? p.Cmd({"CLIENT", "KILL", "TYPE", "replica"}).integer : 0;
  MESSAGE("first cut: " << killed << " replica link(s), slave0 state " << state_at_cut);

  // Both come back; cut again in stable sync.
  REQUIRE_MESSAGE(WaitFor([&] { return OnlineReplicas(p) == 3; }, 30s), primary.process->LogTail());
  REQUIRE(WaitFor([&] { return InfoStr(r, "replication", "master_link_status") == "up"; }, 30s));
  // The Darter replicas follow over one link per primary shard (multi-flow), in stable
  // sync, and the load runs on a while before the cut.
  for (Client* c : {&d, &d1}) {
    CHECK(WaitFor([&] { return InfoStr(*c, "replication", "master_link_state") == "stable_sync"; }, 30s));
    CHECK(InfoStr(*c, "replication", "master_sync_protocol") == "multi-flow");
    CHECK(InfoStr(*c, "replication", "master_flows") == "3");
  }
  const long long ops_at_sync = loads[0]->ops();
  WaitFor([&] { return loads[0]->ops() > ops_at_sync + 50; }, 10s);
  long long partial_before = InfoInt(p, "stats", "sync_partial_ok");
  long long d_partial_before = InfoInt(d, "stats", "replica_partial_syncs");
  long long d1_partial_before = InfoInt(d1, "stats", "replica_partial_syncs");
  // One link for redis-server, three flows for each Darter replica; closing one flow ends
  // its session, whose other flows may close before the kill reaches them: 3 to 7.
  if (cuts) {
    long long links = p.Cmd({"CLIENT", "KILL", "TYPE", "slave"}).integer;
    CHECK_MESSAGE((links >= 3 && links <= 7), "killed " << links << " links\n" << primary.process->LogTail());
  }
  REQUIRE_MESSAGE(WaitFor([&] { return OnlineReplicas(p) == 3; }, 30s), primary.process->LogTail());
  // More load after the reconnects, then stop it.
  const long long ops_at_reconnect = loads[0]->ops();
  WaitFor([&] { return loads[0]->ops() > ops_at_reconnect + 50; }, 10s);

  for (auto& l : loads) l->Stop();
  for (auto& l : loads) CHECK_MESSAGE(l->error().empty(), l->error());
  long long ops = 0;
  for (auto& l : loads) ops += l->ops();
  MESSAGE("load: " << ops << " pipelines of ~10 commands; sync_full " << InfoInt(p, "stats", "sync_full")
                   << ", sync_partial_ok " << InfoInt(p, "stats", "sync_partial_ok"));
  // Stable-sync cuts of the three replicas were short: at least one healed by a partial sync.
  if (cuts) CHECK(InfoInt(p, "stats", "sync_partial_ok") > partial_before);
  // Each Darter replica resumed every flow from its own LSN: a partial sync, no new full one.
  if (cuts) {
    CHECK(InfoInt(d, "stats", "replica_partial_syncs") > d_partial_before);
    CHECK(InfoInt(d1, "stats", "replica_partial_syncs") > d1_partial_before);
  }

  // Let every short TTL pass; the primary's expiry sends DELs.
  std::this_thread::sleep_for(1500ms);
  p.Cmd({"SET", "final", "1"});
  CHECK(p.Cmd({"WAIT", "3", "10000"}).integer == 3);
  REQUIRE_MESSAGE(OffsetsMeet(p, r, 30s), "redis replica did not catch up\n" << redis.process->LogTail());
  REQUIRE_MESSAGE(FlowsCaughtUp(p, d, 30s), "darter replica did not catch up\n" << darter.process->LogTail());
  REQUIRE_MESSAGE(FlowsCaughtUp(p, d1, 30s), "second darter replica did not catch up\n" << darter1.process->LogTail());
  ExpectSameContent(p, r, "the redis-server replica");
  ExpectSameContent(p, d, "the Darter replica");
  ExpectSameContent(p, d1, "the one-thread Darter replica");
  // Redis's DEBUG DIGEST (every key, value and deadline of every db): the same on all.
  std::string digest = Format(p.Cmd({"DEBUG", "DIGEST"}));
  CHECK(WaitFor([&] { return Format(r.Cmd({"DEBUG", "DIGEST"})) == digest; }, 10s));
  CHECK(WaitFor([&] { return Format(d.Cmd({"DEBUG", "DIGEST"})) == digest; }, 10s));
  CHECK(WaitFor([&] { return Format(d1.Cmd({"DEBUG", "DIGEST"})) == digest; }, 10s));
  MESSAGE("DEBUG DIGEST on all four: " << digest);

  // ROLE lists all three, with their acknowledged offsets.
  Reply role = p.Cmd({"ROLE"});
  REQUIRE(role.elements.size() == 3);
  CHECK(role.elements[0].str == "master");
  CHECK(role.elements[2].elements.size() == 3);
}

TEST_CASE("a short cut heals by partial resync, one longer than the backlog by a full sync") {
  StartedServer primary = StartDarter(0, {"--threads", "2", "--repl-backlog-size", "65536"});
  REQUIRE_MESSAGE(primary.status.ok, primary.status.message);
  Client p(primary.port());
  for (int i = 0; i < 100; ++i) p.Cmd({"SET", "k" + std::to_string(i), std::to_string(i)});
  StartedServer redis = StartRedis(0, {"--replicaof", "127.0.0.1", std::to_string(primary.port())});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  Client r(redis.port());
  REQUIRE(WaitFor([&] { return OnlineReplicas(p) == 1; }, 20s));
  CHECK(InfoInt(p, "stats", "sync_full") == 1);
  CHECK(InfoStr(p, "replication", "repl_backlog_active") == "1");

  // Short: a few writes while the link is down.
  CHECK(p.Cmd({"CLIENT", "KILL", "TYPE", "replica"}).integer == 1);
  for (int i = 0; i < 50; ++i) p.Cmd({"SET", "short" + std::to_string(i), "v"});
  REQUIRE(WaitFor([&] { return InfoInt(p, "stats", "sync_partial_ok") == 1 && OnlineReplicas(p) == 1; }, 20s));
  CHECK(InfoInt(p, "stats", "sync_full") == 1);
  REQUIRE(OffsetsMeet(p, r, 20s));
  CHECK(r.Cmd({"GET", "short49"}).str == "v");

  // Long: the replica is held (DEBUG SLEEP) while its link is cut and more than the
  // backlog holds is written, so it cannot come back in time.
  std::thread sleeper([&] {
    Client s(redis.port());
    s.Cmd({"DEBUG", "SLEEP", "1.5"});
  });
  std::this_thread::sleep_for(200ms);
  CHECK(p.Cmd({"CLIENT", "KILL", "TYPE", "replica"}).integer == 1);
  std::vector<std::vector<std::string>> burst;
  for (int i = 0; i < 2000; ++i) burst.push_back({"SET", "long" + std::to_string(i), std::string(100, 'x')});
  p.Pipeline(burst);
  sleeper.join();
  REQUIRE(WaitFor([&] { return InfoInt(p, "stats", "sync_full") == 2 && OnlineReplicas(p) == 1; }, 20s));
  CHECK(InfoInt(p, "stats", "sync_partial_err") >= 1);
  REQUIRE(OffsetsMeet(p, r, 20s));
  CHECK(r.Cmd({"DBSIZE"}).integer == p.Cmd({"DBSIZE"}).integer);
  CHECK(r.Cmd({"GET", "long1999"}).str == std::string(100, 'x'));
}

TEST_CASE("WAIT counts replicas that acknowledged; INFO lists them") {
  StartedServer primary = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(primary.status.ok, primary.status.message);
  Client p(primary.port());
  // No replica: WAIT 0 answers at once, WAIT 1 after its timeout, both 0.
  CHECK(p.Cmd({"WAIT", "0", "0"}).integer == 0);
  CHECK(p.Cmd({"WAIT", "1", "50"}).integer == 0);
  CHECK(Format(p.Cmd({"WAIT", "1", "-1"})) == "-ERR timeout is negative");
  CHECK(InfoInt(p, "replication", "connected_slaves") == 0);

  StartedServer redis = StartRedis(0, {"--replicaof", "127.0.0.1", std::to_string(primary.port())});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "3", "--replicaof", "127.0.0.1:" + std::to_string(primary.port())});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  REQUIRE(WaitFor([&] { return OnlineReplicas(p) == 2; }, 20s));
  p.Cmd({"MSET", "a", "1", "b", "2", "c", "3", "d", "4"});
  CHECK(p.Cmd({"WAIT", "2", "10000"}).integer == 2);
  CHECK(p.Cmd({"WAIT", "3", "100"}).integer == 2);
  Client r(redis.port()), d(darter.port());
  CHECK(r.Cmd({"GET", "d"}).str == "4");
  CHECK(d.Cmd({"GET", "d"}).str == "4");

  auto info = Info(p, "replication");
  CHECK(info["role"] == "master");
  CHECK(info["connected_slaves"] == "2");
  CHECK(info["slave0"].find("state=online") != std::string::npos);
  CHECK(info["slave0"].find("ip=127.0.0.1,port=") == 0);
  // The replicas' links are clients of type replica (flags=S): redis-server's one, and
  // one flow per primary shard (2) for the Darter replica.
  std::string replicas = p.Cmd({"CLIENT", "LIST", "TYPE", "replica"}).str;
  CHECK(std::count(replicas.begin(), replicas.end(), '\n') == 3);
  CHECK(replicas.find("flags=S") != std::string::npos);
  CHECK(p.Cmd({"CLIENT", "LIST", "TYPE", "normal"}).str.find("flags=S") == std::string::npos);
  // WAIT on a Darter replica without replicas of its own: none to count, the timeout answers.
  CHECK(d.Cmd({"WAIT", "0", "0"}).integer == 0);
  CHECK(d.Cmd({"WAIT", "1", "100"}).integer == 0);
  // A replica of the replica (chained): the middle Darter serves its own stream.
  StartedServer leaf = StartRedis(0, {"--replicaof", "127.0.0.1", std::to_string(darter.port())});
  REQUIRE_MESSAGE(leaf.status.ok, leaf.status.message);
  Client l(leaf.port());
  REQUIRE(WaitFor([&] { return InfoStr(l, "replication", "master_link_status") == "up"; }, 20s));
  p.Cmd({"SET", "chained", "yes"});
  CHECK(WaitFor([&] { return l.Cmd({"GET", "chained"}).str == "yes"; }, 10s));
  CHECK(WaitFor([&] { return l.Cmd({"DBSIZE"}).integer == p.Cmd({"DBSIZE"}).integer; }, 10s));
  // The middle replica's WAIT counts the leaf once it acknowledged what the middle applied.
  CHECK(d.Cmd({"WAIT", "1", "10000"}).integer == 1);
}

TEST_CASE("a full sync is staged in an unlinked file in --dir, or in memory when --dir cannot take it") {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("darter-fullsync-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  StartedServer primary = StartDarter(0, {"--threads", "2", "--dir", dir.string()});
  REQUIRE_MESSAGE(primary.status.ok, primary.status.message);
  Client p(primary.port());
  REQUIRE(Format(p.Cmd({"DEBUG", "POPULATE", "20000"})) == "+OK");
  // Via disk: nothing is left in --dir once the replica is in sync.
  StartedServer r1 = StartRedis(0, {"--replicaof", "127.0.0.1", std::to_string(primary.port())});
  REQUIRE_MESSAGE(r1.status.ok, r1.status.message);
  Client c1(r1.port());
  REQUIRE(WaitFor([&] { return c1.Cmd({"DBSIZE"}).integer == 20000; }, 20s));
  CHECK(primary.process->LogTail().find("via disk") != std::string::npos);
  CHECK(fs::is_empty(dir));
  // --dir gone: the next full sync is built in memory and still arrives whole.
  fs::remove_all(dir);
  p.Cmd({"SET", "after", "1"});
  StartedServer r2 = StartRedis(0, {"--replicaof", "127.0.0.1", std::to_string(primary.port())});
  REQUIRE_MESSAGE(r2.status.ok, r2.status.message);
  Client c2(r2.port());
  REQUIRE(WaitFor([&] { return c2.Cmd({"DBSIZE"}).integer == 20001; }, 20s));
  CHECK(primary.process->LogTail().find("in memory") != std::string::npos);
}
