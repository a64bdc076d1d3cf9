// Lua scripts on a multi-threaded darter-server:
//  * a transfer script moving amounts between accounts whose keys live on different
//    shards, run by concurrent clients, never changes the total, and concurrent MGETs
//    and summing scripts never see a transfer half done;
//  * a script running past lua-time-limit makes other clients get BUSY, SCRIPT KILL
//    stops it (the script's client gets the "killed" error), and a script that has
//    written is UNKILLABLE;
//  * a script's writes to several keys appear all at once (MGET never sees a mix).
// Load is bounded by an operation count and a deadline; no assertion depends on timing.
//
// DARTER_IT_USE_REDIS=1 runs the same checks against redis-server (checks the test).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/client.h"
#include "support/server_process.h"
#include "support/server_under_test.h"

namespace darter::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kLoadDuration = 2s;
constexpr int kMaxOpsPerThread = 5000;
constexpr int kAccounts = 8;
constexpr long kInitialBalance = 1000;

std::string Account(int i) { return "acct:" + std::to_string(i); }

// Moves ARGV[1] from KEYS[1] to KEYS[2] if KEYS[1] has enough; returns KEYS[1]'s balance.
const char* kTransfer =
    "local from = tonumber(redis.call('get', KEYS[1])) "
    "local amount = tonumber(ARGV[1]) "
    "if from < amount then return -1 end "
    "redis.call('decrby', KEYS[1], amount) "
    "redis.call('incrby', KEYS[2], amount) "
    "return from - amount";

// Sums every declared key.
const char* kSum =
    "local s = 0 for _, k in ipairs(KEYS) do s = s + tonumber(redis.call('get', k)) end return s";

long SumOf(const Reply& mget) {
  long s = 0;
  for (const auto& e : mget.elements) s += std::stol(e.str);
  return s;
}

void RunTransfers(int threads) {
  StartedServer server = StartServerUnderTest(threads);
  REQUIRE_MESSAGE(server.status.ok, server.status.message);
  const int port = server.port();
  std::vector<std::string> all_keys;
  for (int i = 0; i < kAccounts; ++i) all_keys.push_back(Account(i));
  {
    Client setup(port);
    REQUIRE(setup.ok());
    std::vector<std::string> mset = {"MSET"};
    for (const auto& k : all_keys) {
      mset.push_back(k);
      mset.push_back(std::to_string(kInitialBalance));
    }
    REQUIRE(Format(setup.Cmd(mset)) == "+OK");
  }
  const long total = kAccounts * kInitialBalance;

  Failures failures;
  std::atomic<long> transfers{0}, reads{0};
  const auto deadline = Clock::now() + kLoadDuration;
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&, w] {
      Client client(port);
      if (!client.ok()) return failures.Add("writer connect: " + client.error());
      // Odd writers load the script once and use EVALSHA; even ones use EVAL.
      std::string sha;
      if (w % 2 == 1) {
        Reply r = client.Cmd({"SCRIPT", "LOAD", kTransfer});
        if (r.type != Reply::Type::kString) return failures.Add("SCRIPT LOAD replied " + Format(r));
        sha = r.str;
      }
      unsigned seed = 12345u + w;
      for (int n = 0; n < kMaxOpsPerThread && Clock::now() < deadline; ++n) {
        seed = seed * 1103515245u + 12345u;
        int a = (seed >> 8) % kAccounts;
        int b = (a + 1 + (seed >> 16) % (kAccounts - 1)) % kAccounts;
        std::string amount = std::to_string(1 + (seed >> 4) % 50);
        Reply r = sha.empty() ? client.Cmd({"EVAL", kTransfer, "2", Account(a), Account(b), amount})
                              : client.Cmd({"EVALSHA", sha, "2", Account(a), Account(b), amount});
        if (r.type != Reply::Type::kInteger) return failures.Add("transfer replied " + Format(r));
        ++transfers;
      }
    });
  }
  // One writer moves money with a numkeys-0 script (every shard locked) in a pipeline.
  workers.emplace_back([&] {
    Client client(port);
    if (!client.ok()) return failures.Add("global writer connect: " + client.error());
    const std::string script =
        "local a = tonumber(redis.call('get', 'acct:0')) "
        "redis.call('set', 'acct:0', a - 3) "
        "redis.call('incrby', 'acct:" + std::to_string(kAccounts - 1) + "', 3) return 1";
    for (int n = 0; n < kMaxOpsPerThread / 4 && Clock::now() < deadline; n += 4) {
      std::vector<std::vector<std::string>> batch(4, {"EVAL", script, "0"});
      for (const auto& r : client.Pipeline(batch))
        if (Format(r) != ":1") return failures.Add("global transfer replied " + Format(r));
      transfers += 4;
    }
  });
  for (int r = 0; r < 3; ++r) {
    workers.emplace_back([&, r] {
      Client client(port);
      if (!client.ok()) return failures.Add("reader connect: " + client.error());
      std::vector<std::string> mget = {"MGET"};
      mget.insert(mget.end(), all_keys.begin(), all_keys.end());
      std::vector<std::string> sum = {"EVAL", kSum, std::to_string(kAccounts)};
      sum.insert(sum.end(), all_keys.begin(), all_keys.end());
      for (int n = 0; n < kMaxOpsPerThread && Clock::now() < deadline; ++n) {
        if ((n + r) % 2 == 0) {
          Reply m = client.Cmd(mget);
          if (m.type != Reply::Type::kArray || m.elements.size() != all_keys.size())
            return failures.Add("MGET replied " + Format(m));
          if (SumOf(m) != total) return failures.Add("MGET saw a torn transfer: " + Format(m));
        } else {
          Reply s = client.Cmd(sum);
          if (s.type != Reply::Type::kInteger || s.integer != total)
            return failures.Add("sum script saw " + Format(s));
        }
        ++reads;
      }
    });
  }
  for (auto& t : workers) t.join();
  CHECK_MESSAGE(failures.count() == 0, failures.first());
  Client check(port);
  std::vector<std::string> mget = {"MGET"};
  mget.insert(mget.end(), all_keys.begin(), all_keys.end());
  Reply final_state = check.Cmd(mget);
  REQUIRE(final_state.type == Reply::Type::kArray);
  CHECK(SumOf(final_state) == total);
  MESSAGE("threads=" << threads << " transfers=" << transfers.load() << " reads=" << reads.load());
  CHECK(transfers.load() > 0);
  CHECK(reads.load() > 0);
}

TEST_CASE("transfer scripts across shards keep the total under concurrent clients") {
  RunTransfers(2);
  if (!UseRedis()) RunTransfers(4);
}

// `keys` spread over shards (the script is scheduled and hops) or sharing a hashtag
// (the script runs whole on that shard: inline or posted there).
void RunSetAll(const std::vector<std::string>& keys) {
  StartedServer server = StartServerUnderTest(4);
  REQUIRE_MESSAGE(server.status.ok, server.status.message);
  const int port = server.port();
  const char* kSetAll = "for _, k in ipairs(KEYS) do redis.call('set', k, ARGV[1]) end return #KEYS";
  Failures failures;
  std::atomic<long> writes{0}, reads{0};
  const auto deadline = Clock::now() + kLoadDuration;
  std::vector<std::thread> workers;
  for (int w = 0; w < 2; ++w) {
    workers.emplace_back([&, w] {
      Client client(port);
      if (!client.ok()) return failures.Add("writer connect: " + client.error());
      for (int n = 0; n < kMaxOpsPerThread && Clock::now() < deadline; ++n) {
        std::vector<std::string> argv = {"EVAL", kSetAll, std::to_string(keys.size())};
        argv.insert(argv.end(), keys.begin(), keys.end());
        argv.push_back(std::to_string(w) + ":" + std::to_string(n));
        Reply r = client.Cmd(argv);
        if (Format(r) != ":" + std::to_string(keys.size())) return failures.Add("set-all replied " + Format(r));
        ++writes;
      }
    });
  }
  for (int r = 0; r < 3; ++r) {
    workers.emplace_back([&] {
      Client client(port);
      if (!client.ok()) return failures.Add("reader connect: " + client.error());
      std::vector<std::string> mget = {"MGET"};
      mget.insert(mget.end(), keys.begin(), keys.end());
      for (int n = 0; n < kMaxOpsPerThread && Clock::now() < deadline; ++n) {
        Reply m = client.Cmd(mget);
        if (m.type != Reply::Type::kArray || m.elements.size() != keys.size())
          return failures.Add("MGET replied " + Format(m));
        for (const auto& e : m.elements) {
          if (e.type != m.elements[0].type || e.str != m.elements[0].str)
            return failures.Add("MGET saw half a script: " + Format(m));
        }
        ++reads;
      }
    });
  }
  for (auto& t : workers) t.join();
  CHECK_MESSAGE(failures.count() == 0, failures.first());
  MESSAGE("keys " << keys[0] << "...: script writes=" << writes.load() << " reads=" << reads.load());
  CHECK(writes.load() > 0);
}

TEST_CASE("a script's writes to several keys appear at once") {
  RunSetAll({"w0", "w1", "w2", "w3", "w4", "w5"});
  RunSetAll({"{w}0", "{w}1", "{w}2", "{w}3", "{w}4", "{w}5"});
}

TEST_CASE("declared keys: undeclared ones are refused unless lua-allow-undeclared-keys") {
  if (UseRedis()) return;  // Redis does not check declarations outside cluster mode
  StartedServer server = StartServerUnderTest(4);
  REQUIRE_MESSAGE(server.status.ok, server.status.message);
  Client c(server.port());
  REQUIRE(c.ok());
  const std::vector<std::string> eval = {"EVAL", "return redis.call('set', 'undeclared', ARGV[1])", "1", "declared",
                                         "v"};
  Reply refused = c.Cmd(eval);
  CHECK(refused.type == Reply::Type::kError);
  CHECK(refused.str.find("not declared in KEYS") != std::string::npos);
  CHECK(Format(c.Cmd({"EXISTS", "undeclared"})) == ":0");
  // numkeys 0 locks every shard: any key may be used.
  CHECK(Format(c.Cmd({"EVAL", "return redis.call('set', 'undeclared', 'a')", "0"})) == "+OK");
  CHECK(Format(c.Cmd({"CONFIG", "SET", "lua-allow-undeclared-keys", "yes"})) == "+OK");
  CHECK(Format(c.Cmd({"CONFIG", "GET", "lua-allow-undeclared-keys"})) ==
        "[\"lua-allow-undeclared-keys\", \"yes\"]");
  CHECK(Format(c.Cmd(eval)) == "+OK");
  CHECK(Format(c.Cmd({"GET", "undeclared"})) == "\"v\"");
  CHECK(Format(c.Cmd({"CONFIG", "SET", "lua-allow-undeclared-keys", "no"})) == "+OK");
  CHECK(c.Cmd(eval).type == Reply::Type::kError);
}

TEST_CASE("BUSY while a script runs past lua-time-limit; SCRIPT KILL stops it") {
  StartedServer server = StartServerUnderTest(2);
  REQUIRE_MESSAGE(server.status.ok, server.status.message);
  const int port = server.port();
  Client admin(port);
  REQUIRE(admin.ok());
  REQUIRE(Format(admin.Cmd({"CONFIG", "SET", "lua-time-limit", "50"})) == "+OK");
  CHECK(Format(admin.Cmd({"SCRIPT", "KILL"})) == "-NOTBUSY No scripts in execution right now.");

  // A read-only endless loop: killable. numkeys 0, so the script holds every shard and
  // lets its thread serve other clients while it is busy: any connection can kill it.
  Client runner(port, 20s);
  REQUIRE(runner.ok());
  runner.Append({"EVAL", "local i = 0 while true do i = i + 1 end", "0"});
  REQUIRE(runner.Flush());
  REQUIRE(WaitForBusy(admin));
  CHECK(Format(admin.Cmd({"GET", "x"})) ==
        "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.");
  CHECK(Format(admin.Cmd({"SCRIPT", "KILL"})) == "+OK");
  Reply killed = runner.ReadReply();
  CHECK(killed.type == Reply::Type::kError);
  CHECK(killed.str.rfind("ERR Script killed by user with SCRIPT KILL... script: ", 0) == 0);
  CHECK(Format(admin.Cmd({"SET", "after", "kill"})) == "+OK");
  CHECK(Format(runner.Cmd({"GET", "after"})) == "\"kill\"");

  // A loop that catches errors with pcall still dies.
  runner.Append({"EVAL", "while true do pcall(function() local i = 0 while true do i = i + 1 end end) end", "0"});
  REQUIRE(runner.Flush());
  REQUIRE(WaitForBusy(admin));
  CHECK(Format(admin.Cmd({"SCRIPT", "KILL"})) == "+OK");
  Reply killed2 = runner.ReadReply();
  CHECK(killed2.type == Reply::Type::kError);

  // With declared keys on two shards the script is scheduled too; killable the same way.
  runner.Append({"EVAL", "redis.call('get', KEYS[1]) local i = 0 while true do i = i + 1 end", "8", "a", "b", "c",
                 "d", "e", "f", "g", "h"});
  REQUIRE(runner.Flush());
  REQUIRE(WaitForBusy(admin));
  CHECK(Format(admin.Cmd({"SCRIPT", "KILL"})) == "+OK");
  CHECK(runner.ReadReply().type == Reply::Type::kError);

  // After a write the script cannot be killed; SHUTDOWN NOSAVE still stops the server.
  runner.Append({"EVAL", "redis.call('set', 'x', 1) local i = 0 while true do i = i + 1 end", "0"});
  REQUIRE(runner.Flush());
  REQUIRE(WaitForBusy(admin));
  CHECK(Format(admin.Cmd({"SCRIPT", "KILL"})) ==
        "-UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the "
        "script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
  admin.Cmd({"SHUTDOWN", "NOSAVE"});
}

TEST_CASE("one thread: a busy inline script still lets SCRIPT KILL and BUSY replies through") {
  // With --threads 1 every script runs inline on the only thread; once busy it takes
  // its locks and lets the loop serve the other connections.
  StartedServer server = StartServerUnderTest(1);
  REQUIRE_MESSAGE(server.status.ok, server.status.message);
  const int port = server.port();
  Client admin(port);
  REQUIRE(admin.ok());
  REQUIRE(Format(admin.Cmd({"CONFIG", "SET", "lua-time-limit", "50"})) == "+OK");
  REQUIRE(Format(admin.Cmd({"SET", "k", "before"})) == "+OK");
  Client runner(port, 20s);
  REQUIRE(runner.ok());
  for (const char* numkeys : {"1", "0"}) {
    std::vector<std::string> eval = {"EVAL", "redis.call('get', 'k') local i = 0 while true do i = i + 1 end",
                                     numkeys};
    if (std::string(numkeys) == "1") eval.push_back("k");
    runner.Append(eval);
    REQUIRE(runner.Flush());
    REQUIRE(WaitForBusy(admin));
    CHECK(Format(admin.Cmd({"GET", "k"})) ==
          "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.");
    CHECK(Format(admin.Cmd({"SCRIPT", "KILL"})) == "+OK");
    Reply killed = runner.ReadReply();
    CHECK(killed.type == Reply::Type::kError);
    CHECK(killed.str.rfind("ERR Script killed by user with SCRIPT KILL... script: ", 0) == 0);
    CHECK(Format(admin.Cmd({"GET", "k"})) == "\"before\"");
  }
  // INFO from an inline script (it needs the loop; the script takes its locks first).
  Reply info = runner.Cmd({"EVAL", "return string.sub(redis.call('info', 'server'), 1, 8)", "1", "k"});
  CHECK(Format(info) == "\"# Server\"");
}

}  // namespace
}  // namespace darter::test
