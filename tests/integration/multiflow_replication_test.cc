// Darter-to-Darter multi-flow replication (lib/server/repl/repl_flow_master.h,
// lib/server/repl/replica_flows.cc): a Darter replica of a Darter primary follows over one
// flow per primary shard and merges the flows at transaction barriers. These tests check
// what that design promises beyond "the data arrives":
//   - a multi-shard transaction (MSET, MULTI/EXEC) is applied whole on the replica: a
//     reader of the replica never sees half of it;
//   - the flow compression the replica asks for is the one used, and the data is intact;
//   - FLUSHDB / SWAPDB / FLUSHALL (every-shard commands) keep their order with the
//     per-shard writes around them;
//   - a short cut resumes every flow from its LSN (partial), one longer than a shard's
//     journal ring falls back to a full sync;
//   - chains (Darter -> Darter -> Darter), promotion (REPLICAOF NO ONE) and re-pointing
//     the middle server at another primary;
//   - WAIT / ROLE / INFO with multi-flow replicas, and the PSYNC fallback.
// "Caught up" for a multi-flow replica: its slave_repl_offset (the sum of the LSNs it
// applied) equals the sum of its upstream's DARTER REPLICAOFFSET, and that sum is still.
#include <doctest/doctest.h>

#include <signal.h>

#include "replication_support.h"

using namespace darter::test;
using namespace darter::test::repl;
using namespace std::chrono_literals;

namespace {

// The primary shard a key lives on, seen from outside: the one shard whose journal LSN a
// SET of it advances (-1 when not exactly one moved: other traffic, or no journal yet).
// Needs a quiet primary with a replica attached (the journal runs only then).
int ShardByLsn(Client& primary, const std::string& key) {
  Reply before = primary.Cmd({"DARTER", "REPLICAOFFSET"});
  primary.Cmd({"SET", key, "probe"});
  Reply after = primary.Cmd({"DARTER", "REPLICAOFFSET"});
  int shard = -1;
  if (before.elements.size() != after.elements.size()) return -1;
  for (size_t i = 0; i < after.elements.size(); ++i) {
    if (after.elements[i].integer == before.elements[i].integer) continue;
    if (shard != -1) return -1;
    shard = static_cast<int>(i);
  }
  return shard;
}

std::string Digest(Client& c) { return Format(c.Cmd({"DEBUG", "DIGEST"})); }

// The replica's digest becomes (and stays, at the moment of the check) the upstream's.
bool SameDigest(Client& upstream, Client& replica) {
  return WaitFor([&] { return Digest(replica) == Digest(upstream); }, 10s);
}

StartedServer StartReplica(int threads, int primary_port, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--threads", std::to_string(threads), "--replicaof",
                                   "127.0.0.1:" + std::to_string(primary_port)};
  args.insert(args.end(), extra.begin(), extra.end());
  return StartDarter(0, args);
}

bool Stable(Client& replica, std::chrono::milliseconds timeout = 30s) {
  return WaitFor(
      [&] {
        return InfoStr(replica, "replication", "master_link_status") == "up" &&
               InfoStr(replica, "replication", "master_link_state") == "stable_sync";
      },
      timeout);
}

int OnlineReplicas(Client& primary) {
  int n = 0;
  for (auto& [k, v] : Info(primary, "replication"))
    if (k.rfind("slave", 0) == 0 && k != "slave_read_only" && v.find("state=online") != std::string::npos) ++n;
  return n;
}

std::string LogOf(const StartedServer& s) { return s.process ? s.process->LogTail(3000) : std::string(); }

// What a failed catch-up or digest check needs to be diagnosed: each side's offsets.
std::string Offsets(Client& upstream, Client& replica) {
  std::string s = "upstream LSNs:";
  for (auto& e : upstream.Cmd({"DARTER", "REPLICAOFFSET"}).elements) s += " " + std::to_string(e.integer);
  for (const char* f : {"slave_repl_offset", "slave_read_repl_offset", "master_link_state", "master_last_error"})
    s += std::string("; replica ") + f + "=" + InfoStr(replica, "replication", f);
  return s;
}

// The "after<i>" keys written after the sync whose value differs on the replica.
std::string DifferingAfterKeys(Client& upstream, Client& replica) {
  std::string s = "differing keys:";
  for (int i = 0; i < 200; ++i) {
    std::string key = "after" + std::to_string(i);
    Reply a = upstream.Cmd({"GET", key}), b = replica.Cmd({"GET", key});
    if (a.type != b.type || a.str != b.str) s += " " + key;
  }
  s += "; dbsize " + std::to_string(upstream.Cmd({"DBSIZE"}).integer) + " vs " +
       std::to_string(replica.Cmd({"DBSIZE"}).integer);
  return s;
}

}  // namespace

TEST_CASE("multi-shard transactions are applied whole on a multi-flow replica") {
  StartedServer primary = StartDarter(0, {"--threads", "4"});
  REQUIRE_MESSAGE(primary.status.ok, primary.status.message);
  StartedServer replica = StartReplica(2, primary.port());
  REQUIRE_MESSAGE(replica.status.ok, replica.status.message);
  Client p(primary.port()), r(replica.port());
  REQUIRE_MESSAGE(Stable(r), LogOf(replica));
  CHECK(InfoStr(r, "replication", "master_sync_protocol") == "multi-flow");
  CHECK(InfoStr(r, "replication", "master_flows") == "4");

  // Pairs of keys without hash tags, placed by probing the primary's journal LSNs (its
  // shards hash with a per-process seed, and so do the replica's):
  //   "pair" keys, set together by MSET: pairs on two primary shards (a multi-shard
  //   transaction) where the probes find them, the first eight candidates otherwise;
  //   "cnt" keys, INCRed together in MULTI/EXEC: two pairs on two primary shards, six on one
  //   (a one-shard transaction on the primary whose keys the replica, sharding by its own
  //   seed and thread count, may still keep on two of its shards).
  constexpr int kPairs = 8;
  using Pair = std::pair<std::string, std::string>;
  std::vector<Pair> pairs, cnts;
  int cross_pairs = 0, same_cnts = 0;
  for (int i = 0; i < kPairs; ++i) {
    std::string a = "pair" + std::to_string(i) + ":a";
    const int sa = ShardByLsn(p, a);
    REQUIRE(sa >= 0);
    std::string b;
    for (int j = 0; j < 32 && b.empty(); ++j) {
      std::string cand = "pair" + std::to_string(i) + ":b" + std::to_string(j);
      if (ShardByLsn(p, cand) != sa) b = cand;
    }
    if (b.empty()) b = "pair" + std::to_string(i) + ":b0";
    else ++cross_pairs;
    pairs.emplace_back(a, b);

    const bool want_same = i % 4 != 0;
    a = "cnt" + std::to_string(i) + ":a";
    const int ca = ShardByLsn(p, a);
    REQUIRE(ca >= 0);
    b.clear();
    for (int j = 0; j < 64 && b.empty(); ++j) {
      std::string cand = "cnt" + std::to_string(i) + ":b" + std::to_string(j);
      if ((ShardByLsn(p, cand) == ca) == want_same) b = cand;
    }
    REQUIRE_MESSAGE(!b.empty(), "no key found on the wanted shard for " << a);
    if (want_same) ++same_cnts;
    cnts.emplace_back(a, b);
  }
  MESSAGE(cross_pairs << " of " << kPairs << " MSET pairs span two primary shards; " << same_cnts << " of " << kPairs
                      << " MULTI pairs share one");
  REQUIRE(cross_pairs >= kPairs / 2);
  for (int i = 0; i < kPairs; ++i)
    p.Cmd({"MSET", pairs[i].first, "0", pairs[i].second, "0", cnts[i].first, "0", cnts[i].second, "0"});

  std::atomic<bool> stop{false};
  std::atomic<long long> writes{0};
  std::string writer_error;
  std::thread writer([&] {
    Client w(primary.port());
    auto deadline = Clock::now() + 20s;
    for (long long n = 1; !stop.load() && Clock::now() < deadline; ++n) {
      std::vector<std::vector<std::string>> cmds;
      const std::string v = std::to_string(n);
      const Pair& pr = pairs[n % kPairs];
      cmds.push_back({"MSET", pr.first, v, pr.second, v});
      if (n % 5 == 0) {  // every pair in one transaction spanning every shard
        std::vector<std::string> all = {"MSET"};
        for (auto& [a, b] : pairs) all.insert(all.end(), {a, v, b, v});
        cmds.push_back(all);
      }
      const Pair& c = cnts[(n * 3) % kPairs];
      cmds.push_back({"MULTI"});
      cmds.push_back({"INCR", c.first});
      // Half the blocks also write a key elsewhere (most often another shard).
      if (n % 2 == 0) cmds.push_back({"SET", "noise:tx:" + std::to_string(n % 100), v});
      cmds.push_back({"INCR", c.second});
      cmds.push_back({"EXEC"});
      cmds.push_back({"SET", "noise:" + std::to_string(n % 1000), v});
      cmds.push_back({"INCR", "noise:counter"});
      auto replies = w.Pipeline(cmds);
      for (auto& rep : replies)
        if (rep.IsError() || rep.IsIoError()) {
          writer_error = "writer got " + Format(rep);
          return;
        }
      writes.store(n);
    }
  });

  std::atomic<long long> checked{0}, torn{0};
  std::string first_torn;
  std::thread reader([&] {
    Client c(replica.port());
    std::vector<std::string> mget = {"MGET"};
    for (int i = 0; i < kPairs; ++i)
      for (const Pair* pr : {&pairs[i], &cnts[i]}) mget.insert(mget.end(), {pr->first, pr->second});
    auto deadline = Clock::now() + 20s;
    while (!stop.load() && Clock::now() < deadline) {
      // One MGET of every pair, and one MGET per pair.
      Reply all = c.Cmd(mget);
      std::vector<std::vector<std::string>> cmds;
      for (int i = 0; i < kPairs; ++i)
        for (const Pair* pr : {&pairs[i], &cnts[i]}) cmds.push_back({"MGET", pr->first, pr->second});
      std::vector<Reply> singles = c.Pipeline(cmds);
      auto check = [&](const Reply& rep, size_t at) {
        if (rep.elements.size() < at + 2) return;
        ++checked;
        if (Format(rep.elements[at]) != Format(rep.elements[at + 1])) {
          if (torn++ == 0) first_torn = Format(rep);
        }
      };
      if (all.IsIoError()) return;
      for (size_t at = 0; at + 1 < all.elements.size(); at += 2) check(all, at);
      for (auto& s : singles) check(s, 0);
    }
  });

  std::this_thread::sleep_for(3s);
  stop = true;
  writer.join();
  reader.join();
  CHECK_MESSAGE(writer_error.empty(), writer_error);
  MESSAGE("writer: " << writes.load() << " rounds; reader: " << checked.load() << " pair reads on the replica, "
                     << torn.load() << " torn");
  CHECK(writes.load() > 0);
  CHECK(checked.load() > 0);
  CHECK_MESSAGE(torn.load() == 0, "first torn MGET (a, b of pair0, cnt0, pair1, ...): " << first_torn);

  REQUIRE_MESSAGE(FlowsCaughtUp(p, r, 30s), LogOf(replica));
  CHECK(SameDigest(p, r));
  for (int i = 0; i < kPairs; ++i) {
    CHECK(r.Cmd({"GET", pairs[i].second}).str == p.Cmd({"GET", pairs[i].second}).str);
    CHECK(r.Cmd({"GET", cnts[i].second}).str == p.Cmd({"GET", cnts[i].second}).str);
  }
}

TEST_CASE("the flow compression a replica asks for is used, and the full sync is intact") {
  StartedServer primary = StartDarter(0, {"--threads", "3"});
  REQUIRE_MESSAGE(primary.status.ok, primary.status.message);
  Client p(primary.port());
  REQUIRE(Format(p.Cmd({"DEBUG", "POPULATE", "50000", "pop", "100"})) == "+OK");
  p.Cmd({"HSET", "h", "f", "v"});
  p.Cmd({"RPUSH", "l", "a", "b", "c"});
  const std::string digest = Digest(p);

  struct Case {
    std::string flag, expect;
    int threads;
  };
  std::vector<Case> cases = {{"lz4", "lz4", 2}, {"zstd", "zstd", 2}, {"none", "none", 1}, {"", "none", 1}};
  std::vector<StartedServer> replicas;
  for (auto& c : cases) {
    std::vector<std::string> extra;
    if (!c.flag.empty()) extra = {"--repl-flow-compression", c.flag};
    replicas.push_back(StartReplica(c.threads, primary.port(), extra));
    REQUIRE_MESSAGE(replicas.back().status.ok, replicas.back().status.message);
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    CAPTURE(cases[i].flag);
    Client r(replicas[i].port());
    REQUIRE_MESSAGE(Stable(r), LogOf(replicas[i]));
    CHECK(InfoStr(r, "replication", "master_sync_protocol") == "multi-flow");
    CHECK(InfoStr(r, "replication", "master_flows") == "3");
    CHECK(InfoStr(r, "replication", "master_flow_compression") == cases[i].expect);
    CHECK(InfoInt(r, "stats", "replica_full_syncs") >= 1);
    CHECK(r.Cmd({"DBSIZE"}).integer == p.Cmd({"DBSIZE"}).integer);
    CHECK(SameDigest(p, r));
  }
  CHECK(Digest(p) == digest);
  // The primary names the compression of each full sync in its log (notice level).
  std::string log = primary.process->LogTail(256 * 1024);
  CHECK_MESSAGE(log.find("(lz4)") != std::string::npos, log.substr(log.size() > 2000 ? log.size() - 2000 : 0));
  CHECK(log.find("(zstd)") != std::string::npos);
  CHECK(log.find("(none)") != std::string::npos);

  // Writes after the sync still arrive over compressed flows.
  for (int i = 0; i < 200; ++i) p.Cmd({"SET", "after" + std::to_string(i), std::string(300, 'a' + i % 26)});
  for (size_t i = 0; i < cases.size(); ++i) {
    CAPTURE(cases[i].flag);
    Client r(replicas[i].port());
    CHECK_MESSAGE(FlowsCaughtUp(p, r, 30s), Offsets(p, r) << "\n" << LogOf(replicas[i]));
    CHECK_MESSAGE(SameDigest(p, r), Offsets(p, r) << "\n" << DifferingAfterKeys(p, r) << "\n" << LogOf(replicas[i]));
  }
}

TEST_CASE("FLUSHDB, SWAPDB and FLUSHALL keep their order with the writes around them") {
  StartedServer primary = StartDarter(0, {"--threads", "3"});
  REQUIRE_MESSAGE(primary.status.ok, primary.status.message);
  StartedServer replica = StartReplica(2, primary.port());
  REQUIRE_MESSAGE(replica.status.ok, replica.status.message);
  Client p(primary.port()), r(replica.port());
  REQUIRE_MESSAGE(Stable(r), LogOf(replica));

  auto fill = [&](const std::string& prefix, int n) {
    std::vector<std::vector<std::string>> cmds;
    for (int db = 0; db < 3; ++db) {
      cmds.push_back({"SELECT", std::to_string(db)});
      for (int i = 0; i < n; ++i) cmds.push_back({"SET", prefix + ":" + std::to_string(db) + ":" + std::to_string(i), std::to_string(i)});
      cmds.push_back({"RPUSH", prefix + ":list", std::to_string(db)});
    }
    cmds.push_back({"SELECT", "0"});
    for (auto& rep : p.Pipeline(cmds)) REQUIRE_FALSE(rep.IsError());
  };
  auto dbsizes = [](Client& c) {
    std::string s;
    for (int db = 0; db < 3; ++db) {
      c.Cmd({"SELECT", std::to_string(db)});
      s += std::to_string(c.Cmd({"DBSIZE"}).integer) + " ";
    }
    c.Cmd({"SELECT", "0"});
    return s;
  };
  auto compare = [&](const char* step) {
    CAPTURE(step);
    REQUIRE_MESSAGE(FlowsCaughtUp(p, r, 30s), LogOf(replica));
    CHECK(SameDigest(p, r));
    CHECK(dbsizes(r) == dbsizes(p));
  };

  fill("first", 300);
  compare("after the first fill");
  // Pipelined with writes on both sides, so the every-shard commands land between
  // per-shard writes of every flow.
  std::vector<std::vector<std::string>> cmds = {
      {"SELECT", "1"}, {"SET", "one:before", "x"}, {"FLUSHDB"}, {"SET", "one:after", "y"}, {"SELECT", "0"},
      {"SET", "zero:before-swap", "z"}, {"SWAPDB", "0", "2"}, {"SET", "zero:after-swap", "w"},
      {"SELECT", "2"}, {"INCR", "two:counter"}, {"SELECT", "0"}};
  for (auto& rep : p.Pipeline(cmds)) CHECK_FALSE(rep.IsError());
  compare("after FLUSHDB and SWAPDB");
  r.Cmd({"SELECT", "2"});
  CHECK(r.Cmd({"GET", "zero:before-swap"}).str == "z");  // moved to db 2 by the swap
  r.Cmd({"SELECT", "1"});
  CHECK(r.Cmd({"GET", "first:1:5"}).type == Reply::Type::kNil);
  CHECK(r.Cmd({"GET", "one:after"}).str == "y");
  r.Cmd({"SELECT", "0"});

  fill("second", 200);
  cmds = {{"SET", "before-flushall", "1"}, {"FLUSHALL"}, {"SELECT", "1"}, {"SET", "after-flushall", "1"}, {"SELECT", "0"}};
  for (auto& rep : p.Pipeline(cmds)) CHECK_FALSE(rep.IsError());
  fill("third", 100);
  compare("after FLUSHALL and more writes");
  CHECK(dbsizes(r) == "101 102 101 ");
  // FLUSHALL ASYNC and SWAPDB back again.
  p.Cmd({"FLUSHALL", "ASYNC"});
  fill("fourth", 50);
  p.Cmd({"SWAPDB", "2", "1"});
  compare("after FLUSHALL ASYNC and SWAPDB 2 1");
}

TEST_CASE("a short cut resumes every flow (partial), one longer than the journal ring resyncs fully") {
  StartedServer primary = StartDarter(0, {"--threads", "2", "--repl-backlog-size", "65536"});
  REQUIRE_MESSAGE(primary.status.ok, primary.status.message);
  Client p(primary.port());
  for (int i = 0; i < 200; ++i) p.Cmd({"SET", "k" + std::to_string(i), std::to_string(i)});
  StartedServer replica = StartReplica(3, primary.port());
  REQUIRE_MESSAGE(replica.status.ok, replica.status.message);
  Client r(replica.port());
  REQUIRE_MESSAGE(FlowsCaughtUp(p, r, 30s), LogOf(replica));
  CHECK(InfoStr(r, "replication", "master_flows") == "2");
  const long long full0 = InfoInt(r, "stats", "replica_full_syncs");
  const long long partial0 = InfoInt(r, "stats", "replica_partial_syncs");
  CHECK(full0 == 1);

  // Short: a few writes while the links are down.
  CHECK(p.Cmd({"CLIENT", "KILL", "TYPE", "replica"}).integer >= 2);
  for (int i = 0; i < 50; ++i) p.Cmd({"SET", "short" + std::to_string(i), "v"});
  REQUIRE_MESSAGE(WaitFor([&] { return InfoInt(r, "stats", "replica_partial_syncs") > partial0; }, 30s),
                  LogOf(replica));
  REQUIRE_MESSAGE(FlowsCaughtUp(p, r, 30s), LogOf(replica));
  CHECK(InfoInt(r, "stats", "replica_full_syncs") == full0);
  CHECK(r.Cmd({"GET", "short49"}).str == "v");
  CHECK(SameDigest(p, r));
  const long long partial1 = InfoInt(r, "stats", "replica_partial_syncs");

  // Long: the replica is held while its links are cut and far more than 64 KB per shard
  // is written, so its LSNs have left the primary's journal rings when it comes back.
  // Darter's DEBUG SLEEP only delays its own reply (it does not stall the server as
  // Redis's does), so the replica process is stopped instead (SIGSTOP / SIGCONT).
  REQUIRE(kill(replica.process->pid(), SIGSTOP) == 0);
  CHECK(p.Cmd({"CLIENT", "KILL", "TYPE", "replica"}).integer >= 2);
  std::vector<std::vector<std::string>> burst;
  for (int i = 0; i < 6000; ++i) burst.push_back({"SET", "long" + std::to_string(i), std::string(100, 'x')});
  p.Pipeline(burst);
  REQUIRE(kill(replica.process->pid(), SIGCONT) == 0);
  REQUIRE_MESSAGE(WaitFor([&] { return InfoInt(r, "stats", "replica_full_syncs") > full0; }, 30s), LogOf(replica));
  REQUIRE_MESSAGE(FlowsCaughtUp(p, r, 30s), LogOf(replica));
  CHECK(InfoInt(r, "stats", "replica_partial_syncs") == partial1);
  CHECK(r.Cmd({"DBSIZE"}).integer == p.Cmd({"DBSIZE"}).integer);
  CHECK(r.Cmd({"GET", "long5999"}).str == std::string(100, 'x'));
  CHECK(SameDigest(p, r));
  MESSAGE("replica: full syncs " << InfoInt(r, "stats", "replica_full_syncs") << ", partial syncs "
                                 << InfoInt(r, "stats", "replica_partial_syncs"));
}

TEST_CASE("Darter -> Darter -> Darter chain; promoting the middle, then re-pointing it") {
  StartedServer primary = StartDarter(0, {"--threads", "3"});
  REQUIRE_MESSAGE(primary.status.ok, primary.status.message);
  Client p(primary.port());
  for (int i = 0; i < 500; ++i) p.Cmd({"SET", "p:" + std::to_string(i), std::to_string(i)});
  StartedServer mid = StartReplica(2, primary.port());
  REQUIRE_MESSAGE(mid.status.ok, mid.status.message);
  Client a(mid.port());
  REQUIRE_MESSAGE(Stable(a), LogOf(mid));
  StartedServer leaf = StartReplica(1, mid.port());
  REQUIRE_MESSAGE(leaf.status.ok, leaf.status.message);
  Client b(leaf.port());
  REQUIRE_MESSAGE(Stable(b), LogOf(leaf));
  CHECK(InfoStr(a, "replication", "master_flows") == "3");
  CHECK(InfoStr(b, "replication", "master_sync_protocol") == "multi-flow");
  CHECK(InfoStr(b, "replication", "master_flows") == "2");  // the middle server's shards

  std::vector<std::vector<std::string>> cmds;
  for (int i = 0; i < 2000; ++i) {
    cmds.push_back({"SET", "w:" + std::to_string(i), std::to_string(i)});
    if (i % 10 == 0) cmds.push_back({"MSET", "m:a" + std::to_string(i), "1", "m:b" + std::to_string(i), "1"});
    if (i % 50 == 0) cmds.push_back({"HSET", "h", "f" + std::to_string(i), "v"});
  }
  p.Pipeline(cmds);
  REQUIRE_MESSAGE(FlowsCaughtUp(p, a, 30s), LogOf(mid));
  // The leaf acknowledges the middle server's own journal LSNs.
  REQUIRE_MESSAGE(FlowsCaughtUp(a, b, 30s), LogOf(leaf));
  const std::string digest_p = Digest(p);
  CHECK(SameDigest(p, a));
  CHECK(SameDigest(p, b));
  CHECK(b.Cmd({"GET", "w:1999"}).str == "1999");

  // Promotion: the middle server keeps its data and takes writes; the leaf follows them.
  const long long leaf_full0 = InfoInt(b, "stats", "replica_full_syncs");
  CHECK(Format(a.Cmd({"REPLICAOF", "NO", "ONE"})) == "+OK");
  CHECK(InfoStr(a, "replication", "role") == "master");
  CHECK(Digest(a) == digest_p);
  CHECK(Format(a.Cmd({"SET", "promoted", "yes"})) == "+OK");
  CHECK(Format(a.Cmd({"MSET", "pa", "1", "pb", "2", "pc", "3"})) == "+OK");
  REQUIRE_MESSAGE(FlowsCaughtUp(a, b, 30s), LogOf(leaf));
  CHECK(b.Cmd({"GET", "promoted"}).str == "yes");
  CHECK(SameDigest(a, b));
  MESSAGE("leaf after the promotion: full syncs " << InfoInt(b, "stats", "replica_full_syncs") << " (was "
                                                  << leaf_full0 << "), partial "
                                                  << InfoInt(b, "stats", "replica_partial_syncs"));

  // Re-pointing: the middle server replaces its dataset with Q's; the leaf follows by a
  // full sync (the middle server's history started anew).
  StartedServer other = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(other.status.ok, other.status.message);
  Client q(other.port());
  for (int i = 0; i < 300; ++i) q.Cmd({"SET", "q:" + std::to_string(i), "q" + std::to_string(i)});
  q.Cmd({"SELECT", "1"});
  q.Cmd({"SADD", "q:set", "a", "b"});
  q.Cmd({"SELECT", "0"});
  const long long leaf_full1 = InfoInt(b, "stats", "replica_full_syncs");
  CHECK(Format(a.Cmd({"REPLICAOF", "127.0.0.1", std::to_string(other.port())})) == "+OK");
  REQUIRE_MESSAGE(WaitFor([&] { return InfoInt(a, "replication", "master_port") == other.port(); }, 5s), LogOf(mid));
  REQUIRE_MESSAGE(FlowsCaughtUp(q, a, 30s), LogOf(mid));
  CHECK(SameDigest(q, a));
  CHECK(a.Cmd({"DBSIZE"}).integer == 300);
  CHECK(a.Cmd({"EXISTS", "p:1", "promoted", "w:5"}).integer == 0);
  q.Cmd({"SET", "q:late", "1"});
  REQUIRE_MESSAGE(FlowsCaughtUp(q, a, 30s), LogOf(mid));
  REQUIRE_MESSAGE(WaitFor([&] { return InfoInt(b, "stats", "replica_full_syncs") > leaf_full1; }, 30s), LogOf(leaf));
  REQUIRE_MESSAGE(FlowsCaughtUp(a, b, 30s), LogOf(leaf));
  CHECK(SameDigest(q, b));
  CHECK(b.Cmd({"EXISTS", "p:1", "promoted"}).integer == 0);
  CHECK(b.Cmd({"GET", "q:late"}).str == "1");
}

TEST_CASE("WAIT, ROLE and INFO with multi-flow replicas") {
  StartedServer primary = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(primary.status.ok, primary.status.message);
  StartedServer r1 = StartReplica(1, primary.port());
  REQUIRE_MESSAGE(r1.status.ok, r1.status.message);
  StartedServer r2 = StartReplica(3, primary.port());
  REQUIRE_MESSAGE(r2.status.ok, r2.status.message);
  Client p(primary.port()), c1(r1.port()), c2(r2.port());
  REQUIRE(Stable(c1));
  REQUIRE(Stable(c2));
  REQUIRE_MESSAGE(WaitFor([&] { return OnlineReplicas(p) == 2; }, 20s), Info(p, "replication")["slave0"]);
  for (int i = 0; i < 100; ++i) p.Cmd({"SET", "k" + std::to_string(i), std::to_string(i)});
  p.Cmd({"MSET", "x", "1", "y", "2", "z", "3"});
  CHECK(p.Cmd({"WAIT", "2", "5000"}).integer == 2);
  CHECK(p.Cmd({"WAIT", "3", "200"}).integer == 2);
  CHECK(c1.Cmd({"GET", "z"}).str == "3");
  CHECK(c2.Cmd({"GET", "k99"}).str == "99");

  Reply role = p.Cmd({"ROLE"});
  REQUIRE(role.elements.size() == 3);
  CHECK(role.elements[0].str == "master");
  CHECK(role.elements[2].elements.size() == 2);
  auto info = Info(p, "replication");
  CHECK(info["connected_slaves"] == "2");
  CHECK(info["slave0"].find("flows=2") != std::string::npos);
  CHECK(info["slave1"].find("state=online") != std::string::npos);

  for (Client* c : {&c1, &c2}) {
    CHECK(InfoStr(*c, "replication", "master_link_state") == "stable_sync");
    CHECK(InfoStr(*c, "replication", "master_sync_protocol") == "multi-flow");
    Reply rr = c->Cmd({"ROLE"});
    REQUIRE(rr.elements.size() == 5);
    CHECK(rr.elements[0].str == "slave");
    CHECK(rr.elements[2].integer == primary.port());
    CHECK(rr.elements[3].str == "stable_sync");
    CHECK(rr.elements[4].integer >= 0);
  }
  CHECK(FlowsCaughtUp(p, c1, 20s));
  CHECK(FlowsCaughtUp(p, c2, 20s));
  CHECK(SameDigest(p, c1));
  CHECK(SameDigest(p, c2));
}

TEST_CASE("--repl-multi-flow no: a Darter replica follows a Darter primary over PSYNC") {
  StartedServer primary = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(primary.status.ok, primary.status.message);
  Client p(primary.port());
  for (int i = 0; i < 1000; ++i) p.Cmd({"SET", "k" + std::to_string(i), std::to_string(i)});
  StartedServer replica = StartReplica(2, primary.port(), {"--repl-multi-flow", "no"});
  REQUIRE_MESSAGE(replica.status.ok, replica.status.message);
  Client r(replica.port());
  REQUIRE_MESSAGE(WaitFor([&] { return InfoStr(r, "replication", "master_link_status") == "up"; }, 30s),
                  LogOf(replica));
  CHECK(InfoStr(r, "replication", "master_sync_protocol") == "psync");
  CHECK(InfoStr(r, "replication", "master_flows") == "");
  std::vector<std::vector<std::string>> cmds;
  for (int i = 0; i < 1000; ++i) {
    cmds.push_back({"INCR", "counter"});
    if (i % 10 == 0) cmds.push_back({"MSET", "a" + std::to_string(i), "1", "b" + std::to_string(i), "2"});
  }
  p.Pipeline(cmds);
  CHECK(p.Cmd({"WAIT", "1", "5000"}).integer == 1);
  REQUIRE(WaitFor(
      [&] {
        long long want = InfoInt(p, "replication", "master_repl_offset");
        return InfoInt(r, "replication", "slave_repl_offset") == want &&
               InfoInt(p, "replication", "master_repl_offset") == want;
      },
      30s));
  CHECK(r.Cmd({"GET", "counter"}).str == "1000");
  CHECK(SameDigest(p, r));
}
