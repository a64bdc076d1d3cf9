// A lagging replica applies its primary's writes to keys whose deadline has passed on
// its own clock, as Redis's replicas do: only the primary's DEL removes such a key.
// The replica is held with SIGSTOP while the primary gives one key a new TTL and writes
// to another that then expires; after SIGCONT the replica must equal the primary (and a
// stock redis-server replica of the same primary, the control).
#include <doctest/doctest.h>
#include <signal.h>

#include <thread>

#include "replication_support.h"

using namespace darter::test;
using namespace darter::test::repl;
using namespace std::chrono_literals;

namespace {

struct Lagged {
  ServerProcess* process;
  Client* client;
};

// Caught up: equal offsets for a PSYNC replica, equal LSNs for a multi-flow one.
bool CaughtUp(Client& primary, Client& replica, bool multi_flow) {
  return multi_flow ? FlowsCaughtUp(primary, replica, 20s) : WaitCaughtUp(primary, replica, 20s);
}

// The reproduction: six keys get a 1.5 s TTL; the replicas are stopped; while the keys
// are still live on the primary, K gets a new TTL and Q a new member (plainly, then MK/MQ
// in MULTI/EXEC, EK/EQ in a script). The replicas stay stopped past the old deadline, so
// they apply these writes to keys already expired on their clock; Q, MQ and EQ then
// expire on the primary, whose DELs follow.
void LagAcrossDeadlines(Client& primary, const std::vector<Lagged>& replicas, bool multi_flow) {
  constexpr auto kTtl = 1500ms;
  const std::string ttl = std::to_string(kTtl.count());
  for (const char* k : {"K", "Q", "MK", "MQ", "EK", "EQ"}) primary.Cmd({"DEL", k});
  primary.Cmd({"ZADD", "K", "1", "a"});
  primary.Cmd({"SADD", "Q", "x"});
  primary.Cmd({"HSET", "MK", "f", "1"});
  primary.Cmd({"RPUSH", "MQ", "x"});
  primary.Cmd({"SET", "EK", "1"});
  primary.Cmd({"SADD", "EQ", "x"});
  for (const char* k : {"K", "Q", "MK", "MQ", "EK", "EQ"}) primary.Cmd({"PEXPIRE", k, ttl});
  auto deadline = std::chrono::steady_clock::now() + kTtl;
  for (const Lagged& r : replicas) REQUIRE(CaughtUp(primary, *r.client, multi_flow));
  for (const Lagged& r : replicas) REQUIRE(kill(r.process->pid(), SIGSTOP) == 0);

  // The keys must still be live on the primary for the case to mean anything.
  REQUIRE(Format(primary.Cmd({"PEXPIRE", "K", "100000"})) == ":1");
  REQUIRE(Format(primary.Cmd({"SADD", "Q", "y"})) == ":1");
  primary.Cmd({"MULTI"});
  primary.Cmd({"PEXPIRE", "MK", "100000"});
  primary.Cmd({"RPUSH", "MQ", "y"});
  REQUIRE(Format(primary.Cmd({"EXEC"})) == "[:1, :2]");
  REQUIRE(Format(primary.Cmd({"EVAL", "redis.call('pexpire', KEYS[1], 100000) return redis.call('sadd', KEYS[2], 'y')",
                              "2", "EK", "EQ"})) == ":1");
  REQUIRE(std::chrono::steady_clock::now() < deadline);
  std::this_thread::sleep_until(deadline + 500ms);  // past the old deadlines, on every clock
  for (const Lagged& r : replicas) REQUIRE(kill(r.process->pid(), SIGCONT) == 0);

  REQUIRE(WaitFor([&] { return Format(primary.Cmd({"DBSIZE"})) == ":3"; }, 5s));
  CHECK(primary.Cmd({"PTTL", "K"}).integer > 90000);
  for (const Lagged& r : replicas) {
    REQUIRE(CaughtUp(primary, *r.client, multi_flow));
    Client& c = *r.client;
    CHECK(Format(c.Cmd({"DBSIZE"})) == ":3");
    CHECK(c.Cmd({"PTTL", "K"}).integer > 90000);
    CHECK(c.Cmd({"PTTL", "MK"}).integer > 90000);
    CHECK(c.Cmd({"PTTL", "EK"}).integer > 90000);
    CHECK(Format(c.Cmd({"ZSCORE", "K", "a"})) == "\"1\"");
    for (const char* gone : {"Q", "MQ", "EQ"}) CHECK(c.Cmd({"EXISTS", gone}).integer == 0);
    CHECK(CompareServers(primary, c, {0}).empty());
  }
}

}  // namespace

TEST_CASE("a lagging Darter replica of redis-server applies writes to keys past their deadline") {
  StartedServer redis = StartRedis();
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  const std::string primary_at = "127.0.0.1:" + std::to_string(redis.port());
  StartedServer darter = StartDarter(0, {"--threads", "2", "--replicaof", primary_at});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  StartedServer control = StartRedis(0, {"--replicaof", "127.0.0.1", std::to_string(redis.port())});
  REQUIRE_MESSAGE(control.status.ok, control.status.message);
  Client p(redis.port()), d(darter.port()), r(control.port());
  REQUIRE(WaitCaughtUp(p, d, 20s));
  REQUIRE(WaitCaughtUp(p, r, 20s));
  LagAcrossDeadlines(p, {{darter.process.get(), &d}, {control.process.get(), &r}}, false);
}

TEST_CASE("a lagging Darter replica of a Darter primary applies writes to keys past their deadline") {
  StartedServer primary = StartDarter(0, {"--threads", "3"});
  REQUIRE_MESSAGE(primary.status.ok, primary.status.message);
  const std::string primary_at = "127.0.0.1:" + std::to_string(primary.port());
  Client p(primary.port());
  SUBCASE("multi-flow") {
    StartedServer replica = StartDarter(0, {"--threads", "2", "--replicaof", primary_at});
    REQUIRE_MESSAGE(replica.status.ok, replica.status.message);
    Client d(replica.port());
    REQUIRE(WaitFor([&] { return InfoStr(d, "replication", "master_link_state") == "stable_sync"; }, 20s));
    LagAcrossDeadlines(p, {{replica.process.get(), &d}}, true);
  }
  SUBCASE("PSYNC") {
    StartedServer replica =
        StartDarter(0, {"--threads", "2", "--repl-multi-flow", "no", "--replicaof", primary_at});
    REQUIRE_MESSAGE(replica.status.ok, replica.status.message);
    Client d(replica.port());
    REQUIRE(WaitCaughtUp(p, d, 20s));
    LagAcrossDeadlines(p, {{replica.process.get(), &d}}, false);
  }
}

TEST_CASE("a replica's full sync keeps keys already expired; its primary's DELs remove them") {
  StartedServer redis = StartRedis();
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  Client p(redis.port());
  p.Cmd({"DEBUG", "SET-ACTIVE-EXPIRE", "0"});  // the primary keeps them until accessed
  for (int i = 0; i < 50; ++i) p.Cmd({"SET", "old" + std::to_string(i), "v", "PX", "100"});
  p.Cmd({"SET", "live", "v"});
  std::this_thread::sleep_for(200ms);
  StartedServer darter = StartDarter(0, {"--threads", "2", "--replicaof", "127.0.0.1:" + std::to_string(redis.port())});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client d(darter.port());
  REQUIRE(WaitCaughtUp(p, d, 20s));
  CHECK(Format(d.Cmd({"DBSIZE"})) == ":51");      // loaded, not dropped
  CHECK(Format(d.Cmd({"GET", "old1"})) == "(nil)");  // but absent to readers
  for (int i = 0; i < 50; ++i) p.Cmd({"GET", "old" + std::to_string(i)});  // the primary expires them: DELs
  REQUIRE(WaitCaughtUp(p, d, 20s));
  CHECK(Format(d.Cmd({"DBSIZE"})) == ":1");
}
