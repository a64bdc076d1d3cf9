// The parameters of the server's links, each checked by what it does rather than by what
// CONFIG GET says: a replica that lost its primary with replica-serve-stale-data no
// refuses what Redis refuses (commands, MULTI, scripts by their shebang flags) with the
// same errors; replica-announce-ip/-port reach the primary's INFO; replica-priority shows
// in INFO; replicaof follows REPLICAOF; tcp-backlog is the listen backlog and
// tcp-keepalive arms the keepalive timer of client sockets (both read with ss).
#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "replication_support.h"
#include "support/client.h"
#include "support/reply.h"
#include "support/server_process.h"

using namespace darter::test;
using namespace darter::test::repl;
using namespace std::chrono_literals;

namespace {

using Command = std::vector<std::string>;

// What a replica of a primary that is gone answers, command by command (CONFIG GET
// replies are compared as maps: Redis lists parameters in hash order).
std::vector<std::string> StaleReplies(Client& c) {
  const std::vector<Command> commands = {
      {"GET", "a"},
      {"PING"},
      {"ECHO", "x"},
      {"INFO", "keyspace"},
      {"EVAL", "return 1", "0"},
      {"EVAL", "#!lua flags=allow-stale\nreturn 1", "0"},
      {"EVAL", "#!lua flags=no-writes\nreturn 1", "0"},
      {"EVAL", "#!lua flags=allow-stale,no-writes\nreturn redis.pcall('get','a')", "0"},
      {"EVAL", "#!lua flags=allow-stale,no-writes\nreturn redis.call('echo','ok')", "0"},
      {"EVAL", "#!lua flags=allow-stale,no-writes\nreturn redis.pcall('ping')", "0"},
      {"EVAL_RO", "#!lua flags=allow-stale,no-writes\nreturn redis.pcall('dbsize')", "0"},
      {"MULTI"},
      {"GET", "a"},
      {"SELECT", "1"},
      {"EXEC"},
      {"CONFIG", "GET", "replica-serve-stale-data"},
  };
  std::vector<std::string> out;
  for (const Command& cmd : commands) out.push_back(Format(c.Cmd(cmd)));
  return out;
}

std::map<std::string, std::string> ConfigMap(Client& c, const std::string& pattern) {
  Reply r = c.Cmd({"CONFIG", "GET", pattern});
  std::map<std::string, std::string> m;
  for (size_t i = 0; i + 1 < r.elements.size(); i += 2) m[r.elements[i].str] = r.elements[i + 1].str;
  return m;
}

std::string InfoField(Client& c, const std::string& section, const std::string& field) {
  std::string info = c.Cmd({"INFO", section}).str;
  size_t at = info.find("\n" + field + ":");
  if (at == std::string::npos) return "";
  at += field.size() + 2;
  return info.substr(at, info.find('\r', at) - at);
}

std::string Run(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (!p) return out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  pclose(p);
  return out;
}

}  // namespace

TEST_CASE("replica-serve-stale-data no: a replica without its primary refuses as Redis does") {
  StartedServer redis_primary = StartRedis();
  REQUIRE_MESSAGE(redis_primary.status.ok, redis_primary.status.message);
  StartedServer darter_primary = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter_primary.status.ok, darter_primary.status.message);
  StartedServer redis = StartRedis(0, {"--replicaof", "127.0.0.1", std::to_string(redis_primary.port())});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  StartedServer darter =
      StartDarter(0, {"--threads", "2", "--replicaof", "127.0.0.1:" + std::to_string(darter_primary.port())});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client r(redis.port()), d(darter.port());
  Client rp(redis_primary.port()), dp(darter_primary.port());
  REQUIRE(Format(rp.Cmd({"SET", "a", "1"})) == "+OK");
  REQUIRE(Format(dp.Cmd({"SET", "a", "1"})) == "+OK");
  REQUIRE(WaitFor([&] { return Format(r.Cmd({"GET", "a"})) == "\"1\""; }, 10s));
  REQUIRE(WaitFor([&] { return Format(d.Cmd({"GET", "a"})) == "\"1\""; }, 10s));

  // Linked: the setting changes nothing.
  for (Client* c : {&r, &d}) {
    REQUIRE(Format(c->Cmd({"CONFIG", "SET", "replica-serve-stale-data", "no"})) == "+OK");
    CHECK(Format(c->Cmd({"GET", "a"})) == "\"1\"");
    CHECK(Format(c->Cmd({"PING"})) == "+PONG");
  }

  redis_primary.process->Stop();
  darter_primary.process->Stop();
  REQUIRE(WaitFor([&] { return InfoField(r, "replication", "master_link_status") == "down"; }, 10s));
  REQUIRE(WaitFor([&] { return InfoField(d, "replication", "master_link_status") == "down"; }, 10s));
  std::vector<std::string> want = StaleReplies(r), got = StaleReplies(d);
  REQUIRE(want.size() == got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("reply " << i);
    CHECK(got[i] == want[i]);
  }
  CHECK(got[0].find("MASTERDOWN") != std::string::npos);

  // Serving stale data again is one CONFIG SET away.
  for (Client* c : {&r, &d}) {
    REQUIRE(Format(c->Cmd({"CONFIG", "SET", "slave-serve-stale-data", "yes"})) == "+OK");
    CHECK(Format(c->Cmd({"GET", "a"})) == "\"1\"");
  }
}

TEST_CASE("replica-announce-ip/-port reach the primary; replica-priority and replicaof show") {
  StartedServer primary = StartRedis();
  REQUIRE_MESSAGE(primary.status.ok, primary.status.message);
  StartedServer darter = StartDarter(0, {"--replica-announce-ip", "10.1.2.3", "--replica-announce-port", "1234",
                                         "--replica-priority", "7", "--repl-multi-flow", "no"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client p(primary.port()), d(darter.port());
  const std::string primary_addr = "127.0.0.1 " + std::to_string(primary.port());
  CHECK(ConfigMap(d, "replicaof")["replicaof"] == "");
  REQUIRE(Format(d.Cmd({"REPLICAOF", "127.0.0.1", std::to_string(primary.port())})) == "+OK");
  CHECK(ConfigMap(d, "slaveof")["slaveof"] == primary_addr);
  REQUIRE(WaitFor([&] { return InfoField(p, "replication", "slave0").find("ip=10.1.2.3,port=1234,") == 0; }, 10s));
  CHECK(InfoField(d, "replication", "slave_priority") == "7");
  CHECK(Format(d.Cmd({"CONFIG", "SET", "replicaof", "127.0.0.1 1"})) ==
        "-ERR CONFIG SET failed (possibly related to argument 'replicaof') - can't set immutable config");
  REQUIRE(Format(d.Cmd({"REPLICAOF", "NO", "ONE"})) == "+OK");
  CHECK(ConfigMap(d, "replicaof")["replicaof"] == "");

  // The same values and the same refusals as Redis.
  StartedServer redis =
      StartRedis(0, {"--replica-announce-ip", "10.1.2.3", "--replica-announce-port", "1234", "--replica-priority", "7"});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  Client r(redis.port());
  const std::vector<Command> sets = {
      {"CONFIG", "SET", "replica-priority", "-1"},        {"CONFIG", "SET", "replica-priority", "0"},
      {"CONFIG", "SET", "slave-announce-port", "65536"},  {"CONFIG", "SET", "replica-announce-ip", "h.example"},
      {"CONFIG", "SET", "tcp-keepalive", "-1"},           {"CONFIG", "SET", "tcp-keepalive", "60"},
      {"CONFIG", "SET", "tcp-backlog", "10"},             {"CONFIG", "SET", "replica-serve-stale-data", "maybe"},
      {"CONFIG", "SET", "repl-disable-tcp-nodelay", "x"}, {"CONFIG", "SET", "repl-disable-tcp-nodelay", "yes"},
  };
  for (const Command& cmd : sets) {
    INFO(cmd[2] << " " << cmd[3]);
    CHECK(Format(d.Cmd(cmd)) == Format(r.Cmd(cmd)));
  }
  for (const char* pattern : {"replica-*", "slave-*", "tcp-*", "repl-disable-tcp-nodelay"}) {
    INFO(pattern);
    std::map<std::string, std::string> want = ConfigMap(r, pattern), got = ConfigMap(d, pattern);
    // Parameters only Redis has (replica-announced, replica-lazy-flush, ...) are left out.
    for (auto& [name, value] : got) CHECK(want[name] == value);
  }
}

TEST_CASE("tcp-backlog is the listen backlog; tcp-keepalive arms client sockets' keepalive") {
  if (Run("ss -V 2>/dev/null").empty()) {
    MESSAGE("ss (iproute2) is not installed: skipped");
    return;
  }
  StartedServer darter = StartDarter(0, {"--tcp-backlog", "77", "--tcp-keepalive", "120"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  const std::string port = std::to_string(darter.port());
  // A listening socket's Send-Q is its backlog.
  std::string listen = Run("ss -Hltn 'sport = :" + port + "'");
  CHECK_MESSAGE(listen.find(" 77 ") != std::string::npos, listen);

  Client kept(darter.port());
  REQUIRE(Format(kept.Cmd({"PING"})) == "+PONG");
  std::string sockets = Run("ss -Htno state established 'sport = :" + port + "'");
  CHECK_MESSAGE(sockets.find("timer:(keepalive,") != std::string::npos, sockets);

  Client admin(darter.port());
  REQUIRE(Format(admin.Cmd({"CONFIG", "SET", "tcp-keepalive", "0"})) == "+OK");
  Client plain(darter.port());
  REQUIRE(Format(plain.Cmd({"CLIENT", "SETNAME", "plain"})) == "+OK");
  // The newest connection (plain) has no timer; the first keeps its own.
  sockets = Run("ss -Htno state established 'sport = :" + port + "'");
  size_t timers = 0;
  for (size_t at = sockets.find("timer:(keepalive,"); at != std::string::npos;
       at = sockets.find("timer:(keepalive,", at + 1))
    ++timers;
  CHECK_MESSAGE(timers == 2, sockets);  // kept and admin, not plain
}
