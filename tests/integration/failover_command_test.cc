// FAILOVER (lib/server/admin/failover_family.h) and the handover's "PSYNC ... FAILOVER"
// on the replica's side (repl_master_family.cc): Redis hands over to a Darter replica,
// Darter to a Redis replica and to a Darter PSYNC replica, without losing a write and
// with a partial resync; the pause, TIMEOUT without FORCE, ABORT, and the argument
// errors compared with Redis's; multi-flow replicas refused as targets.
#include <doctest/doctest.h>

#include <signal.h>

#include "replication_support.h"

using namespace darter::test;
using namespace darter::test::repl;
using namespace std::chrono_literals;

namespace {

std::string P(int port) { return std::to_string(port); }

std::string Role(Client& c) {
  Reply r = c.Cmd({"ROLE"});
  return r.elements.empty() ? Format(r) : r.elements[0].str;
}

bool RolesBecome(Client& old_primary, Client& new_primary) {
  return WaitFor(
      [&] {
        return Role(old_primary) == "slave" && Role(new_primary) == "master" &&
               InfoStr(old_primary, "replication", "master_link_status") == "up" &&
               InfoStr(old_primary, "replication", "master_failover_state") == "no-failover";
      },
      20s);
}

// Writes on `c` keys prefix0..prefix<n-1>.
void Write(Client& c, const std::string& prefix, int n) {
  for (int i = 0; i < n; ++i) REQUIRE(Format(c.Cmd({"SET", prefix + std::to_string(i), std::to_string(i)})) == "+OK");
}

bool OnlineReplica(Client& primary) {
  return WaitFor([&] { return InfoStr(primary, "replication", "slave0").find("state=online") != std::string::npos; }, 20s);
}

// A handover from `primary` to `replica` (replica of it over PSYNC): roles swap, nothing
// written before is lost, writes on the new primary reach the old one, the resync is
// partial.
void HandsOver(Client& primary, Client& replica, int replica_port) {
  Write(primary, "before", 200);
  REQUIRE(OnlineReplica(primary));
  REQUIRE(WaitCaughtUp(primary, replica, 20s));
  const long long partial_before = InfoInt(replica, "stats", "sync_partial_ok");
  CHECK(Format(primary.Cmd({"FAILOVER", "TO", "127.0.0.1", P(replica_port)})) == "+OK");
  REQUIRE(RolesBecome(primary, replica));
  CHECK(InfoInt(replica, "stats", "sync_partial_ok") == partial_before + 1);
  CHECK(Format(replica.Cmd({"DBSIZE"})) == ":200");
  CHECK(Format(primary.Cmd({"SET", "x", "1"})) == "-READONLY You can't write against a read only replica.");
  Write(replica, "after", 20);
  CHECK(WaitFor([&] { return Format(primary.Cmd({"DBSIZE"})) == ":220"; }, 20s));
  CHECK(CompareServers(primary, replica, {0}).empty());
}

}  // namespace

TEST_CASE("Redis's FAILOVER hands over to a Darter replica") {
  StartedServer redis = StartRedis();
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "3", "--replicaof", "127.0.0.1:" + P(redis.port())});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client r(redis.port()), d(darter.port());
  HandsOver(r, d, darter.port());
}

TEST_CASE("Darter's FAILOVER hands over to a Redis replica and to a Darter PSYNC replica") {
  StartedServer darter = StartDarter(0, {"--threads", "3"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client d(darter.port());
  SUBCASE("to redis-server") {
    StartedServer redis = StartRedis(0, {"--replicaof", "127.0.0.1", P(darter.port())});
    REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
    Client r(redis.port());
    HandsOver(d, r, redis.port());
  }
  SUBCASE("to darter") {
    StartedServer replica = StartDarter(
        0, {"--threads", "2", "--repl-multi-flow", "no", "--replicaof", "127.0.0.1:" + P(darter.port())});
    REQUIRE_MESSAGE(replica.status.ok, replica.status.message);
    Client r(replica.port());
    HandsOver(d, r, replica.port());
  }
}

TEST_CASE("FAILOVER pauses writes until the handover; a write held meanwhile is refused by the new replica") {
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  StartedServer redis = StartRedis(0, {"--replicaof", "127.0.0.1", P(darter.port())});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  Client d(darter.port()), writer(darter.port()), r(redis.port());
  Write(d, "k", 10);
  REQUIRE(OnlineReplica(d));
  REQUIRE(WaitCaughtUp(d, r, 20s));
  // The replica stops acknowledging and misses a write: the failover waits for it,
  // writes held.
  REQUIRE(kill(redis.process->pid(), SIGSTOP) == 0);
  CHECK(Format(d.Cmd({"SET", "unacked", "1"})) == "+OK");
  CHECK(Format(d.Cmd({"FAILOVER", "TO", "127.0.0.1", P(redis.port())})) == "+OK");
  CHECK(InfoStr(d, "replication", "master_failover_state") == "waiting-for-sync");
  CHECK(Format(d.Cmd({"FAILOVER"})) == "-ERR FAILOVER already in progress.");
  writer.Append({"SET", "held", "1"});
  REQUIRE(writer.Flush());
  CHECK(Format(d.Cmd({"GET", "k1"})) == "\"1\"");  // reads go on
  CHECK(Format(d.Cmd({"CLIENT", "UNPAUSE"})) == "+OK");  // does not lift a failover's pause
  CHECK(Format(d.Cmd({"EXISTS", "held"})) == ":0");
  REQUIRE(kill(redis.process->pid(), SIGCONT) == 0);
  REQUIRE(RolesBecome(d, r));
  CHECK(Format(writer.ReadReply()) == "-READONLY You can't write against a read only replica.");
  CHECK(Format(r.Cmd({"EXISTS", "held"})) == ":0");
  CHECK(Format(r.Cmd({"GET", "unacked"})) == "\"1\"");
}

TEST_CASE("FAILOVER gives up after TIMEOUT without FORCE, goes on with FORCE, and ABORT ends it") {
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  StartedServer redis = StartRedis(0, {"--replicaof", "127.0.0.1", P(darter.port())});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  Client d(darter.port()), r(redis.port());
  Write(d, "k", 10);
  REQUIRE(OnlineReplica(d));
  REQUIRE(WaitCaughtUp(d, r, 20s));
  REQUIRE(kill(redis.process->pid(), SIGSTOP) == 0);
  // A write the replica never acknowledges.
  CHECK(Format(d.Cmd({"SET", "unacked", "1"})) == "+OK");
  CHECK(Format(d.Cmd({"FAILOVER", "TO", "127.0.0.1", P(redis.port()), "TIMEOUT", "300"})) == "+OK");
  CHECK(WaitFor([&] { return InfoStr(d, "replication", "master_failover_state") == "no-failover"; }, 10s));
  CHECK(Role(d) == "master");
  CHECK(Format(d.Cmd({"SET", "writable", "1"})) == "+OK");

  CHECK(Format(d.Cmd({"FAILOVER", "TO", "127.0.0.1", P(redis.port())})) == "+OK");
  CHECK(Format(d.Cmd({"FAILOVER", "ABORT"})) == "+OK");
  CHECK(WaitFor([&] { return InfoStr(d, "replication", "master_failover_state") == "no-failover"; }, 10s));
  CHECK(Format(d.Cmd({"FAILOVER", "ABORT"})) == "-ERR No failover in progress.");
  CHECK(Role(d) == "master");
  CHECK(Format(d.Cmd({"SET", "writable", "2"})) == "+OK");
  REQUIRE(kill(redis.process->pid(), SIGCONT) == 0);
  REQUIRE(WaitCaughtUp(d, r, 20s));
  // FORCE: the replica is stopped again, the timeout passes, the handover goes on.
  REQUIRE(kill(redis.process->pid(), SIGSTOP) == 0);
  CHECK(Format(d.Cmd({"SET", "unacked2", "1"})) == "+OK");
  CHECK(Format(d.Cmd({"FAILOVER", "TO", "127.0.0.1", P(redis.port()), "TIMEOUT", "200", "FORCE"})) == "+OK");
  CHECK(WaitFor([&] { return InfoStr(d, "replication", "master_failover_state") == "failover-in-progress"; }, 10s));
  REQUIRE(kill(redis.process->pid(), SIGCONT) == 0);
  REQUIRE(RolesBecome(d, r));
  CHECK(CompareServers(d, r, {0}).empty());
}

TEST_CASE("FAILOVER's argument and state errors are Redis's; a multi-flow replica is refused as a target") {
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  StartedServer redis = StartRedis();
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  Client d(darter.port()), r(redis.port());
  const std::vector<std::vector<std::string>> cases = {
      {"FAILOVER"},
      {"FAILOVER", "ABORT"},
      {"FAILOVER", "ABORT", "x"},
      {"FAILOVER", "TIMEOUT", "0"},
      {"FAILOVER", "TIMEOUT", "-5"},
      {"FAILOVER", "TIMEOUT", "x"},
      {"FAILOVER", "TIMEOUT", "1", "TIMEOUT", "2"},
      {"FAILOVER", "TO", "h"},
      {"FAILOVER", "TO", "h", "x"},
      {"FAILOVER", "FORCE"},
      {"FAILOVER", "FORCE", "FORCE"},
      {"FAILOVER", "TO", "127.0.0.1", "1", "FORCE"},
      {"FAILOVER", "BOGUS"},
  };
  for (auto& argv : cases) {
    CAPTURE(argv);
    CHECK(Format(d.Cmd(argv)) == Format(r.Cmd(argv)));
  }
  // On a replica.
  StartedServer replica = StartDarter(0, {"--replicaof", "127.0.0.1:" + P(darter.port())});
  REQUIRE_MESSAGE(replica.status.ok, replica.status.message);
  Client rep(replica.port());
  REQUIRE(FlowsCaughtUp(d, rep, 20s));
  CHECK(Format(rep.Cmd({"FAILOVER"})) == "-ERR FAILOVER is not valid when server is a replica.");
  // That replica is multi-flow: not a target.
  CHECK(Format(d.Cmd({"FAILOVER", "TO", "127.0.0.1", P(replica.port())})) ==
        "-ERR FAILOVER target is a Darter multi-flow replica, which cannot take over; FAILOVER hands over to PSYNC "
        "replicas only (start the replica with --repl-multi-flow no)");
  CHECK(Format(d.Cmd({"FAILOVER"})) ==
        "-ERR FAILOVER requires a PSYNC replica: Darter multi-flow replicas cannot take over (start one with "
        "--repl-multi-flow no)");
  CHECK(Format(d.Cmd({"FAILOVER", "TO", "127.0.0.1", "1"})) == "-ERR FAILOVER target HOST and PORT is not a replica.");
  CHECK(InfoStr(d, "replication", "master_failover_state") == "no-failover");
  // PSYNC FAILOVER with another history is refused, as by Redis.
  CHECK(Format(rep.Cmd({"PSYNC", std::string(40, 'a'), "1", "FAILOVER"})) ==
        "-ERR PSYNC FAILOVER replid must match my replid.");
  CHECK(Format(d.Cmd({"PSYNC", std::string(40, 'a'), "1", "FAILOVER"})) ==
        Format(r.Cmd({"PSYNC", std::string(40, 'a'), "1", "FAILOVER"})));  // to a primary
}
