// MULTI/EXEC and WATCH across clients and shards:
//  * a WATCH is invalidated by another client's write to the key — a plain write, a
//    write inside that client's own MULTI/EXEC or multi-key command, expiry (lazy
//    deletion, and a key that has only logically expired), FLUSHDB, FLUSHALL, SWAPDB —
//    whichever shard the key lives on; and not invalidated by writes to other keys;
//  * the bank-transfer invariant: concurrent clients move money between accounts on
//    different shards with WATCH / MULTI / DECRBY / INCRBY / EXEC while readers MGET
//    every account: the total never changes, no reader sees a transfer half done, and
//    no account goes negative (WATCH makes the balance check and the transfer atomic);
//  * clients that WATCH and disconnect leave the server working.
//
// Keys are chosen with store::ShardOf so that they cover every shard of --threads 4.
// Load is bounded by an operation count and a deadline; no assertion depends on timing.
// DARTER_IT_USE_REDIS=1 runs the same checks against redis-server (a self-check).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "replication_support.h"
#include "store/shard.h"
#include "support/client.h"
#include "support/server_process.h"
#include "support/server_under_test.h"

namespace darter::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kLoadDuration = 2s;
constexpr int kMaxOpsPerThread = 20000;

// `per_shard` key names with prefix `prefix` on each of the 4 shards of --threads 4
// (with --threads 2 they still spread over both shards).
std::vector<std::string> KeysOnEveryShard(const std::string& prefix, int per_shard) {
  std::vector<std::vector<std::string>> by_shard(4);
  for (int i = 0; by_shard[0].size() + by_shard[1].size() + by_shard[2].size() + by_shard[3].size() <
                  static_cast<size_t>(4 * per_shard);
       ++i) {
    std::string key = prefix + std::to_string(i);
    auto& slot = by_shard[store::ShardOf(key, 4)];
    if (slot.size() < static_cast<size_t>(per_shard)) slot.push_back(key);
  }
  std::vector<std::string> out;
  for (int j = 0; j < per_shard; ++j)
    for (auto& s : by_shard) out.push_back(s[j]);
  return out;
}

// WATCH `key` on `watcher`, let `other` run `write`, then EXEC a block that sets the key.
// Returns EXEC's reply.
std::string ExecAfter(Client& watcher, Client& other, const std::string& key,
                      const std::vector<std::vector<std::string>>& writes) {
  if (Format(watcher.Cmd({"WATCH", key})) != "+OK") return "WATCH failed";
  for (auto& w : writes) other.Cmd(w);
  watcher.Cmd({"MULTI"});
  watcher.Cmd({"SET", key, "from-exec"});
  return Format(watcher.Cmd({"EXEC"}));
}

// Server time in ms, read without touching any key.
long long ServerTimeMs(Client& c) {
  Reply r = c.Cmd({"TIME"});
  if (r.elements.size() != 2) return -1;
  return std::stoll(r.elements[0].str) * 1000 + std::stoll(r.elements[1].str) / 1000;
}

void CheckWatchInvalidation(int threads) {
  StartedServer server = StartServerUnderTest(threads);
  REQUIRE_MESSAGE(server.status.ok, server.status.message);
  Client a(server.port());
  Client b(server.port());
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  const std::vector<std::string> keys = KeysOnEveryShard("watched:", 1);
  const std::vector<std::string> others = KeysOnEveryShard("other:", 1);
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string& k = keys[i];
    const std::string& o = others[(i + 1) % others.size()];
    CAPTURE(k);
    REQUIRE(Format(a.Cmd({"SET", k, "v"})) == "+OK");

    // Writes to other keys leave the watch alone.
    CHECK(ExecAfter(a, b, k, {{"SET", o, "x"}, {"MSET", o, "1", o + "b", "2"}, {"DEL", "nosuch"}}) == "[+OK]");
    CHECK(ExecAfter(a, b, k, {{"GET", k}, {"EXISTS", k}}) == "[+OK]");

    // Another client's writes, however they reach the key's shard.
    CHECK(ExecAfter(a, b, k, {{"SET", k, "b"}}) == "(nil-array)");
    CHECK(Format(a.Cmd({"GET", k})) == "\"b\"");
    CHECK(ExecAfter(a, b, k, {{"MSET", o, "1", k, "2"}}) == "(nil-array)");
    CHECK(ExecAfter(a, b, k, {{"APPEND", k, "x"}}) == "(nil-array)");
    CHECK(ExecAfter(a, b, k, {{"MULTI"}, {"SET", o, "1"}, {"SETRANGE", k, "0", "z"}, {"EXEC"}}) == "(nil-array)");
    CHECK(ExecAfter(a, b, k, {{"RENAME", k, o}, {"RENAME", o, k}}) == "(nil-array)");
    CHECK(ExecAfter(a, b, k, {{"PEXPIRE", k, "100000"}}) == "(nil-array)");

    // Expiry: deleted on access by another client.
    REQUIRE(Format(a.Cmd({"SET", k, "v", "PX", "50"})) == "+OK");
    REQUIRE(Format(a.Cmd({"WATCH", k})) == "+OK");
    const auto deadline = Clock::now() + 10s;
    while (Format(b.Cmd({"EXISTS", k})) != ":0" && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
    a.Cmd({"MULTI"});
    a.Cmd({"SET", k, "from-exec"});
    CHECK(Format(a.Cmd({"EXEC"})) == "(nil-array)");
    CHECK(Format(a.Cmd({"EXISTS", k})) == ":0");

    // Expiry: only logically expired by EXEC (nobody touched the key).
    REQUIRE(Format(a.Cmd({"SET", k, "v", "PX", "50"})) == "+OK");
    const long long set_at = ServerTimeMs(b);
    REQUIRE(Format(a.Cmd({"WATCH", k})) == "+OK");
    while (ServerTimeMs(b) < set_at + 80 && Clock::now() < deadline + 10s) std::this_thread::sleep_for(5ms);
    a.Cmd({"MULTI"});
    a.Cmd({"SET", k, "from-exec"});
    CHECK(Format(a.Cmd({"EXEC"})) == "(nil-array)");

    // FLUSHDB / FLUSHALL / SWAPDB from another client, when the key exists.
    REQUIRE(Format(a.Cmd({"SET", k, "v"})) == "+OK");
    CHECK(ExecAfter(a, b, k, {{"FLUSHDB"}}) == "(nil-array)");
    REQUIRE(Format(a.Cmd({"SET", k, "v"})) == "+OK");
    CHECK(ExecAfter(a, b, k, {{"FLUSHALL"}}) == "(nil-array)");
    REQUIRE(Format(a.Cmd({"SET", k, "v"})) == "+OK");
    CHECK(ExecAfter(a, b, k, {{"SWAPDB", "0", "1"}}) == "(nil-array)");
    CHECK(Format(a.Cmd({"FLUSHALL"})) == "+OK");
    // ... and not when it exists in neither database.
    CHECK(ExecAfter(a, b, k, {{"FLUSHALL"}}) == "[+OK]");
    CHECK(Format(a.Cmd({"DEL", k})) == ":1");
    CHECK(ExecAfter(a, b, k, {{"SWAPDB", "0", "1"}}) == "[+OK]");
    CHECK(Format(a.Cmd({"FLUSHALL"})) == "+OK");
  }

  // Watches on keys of several shards at once: a write to any one of them aborts.
  for (const std::string& k : keys) {
    CAPTURE(k);
    std::vector<std::string> watch = {"WATCH"};
    watch.insert(watch.end(), keys.begin(), keys.end());
    REQUIRE(Format(a.Cmd(watch)) == "+OK");
    b.Cmd({"SET", k, "b"});
    a.Cmd({"MULTI"});
    std::vector<std::string> mset = {"MSET"};
    for (auto& x : keys) mset.insert(mset.end(), {x, "exec"});
    a.Cmd(mset);
    CHECK(Format(a.Cmd({"EXEC"})) == "(nil-array)");
  }
  std::vector<std::string> watch = {"WATCH"};
  watch.insert(watch.end(), keys.begin(), keys.end());
  REQUIRE(Format(a.Cmd(watch)) == "+OK");
  std::vector<Reply> replies = a.Pipeline({{"MULTI"}, {"MSET", keys[0], "1", keys[1], "1"}, {"MGET", keys[0], keys[1]}, {"EXEC"}});
  REQUIRE(replies.size() == 4);
  CHECK(Format(replies[3]) == "[+OK, [\"1\", \"1\"]]");
}

TEST_CASE("WATCH is invalidated by other clients' writes on any shard (--threads 2)") { CheckWatchInvalidation(2); }
TEST_CASE("WATCH is invalidated by other clients' writes on any shard (--threads 4)") { CheckWatchInvalidation(4); }

// ---- bank transfers ----

constexpr long long kInitialBalance = 100;

long long ToInt(const Reply& r) {
  if (r.type == Reply::Type::kString) return std::stoll(r.str);
  if (r.type == Reply::Type::kInteger) return r.integer;
  return -1000000;
}

void RunBankTransfers(int threads) {
  StartedServer server = StartServerUnderTest(threads);
  REQUIRE_MESSAGE(server.status.ok, server.status.message);
  const int port = server.port();
  const std::vector<std::string> accounts = KeysOnEveryShard("account:", 2);  // 8 accounts, 4 shards
  const long long total = kInitialBalance * static_cast<long long>(accounts.size());
  {
    Client setup(port);
    REQUIRE(setup.ok());
    for (auto& acc : accounts) REQUIRE(Format(setup.Cmd({"SET", acc, std::to_string(kInitialBalance)})) == "+OK");
  }
  std::vector<std::string> mget = {"MGET"};
  mget.insert(mget.end(), accounts.begin(), accounts.end());

  Failures failures;
  std::atomic<long> committed{0}, aborted{0}, declined{0}, reads{0};
  const auto deadline = Clock::now() + kLoadDuration;
  std::vector<std::thread> workers;
  for (int w = 0; w < 6; ++w) {
    workers.emplace_back([&, w] {
      Client c(port);
      if (!c.ok()) return failures.Add("transfer connect: " + c.error());
      std::mt19937 rng(1234 + w);
      for (int n = 0; n < kMaxOpsPerThread && Clock::now() < deadline; ++n) {
        size_t from = rng() % accounts.size();
        size_t to = (from + 1 + rng() % (accounts.size() - 1)) % accounts.size();
        long long amount = 1 + rng() % 60;
        const std::string& a = accounts[from];
        const std::string& b = accounts[to];
        if (Format(c.Cmd({"WATCH", a, b})) != "+OK") return failures.Add("WATCH failed");
        long long balance = ToInt(c.Cmd({"GET", a}));
        if (balance < amount) {
          ++declined;
          c.Cmd({"UNWATCH"});
          continue;
        }
        // Pipelined, as clients do: MULTI, the transfer, EXEC in one write.
        std::vector<Reply> r = c.Pipeline({{"MULTI"},
                                           {"DECRBY", a, std::to_string(amount)},
                                           {"INCRBY", b, std::to_string(amount)},
                                           {"EXEC"}});
        if (r.size() != 4) return failures.Add("short pipeline");
        if (Format(r[0]) != "+OK" || Format(r[1]) != "+QUEUED" || Format(r[2]) != "+QUEUED")
          return failures.Add("queueing replied " + Format(r[0]) + " " + Format(r[1]) + " " + Format(r[2]));
        if (r[3].type == Reply::Type::kNilArray) {
          ++aborted;
          continue;
        }
        if (r[3].type != Reply::Type::kArray || r[3].elements.size() != 2)
          return failures.Add("EXEC replied " + Format(r[3]));
        if (ToInt(r[3].elements[0]) < 0)
          return failures.Add("overdraft: " + a + " went to " + Format(r[3].elements[0]));
        ++committed;
      }
    });
  }
  for (int r = 0; r < 3; ++r) {
    workers.emplace_back([&, r] {
      Client c(port);
      if (!c.ok()) return failures.Add("reader connect: " + c.error());
      for (int n = 0; n < kMaxOpsPerThread && Clock::now() < deadline; ++n) {
        Reply reply;
        if (r == 2 && n % 2 == 1) {  // also read through a MULTI block
          std::vector<std::vector<std::string>> block = {{"MULTI"}, mget, {"EXEC"}};
          std::vector<Reply> rs = c.Pipeline(block);
          if (rs.size() != 3 || rs[2].elements.size() != 1) return failures.Add("MULTI MGET replied badly");
          reply = rs[2].elements[0];
        } else {
          reply = c.Cmd(mget);
        }
        if (reply.type != Reply::Type::kArray || reply.elements.size() != accounts.size())
          return failures.Add("MGET replied " + Format(reply));
        long long sum = 0;
        for (auto& e : reply.elements) {
          long long v = ToInt(e);
          if (v < 0) return failures.Add("negative balance in " + Format(reply));
          sum += v;
        }
        if (sum != total) return failures.Add("torn transfer: MGET summed to " + std::to_string(sum) + ": " + Format(reply));
        ++reads;
      }
    });
  }
  for (auto& t : workers) t.join();
  INFO("committed " << committed << ", aborted " << aborted << ", declined " << declined << ", reads " << reads);
  CHECK_MESSAGE(failures.count() == 0, failures.first());
  CHECK(committed > 0);
  CHECK(reads > 0);
  Client check(port);
  Reply final_state = check.Cmd(mget);
  long long sum = 0;
  for (auto& e : final_state.elements) {
    CHECK(ToInt(e) >= 0);
    sum += ToInt(e);
  }
  CHECK(sum == total);
  MESSAGE("threads " << threads << ": committed " << committed.load() << ", aborted by WATCH " << aborted.load()
                     << ", declined " << declined.load() << ", consistent reads " << reads.load());
}

TEST_CASE("bank transfers with WATCH/MULTI/EXEC keep the total and never show a torn transfer (--threads 2)") {
  RunBankTransfers(2);
}
TEST_CASE("bank transfers with WATCH/MULTI/EXEC keep the total and never show a torn transfer (--threads 4)") {
  RunBankTransfers(4);
}

// INFO memory's used_memory, or 0 (a sanitizer build's allocator reports none).
long long UsedMemory(Client& c) {
  Reply r = c.Cmd({"INFO", "memory"});
  std::string text = r.str;
  size_t at = text.find("used_memory:");
  if (at == std::string::npos) return 0;
  return std::atoll(text.c_str() + at + 12);
}

TEST_CASE("over maxmemory MULTI queues nothing, and EXEC of write commands is refused") {
  StartedServer server = StartServerUnderTest(2);
  REQUIRE_MESSAGE(server.status.ok, server.status.message);
  Client a(server.port());
  Client b(server.port());
  REQUIRE(Format(a.Cmd({"SET", "k", "1"})) == "+OK");
  if (UsedMemory(a) == 0) {
    MESSAGE("skipped: the server reports used_memory 0 (sanitizer build)");
    return;
  }
  REQUIRE(Format(a.Cmd({"CONFIG", "SET", "maxmemory", "1"})) == "+OK");
  CHECK(Format(a.Cmd({"MULTI"})) == "+OK");
  CHECK(Format(a.Cmd({"GET", "k"})) == "-OOM command not allowed when used memory > 'maxmemory'.");
  CHECK(Format(a.Cmd({"EXEC"})) == "-EXECABORT Transaction discarded because of previous errors.");
  CHECK(Format(a.Cmd({"MULTI"})) == "+OK");
  CHECK(Format(a.Cmd({"DISCARD"})) == "+OK");
  REQUIRE(Format(a.Cmd({"CONFIG", "SET", "maxmemory", "0"})) == "+OK");
  // Memory runs out between queueing a write and EXEC: EXEC itself is refused.
  CHECK(Format(a.Cmd({"MULTI"})) == "+OK");
  CHECK(Format(a.Cmd({"SET", "k", "2"})) == "+QUEUED");
  REQUIRE(Format(b.Cmd({"CONFIG", "SET", "maxmemory", "1"})) == "+OK");
  CHECK(Format(a.Cmd({"EXEC"})) ==
        "-EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.");
  CHECK(Format(a.Cmd({"EXEC"})) == "-ERR EXEC without MULTI");
  // ... but not a block of reads.
  REQUIRE(Format(b.Cmd({"CONFIG", "SET", "maxmemory", "0"})) == "+OK");
  CHECK(Format(a.Cmd({"MULTI"})) == "+OK");
  CHECK(Format(a.Cmd({"GET", "k"})) == "+QUEUED");
  REQUIRE(Format(b.Cmd({"CONFIG", "SET", "maxmemory", "1"})) == "+OK");
  CHECK(Format(a.Cmd({"EXEC"})) == "[\"1\"]");
  REQUIRE(Format(b.Cmd({"CONFIG", "SET", "maxmemory", "0"})) == "+OK");
}

TEST_CASE("clients that WATCH and disconnect, or disconnect inside MULTI, leave the server working") {
  StartedServer server = StartServerUnderTest(4);
  REQUIRE_MESSAGE(server.status.ok, server.status.message);
  const std::vector<std::string> keys = KeysOnEveryShard("gone:", 2);
  for (int round = 0; round < 50; ++round) {
    Client c(server.port());
    REQUIRE(c.ok());
    std::vector<std::string> watch = {"WATCH"};
    watch.insert(watch.end(), keys.begin(), keys.end());
    REQUIRE(Format(c.Cmd(watch)) == "+OK");
    if (round % 2) {
      c.Cmd({"MULTI"});
      c.Cmd({"SET", keys[0], "never"});
    }
  }  // each client disconnects here
  Client c(server.port());
  REQUIRE(c.ok());
  for (auto& k : keys) CHECK(Format(c.Cmd({"SET", k, "after"})) == "+OK");
  CHECK(Format(c.Cmd({"WATCH", keys[0]})) == "+OK");
  CHECK(Format(c.Cmd({"MULTI"})) == "+OK");
  CHECK(Format(c.Cmd({"GET", keys[0]})) == "+QUEUED");
  CHECK(Format(c.Cmd({"EXEC"})) == "[\"after\"]");
}

// The replica path: a Redis primary's MULTI/EXEC blocks arrive as MULTI ... EXEC in the
// stream and apply as one ExecBlockOp. Readers of the replica never see a transfer half
// applied, a SELECT inside a block stays in effect after it, and a WATCH on the replica
// is invalidated by replicated writes.
TEST_CASE("a primary's MULTI/EXEC blocks apply atomically on a darter replica") {
  if (UseRedis()) return;
  StartedServer redis = StartRedis(0, {"--repl-diskless-sync-delay", "0"});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "4"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client src(redis.port()), dst(darter.port());
  const std::vector<std::string> accounts = KeysOnEveryShard("account:", 2);
  for (auto& acc : accounts) REQUIRE(Format(src.Cmd({"SET", acc, std::to_string(kInitialBalance)})) == "+OK");
  const long long total = kInitialBalance * static_cast<long long>(accounts.size());
  REQUIRE(Format(dst.Cmd({"REPLICAOF", "127.0.0.1", std::to_string(redis.port())})) == "+OK");
  REQUIRE_MESSAGE(repl::WaitCaughtUp(src, dst, 60s), "no sync: " << repl::InfoStr(dst, "replication", "master_last_error"));

  // A WATCH on the replica, then a replicated block that writes the key.
  Client watcher(darter.port());
  REQUIRE(Format(watcher.Cmd({"WATCH", accounts[0]})) == "+OK");
  REQUIRE(Format(src.Cmd({"MULTI"})) == "+OK");
  src.Cmd({"INCRBY", accounts[0], "0"});
  src.Cmd({"SELECT", "2"});
  src.Cmd({"SET", "in-db2", "x"});
  REQUIRE(Format(src.Cmd({"EXEC"})) == "[:100, +OK, +OK]");
  REQUIRE(Format(src.Cmd({"SET", "after-block", "y"})) == "+OK");  // still db 2 on the primary
  REQUIRE(Format(src.Cmd({"SELECT", "0"})) == "+OK");
  REQUIRE(repl::WaitCaughtUp(src, dst, 30s));
  watcher.Cmd({"MULTI"});
  watcher.Cmd({"GET", accounts[0]});
  CHECK(Format(watcher.Cmd({"EXEC"})) == "(nil-array)");
  Client dst2(darter.port());
  REQUIRE(Format(dst2.Cmd({"SELECT", "2"})) == "+OK");
  CHECK(Format(dst2.Cmd({"MGET", "in-db2", "after-block"})) == "[\"x\", \"y\"]");

  // Transfers on the primary, readers on the replica.
  std::vector<std::string> mget = {"MGET"};
  mget.insert(mget.end(), accounts.begin(), accounts.end());
  Failures failures;
  std::atomic<bool> done{false};
  std::atomic<long> reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      Client c(darter.port());
      if (!c.ok()) return failures.Add("reader connect: " + c.error());
      for (int n = 0; n < kMaxOpsPerThread && !done.load(); ++n) {
        Reply reply = c.Cmd(mget);
        long long sum = 0;
        for (auto& e : reply.elements) sum += ToInt(e);
        if (reply.elements.size() != accounts.size() || sum != total)
          return failures.Add("torn replicated transfer: " + Format(reply));
        ++reads;
      }
    });
  }
  std::mt19937 rng(99);
  const auto deadline = Clock::now() + kLoadDuration;
  int transfers = 0;
  for (; transfers < 3000 && Clock::now() < deadline; ++transfers) {
    const std::string& a = accounts[rng() % accounts.size()];
    const std::string& b = accounts[rng() % accounts.size()];
    std::string amount = std::to_string(1 + rng() % 10);
    std::vector<Reply> r = src.Pipeline({{"MULTI"}, {"DECRBY", a, amount}, {"INCRBY", b, amount}, {"EXEC"}});
    if (r.size() != 4 || r[3].type != Reply::Type::kArray) {
      failures.Add("primary EXEC replied " + (r.size() == 4 ? Format(r[3]) : std::string("short")));
      break;
    }
  }
  CHECK(repl::WaitCaughtUp(src, dst, 30s));
  done = true;
  for (auto& t : readers) t.join();
  CHECK_MESSAGE(failures.count() == 0, failures.first());
  CHECK(reads > 0);
  CHECK(Format(dst.Cmd(mget)) == Format(src.Cmd(mget)));
  MESSAGE("replicated " << transfers << " transfer blocks; " << reads.load() << " consistent reads on the replica");
}

}  // namespace
}  // namespace darter::test
