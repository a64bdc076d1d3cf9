// Blocking commands and WATCH under hostile or awkward clients (darter-server --threads
// 2): clients blocked on thousands of keys, BLMOVE waiters whose destination holds the
// wrong type, chains of BLMOVE waiters, writes that change nothing under WATCH, and the
// ways a wait ends (disconnect, short timeouts, CLIENT UNBLOCK, MULTI, the key deleted,
// renamed or retyped). Each case ends with CheckServerHealthy.
//
// The expected replies are Redis 7.0's: DARTER_IT_USE_REDIS=1 runs the same cases
// against redis-server.
#include <doctest/doctest.h>
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/client.h"
#include "support/server_health.h"
#include "support/server_process.h"
#include "support/server_under_test.h"

namespace darter::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kMiB = 1024 * 1024;

// Indices of the clients that have something to read within `wait`.
std::vector<size_t> Readable(std::vector<std::unique_ptr<Client>>& clients, std::chrono::milliseconds wait) {
  std::vector<pollfd> fds;
  for (auto& c : clients) fds.push_back(pollfd{c->context()->fd, POLLIN, 0});
  std::vector<size_t> out;
  if (poll(fds.data(), fds.size(), static_cast<int>(wait.count())) <= 0) return out;
  for (size_t i = 0; i < fds.size(); ++i)
    if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) out.push_back(i);
  return out;
}

// Measures PING round trips on its own connection until stopped.
class Pinger {
 public:
  explicit Pinger(int port) : thread_([this, port] { Run(port); }) {}
  ~Pinger() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  long long max_ms() const { return max_ms_; }
  int failures() const { return failures_; }

 private:
  void Run(int port) {
    Client c(port, 5s);
    while (!stop_) {
      auto t0 = Clock::now();
      Reply r = c.Cmd({"PING"});
      long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
      if (Format(r) != "+PONG") failures_++;
      max_ms_ = std::max<long long>(max_ms_, ms);
      std::this_thread::sleep_for(10ms);
    }
  }
  std::atomic<bool> stop_{false};
  std::atomic<long long> max_ms_{0};
  std::atomic<int> failures_{0};
  std::thread thread_;
};

void CheckHealthy(StartedServer& server, uint64_t max_rss) {
  HealthReport h = CheckServerHealthy(*server.process, max_rss);
  CHECK_MESSAGE(h.ok, h.message);
}

TEST_CASE("50 clients blocked on 10,000 keys each: PING stays fast, one push serves one, leaving frees all") {
  StartedServer server = StartServerUnderTest(2);
  REQUIRE_MESSAGE(server.status.ok, server.status.message);
  const int port = server.port();
  Client admin(port);
  const uint64_t base_rss = ResidentBytes(server.process->pid());
  constexpr int kClients = 50;
  constexpr int kKeys = 10000;
  std::vector<std::string> argv{"BLPOP"};
  for (int i = 0; i < kKeys; ++i) argv.push_back("bk" + std::to_string(i));
  argv.push_back("0");

  Pinger pinger(port);
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<Client>(port, 30s));
    REQUIRE(clients.back()->ok());
    Send(*clients.back(), argv);
  }
  REQUIRE(WaitBlocked(admin, kClients, 30s));
  CHECK(pinger.max_ms() < 1000);

  // One element: exactly one client is served, promptly.
  auto t0 = Clock::now();
  CHECK(Format(admin.Cmd({"RPUSH", "bk0", "x"})) == ":1");
  std::vector<size_t> ready = Readable(clients, 1000ms);
  CHECK(Clock::now() - t0 < 1s);
  REQUIRE(ready.size() == 1);
  std::this_thread::sleep_for(200ms);
  CHECK(Readable(clients, 0ms).size() == 1);
  CHECK(Format(clients[ready[0]]->ReadReply()) == "[\"bk0\", \"x\"]");
  CHECK(Format(admin.Cmd({"EXISTS", "bk0"})) == ":0");
  CHECK(BlockedClients(admin) == kClients - 1);

  // A push to a key in the middle of everyone's list serves the oldest waiter.
  CHECK(Format(admin.Cmd({"RPUSH", "bk5000", "y"})) == ":1");
  ready = Readable(clients, 1000ms);
  REQUIRE(ready.size() == 1);
  CHECK(Format(clients[ready[0]]->ReadReply()) == "[\"bk5000\", \"y\"]");

  // Keyless writes have every waited key looked at, once.
  auto t1 = Clock::now();
  CHECK(Format(admin.Cmd({"FLUSHALL"})) == "+OK");
  CHECK(Format(admin.Cmd({"SWAPDB", "0", "1"})) == "+OK");
  CHECK(Format(admin.Cmd({"PING"})) == "+PONG");
  CHECK(Clock::now() - t1 < 1s);
  CHECK(BlockedClients(admin) == kClients - 2);

  clients.clear();
  CHECK(WaitBlocked(admin, 0, 10s));
  // The registry is empty: a push now stays in the list.
  CHECK(Format(admin.Cmd({"RPUSH", "bk1", "z"})) == ":1");
  std::this_thread::sleep_for(50ms);
  CHECK(Format(admin.Cmd({"LLEN", "bk1"})) == ":1");
  pinger.Stop();
  CHECK(pinger.failures() == 0);
  CHECK(pinger.max_ms() < 1000);
  CheckHealthy(server, base_rss + 96 * kMiB);
}

TEST_CASE("BRPOPLPUSH: a waiter whose destination is not a list gets WRONGTYPE and the next waiter is served") {
  for (int threads : {2, 4}) {
    CAPTURE(threads);
    StartedServer server = StartServerUnderTest(threads);
    REQUIRE_MESSAGE(server.status.ok, server.status.message);
    Client admin(server.port());
    CHECK(Format(admin.Cmd({"SET", "target1", "nolist"})) == "+OK");
    Client a(server.port(), 5s), b(server.port(), 5s);
    Send(a, {"BRPOPLPUSH", "blist", "target1", "0"});
    REQUIRE(WaitBlocked(admin, 1));
    Send(b, {"BRPOPLPUSH", "blist", "target2", "0"});
    REQUIRE(WaitBlocked(admin, 2));
    CHECK(Format(admin.Cmd({"LPUSH", "blist", "foo"})) == ":1");
    CHECK(Format(a.ReadReply()) == "-WRONGTYPE Operation against a key holding the wrong kind of value");
    CHECK(Format(b.ReadReply()) == "\"foo\"");
    CHECK(Format(admin.Cmd({"LRANGE", "target2", "0", "-1"})) == "[\"foo\"]");
    CHECK(Format(admin.Cmd({"EXISTS", "blist"})) == ":0");
    CHECK(Format(admin.Cmd({"GET", "target1"})) == "\"nolist\"");
    CHECK(BlockedClients(admin) == 0);
    // The same with BLMOVE, the element pushed by a multi-key command.
    Send(a, {"BLMOVE", "blist", "target1", "RIGHT", "LEFT", "0"});
    REQUIRE(WaitBlocked(admin, 1));
    Send(b, {"BLMOVE", "blist", "target3", "RIGHT", "LEFT", "0"});
    REQUIRE(WaitBlocked(admin, 2));
    CHECK(Format(admin.Cmd({"RPUSH", "src", "bar"})) == ":1");
    CHECK(Format(admin.Cmd({"LMOVE", "src", "blist", "LEFT", "LEFT"})) == "\"bar\"");
    CHECK(Format(a.ReadReply()) == "-WRONGTYPE Operation against a key holding the wrong kind of value");
    CHECK(Format(b.ReadReply()) == "\"bar\"");
    CHECK(Format(admin.Cmd({"LRANGE", "target3", "0", "-1"})) == "[\"bar\"]");
    CheckHealthy(server, 256 * kMiB);
  }
}

// A: BLMOVE l1 l2, B: BLMOVE l2 l3, then RPUSH l1 foo. Redis serves the chain before it
// replies to the pusher, so a client that has seen the RPUSH reply finds foo in l3 only,
// and nobody ever sees the element twice (or, inside MULTI, anywhere but one list).
TEST_CASE("a chain of BLMOVE waiters is served before the push is answered") {
  StartedServer server = StartServerUnderTest(2);
  REQUIRE_MESSAGE(server.status.ok, server.status.message);
  const int port = server.port();
  Client admin(port), pusher(port, 5s), a(port, 5s), b(port, 5s);
  const std::vector<std::vector<std::string>> rounds = {
      {"list1", "list2", "list3"}, {"{x}1", "{x}2", "{x}3"}, {"c1", "{c1}2", "c3"}, {"d1", "d2", "{d1}3"},
      {"e1", "e2", "e3"}};
  constexpr int kIterations = 60;
  for (const auto& keys : rounds) {
    CAPTURE(keys[0] + " " + keys[1] + " " + keys[2]);
    // state: 2 * iteration + 1 from the RPUSH reply until the lists are reset.
    std::atomic<int> state{0};
    std::atomic<bool> stop{false};
    Failures failures;
    std::atomic<long> checked{0};
    std::thread multi_reader([&] {
      Client r(port, 5s);
      while (!stop) {
        int s0 = state;
        std::vector<Reply> rep = r.Pipeline({{"MULTI"},
                                             {"LRANGE", keys[0], "0", "-1"},
                                             {"LRANGE", keys[1], "0", "-1"},
                                             {"LRANGE", keys[2], "0", "-1"},
                                             {"EXEC"}});
        int s1 = state;
        if (rep.size() != 5 || rep[4].elements.size() != 3) {
          failures.Add("MULTI reader got " + (rep.empty() ? std::string("nothing") : Format(rep.back())));
          return;
        }
        size_t total = 0;
        for (auto& l : rep[4].elements) total += l.elements.size();
        if (total > 1) failures.Add("MULTI saw " + Format(rep[4]));
        if (s0 == s1 && (s0 & 1)) {
          checked++;
          if (Format(rep[4]) != "[[], [], [\"foo\"]]") failures.Add("after the push reply MULTI saw " + Format(rep[4]));
        }
      }
    });
    std::thread llen_reader([&] {
      Client r(port, 5s);
      while (!stop) {
        int s0 = state;
        std::string got;
        for (int i = 2; i >= 0; --i) got += Format(r.Cmd({"LLEN", keys[i]}));
        int s1 = state;
        if (s0 == s1 && (s0 & 1) && got != ":1:0:0") failures.Add("after the push reply LLEN l3 l2 l1 gave " + got);
      }
    });
    for (int i = 0; i < kIterations && failures.count() == 0; ++i) {
      Send(a, {"BLMOVE", keys[0], keys[1], "RIGHT", "LEFT", "0"});
      REQUIRE(WaitBlocked(admin, 1));
      Send(b, {"BLMOVE", keys[1], keys[2], "LEFT", "RIGHT", "0"});
      REQUIRE(WaitBlocked(admin, 2));
      CHECK(Format(pusher.Cmd({"RPUSH", keys[0], "foo"})) == ":1");
      state = 2 * i + 1;
      CHECK(Format(pusher.Cmd({"LRANGE", keys[2], "0", "-1"})) == "[\"foo\"]");
      CHECK(Format(a.ReadReply()) == "\"foo\"");
      CHECK(Format(b.ReadReply()) == "\"foo\"");
      std::this_thread::sleep_for(2ms);
      state = 2 * i + 2;
      CHECK(Format(admin.Cmd({"DEL", keys[2]})) == ":1");
    }
    stop = true;
    multi_reader.join();
    llen_reader.join();
    CHECK_MESSAGE(failures.count() == 0, failures.first());
  }
  CheckHealthy(server, 256 * kMiB);
}

// A write that changes nothing does not touch a watched key (Redis 7.0.15's replies,
// WATCH k; MULTI; PING; <other client's command>; EXEC).
struct WatchCase {
  const char* name;
  std::vector<std::vector<std::string>> setup;
  std::vector<std::string> command;
  bool aborts;
};

TEST_CASE("WATCH: only writes that change the key abort EXEC") {
  const std::vector<WatchCase> cases = {
      {"SMOVE of a member already in dst", {{"SADD", "src", "a", "b"}, {"SADD", "k", "a"}}, {"SMOVE", "src", "k", "a"}, false},
      {"SMOVE of a member not in src", {{"SADD", "src", "a"}, {"SADD", "k", "x"}}, {"SMOVE", "src", "k", "zz"}, false},
      {"SMOVE src==dst", {{"SADD", "k", "a"}}, {"SMOVE", "k", "k", "a"}, false},
      {"SMOVE into dst", {{"SADD", "src", "a"}, {"SADD", "k", "x"}}, {"SMOVE", "src", "k", "a"}, true},
      {"SMOVE out of src", {{"SADD", "k", "a"}}, {"SMOVE", "k", "dst", "a"}, true},
      {"SREM of an absent member", {{"SADD", "k", "a"}}, {"SREM", "k", "zz"}, false},
      {"SREM of the last member", {{"SADD", "k", "a"}}, {"SREM", "k", "a"}, true},
      {"HDEL of an absent field", {{"HSET", "k", "f", "v"}}, {"HDEL", "k", "zz"}, false},
      {"ZREM of an absent member", {{"ZADD", "k", "1", "a"}}, {"ZREM", "k", "zz"}, false},
      {"LREM with no match", {{"RPUSH", "k", "a"}}, {"LREM", "k", "0", "zz"}, false},
      {"EXPIRE of a missing key", {}, {"EXPIRE", "k", "100"}, false},
      {"PERSIST without a TTL", {{"SET", "k", "v"}}, {"PERSIST", "k"}, false},
      {"SETRANGE with an empty value", {{"SET", "k", "v"}}, {"SETRANGE", "k", "0", ""}, false},
      {"SETRANGE empty on a missing key", {}, {"SETRANGE", "k", "0", ""}, false},
      {"APPEND of an empty string", {{"SET", "k", "v"}}, {"APPEND", "k", ""}, true},
      {"SADD of an existing member", {{"SADD", "k", "a"}}, {"SADD", "k", "a"}, false},
      {"HSET to the same value", {{"HSET", "k", "f", "v"}}, {"HSET", "k", "f", "v"}, true},
      {"ZADD with the same score", {{"ZADD", "k", "1", "a"}}, {"ZADD", "k", "1", "a"}, false},
      {"SET to the same value", {{"SET", "k", "v"}}, {"SET", "k", "v"}, true},
      {"DEL of a missing key", {}, {"DEL", "k"}, false},
      {"INCRBY 0", {{"SET", "k", "1"}}, {"INCRBY", "k", "0"}, true},
      {"LPUSHX on a missing key", {}, {"LPUSHX", "k", "a"}, false},
      {"ZREMRANGEBYSCORE removing nothing", {{"ZADD", "k", "1", "a"}}, {"ZREMRANGEBYSCORE", "k", "5", "6"}, false},
      {"EXPIRE NX on a key with a TTL", {{"SET", "k", "v", "EX", "100"}}, {"EXPIRE", "k", "200", "NX"}, false},
      {"HSETNX of an existing field", {{"HSET", "k", "f", "v"}}, {"HSETNX", "k", "f", "w"}, false},
      {"SETNX of an existing key", {{"SET", "k", "v"}}, {"SETNX", "k", "w"}, false},
      {"XDEL of an absent id", {{"XADD", "k", "1-1", "f", "v"}}, {"XDEL", "k", "9-9"}, false},
      {"LSET to the same value", {{"RPUSH", "k", "a"}}, {"LSET", "k", "0", "a"}, true},
      {"PFADD changing nothing", {{"PFADD", "k", "a"}}, {"PFADD", "k", "a"}, false},
  };
  StartedServer server = StartServerUnderTest(2);
  REQUIRE_MESSAGE(server.status.ok, server.status.message);
  Client a(server.port()), b(server.port());
  for (const WatchCase& c : cases) {
    CAPTURE(std::string(c.name));
    CHECK(Format(a.Cmd({"FLUSHALL"})) == "+OK");
    for (auto& s : c.setup) a.Cmd(s);
    CHECK(Format(a.Cmd({"WATCH", "k"})) == "+OK");
    CHECK(Format(a.Cmd({"MULTI"})) == "+OK");
    CHECK(Format(a.Cmd({"PING"})) == "+QUEUED");
    b.Cmd(c.command);
    Reply exec = a.Cmd({"EXEC"});
    CHECK(Format(exec) == std::string(c.aborts ? "(nil-array)" : "[+PONG]"));
  }
  // The case the rule is for: an SMOVE that leaves the watched destination as it was,
  // with the source on the destination's shard ({dst}src) and on others.
  for (const char* src : {"{dst}src", "src", "src2", "src3", "src4"}) {
    CAPTURE(std::string(src));
    CHECK(Format(a.Cmd({"FLUSHALL"})) == "+OK");
    a.Cmd({"SADD", src, "a", "b"});
    a.Cmd({"SADD", "dst", "a"});
    CHECK(Format(a.Cmd({"WATCH", "dst"})) == "+OK");
    CHECK(Format(a.Cmd({"MULTI"})) == "+OK");
    CHECK(Format(a.Cmd({"SADD", "dst", "c"})) == "+QUEUED");
    CHECK(Format(b.Cmd({"SMOVE", src, "dst", "a"})) == ":1");
    CHECK(Format(a.Cmd({"EXEC"})) == "[:1]");
    CHECK(Format(a.Cmd({"SMEMBERS", src})) == "[\"b\"]");
    // Watching the source instead: it changed.
    a.Cmd({"SADD", src, "a"});
    CHECK(Format(a.Cmd({"WATCH", src})) == "+OK");
    CHECK(Format(a.Cmd({"MULTI"})) == "+OK");
    CHECK(Format(a.Cmd({"PING"})) == "+QUEUED");
    CHECK(Format(b.Cmd({"SMOVE", src, "dst", "a"})) == ":1");
    CHECK(Format(a.Cmd({"EXEC"})) == "(nil-array)");
  }
  CheckHealthy(server, 256 * kMiB);
}

TEST_CASE("the ways a wait ends, as in Redis") {
  StartedServer server = StartServerUnderTest(2);
  REQUIRE_MESSAGE(server.status.ok, server.status.message);
  const int port = server.port();
  Client admin(port);

  SUBCASE("the key retyped, deleted, renamed into, or written and deleted by one MULTI") {
    Client w(port, 5s);
    Send(w, {"BLPOP", "k", "0"});
    REQUIRE(WaitBlocked(admin, 1));
    CHECK(Format(admin.Cmd({"SET", "k", "str"})) == "+OK");  // not a list: keeps waiting
    std::this_thread::sleep_for(50ms);
    CHECK(BlockedClients(admin) == 1);
    CHECK(Format(admin.Cmd({"DEL", "k"})) == ":1");
    CHECK(Format(admin.Cmd({"LPUSH", "k", "x"})) == ":1");
    CHECK(Format(w.ReadReply()) == "[\"k\", \"x\"]");

    Send(w, {"BLPOP", "k", "0"});
    REQUIRE(WaitBlocked(admin, 1));
    CHECK(Format(admin.Cmd({"LPUSH", "src", "y"})) == ":1");
    CHECK(Format(admin.Cmd({"RENAME", "src", "k"})) == "+OK");
    CHECK(Format(w.ReadReply()) == "[\"k\", \"y\"]");
    CHECK(Format(admin.Cmd({"EXISTS", "k"})) == ":0");

    Send(w, {"BLPOP", "k", "0"});
    REQUIRE(WaitBlocked(admin, 1));
    CHECK(Format(admin.Cmd({"MULTI"})) == "+OK");
    admin.Cmd({"LPUSH", "k", "z"});
    admin.Cmd({"DEL", "k"});
    CHECK(Format(admin.Cmd({"EXEC"})) == "[:1, :1]");
    std::this_thread::sleep_for(50ms);
    CHECK(BlockedClients(admin) == 1);  // nothing left when the transaction ended
    CHECK(Format(admin.Cmd({"LPUSH", "k", "q"})) == ":1");
    CHECK(Format(w.ReadReply()) == "[\"k\", \"q\"]");
  }

  SUBCASE("short timeouts, CLIENT UNBLOCK TIMEOUT and ERROR") {
    Client w(port, 5s);
    auto t0 = Clock::now();
    CHECK(Format(w.Cmd({"BLPOP", "none", "0.01"})) == "(nil-array)");
    CHECK(Clock::now() - t0 < 1s);
    CHECK(Format(w.Cmd({"BLMOVE", "none", "d", "LEFT", "RIGHT", "0.01"})) == "(nil-array)");
    CHECK(Format(w.Cmd({"BZPOPMIN", "none", "0.01"})) == "(nil-array)");
    long long id = w.Cmd({"CLIENT", "ID"}).integer;
    Send(w, {"BLPOP", "none", "0"});
    REQUIRE(WaitBlocked(admin, 1));
    CHECK(Format(admin.Cmd({"CLIENT", "UNBLOCK", std::to_string(id), "TIMEOUT"})) == ":1");
    CHECK(Format(w.ReadReply()) == "(nil-array)");
    Send(w, {"BRPOPLPUSH", "none", "d", "0"});
    REQUIRE(WaitBlocked(admin, 1));
    CHECK(Format(admin.Cmd({"CLIENT", "UNBLOCK", std::to_string(id), "ERROR"})) == ":1");
    CHECK(Format(w.ReadReply()) == "-UNBLOCKED client unblocked via CLIENT UNBLOCK");
    CHECK(Format(admin.Cmd({"CLIENT", "UNBLOCK", std::to_string(id)})) == ":0");
    CHECK(Format(w.Cmd({"PING"})) == "+PONG");
  }

  SUBCASE("blocked clients that disconnect leave nothing behind") {
    std::vector<std::unique_ptr<Client>> gone;
    for (int i = 0; i < 20; ++i) {
      gone.push_back(std::make_unique<Client>(port, 5s));
      if (i % 2) Send(*gone.back(), {"BLMOVE", "gone", "dst", "LEFT", "RIGHT", "0"});
      else Send(*gone.back(), {"BLPOP", "gone", "gone2", "0"});
    }
    REQUIRE(WaitBlocked(admin, 20));
    gone.clear();
    CHECK(WaitBlocked(admin, 0));
    CHECK(Format(admin.Cmd({"RPUSH", "gone", "kept"})) == ":1");
    std::this_thread::sleep_for(50ms);
    CHECK(Format(admin.Cmd({"LRANGE", "gone", "0", "-1"})) == "[\"kept\"]");
    CHECK(Format(admin.Cmd({"EXISTS", "dst"})) == ":0");
  }

  SUBCASE("inside MULTI the commands do not block") {
    Client w(port, 5s);
    CHECK(Format(w.Cmd({"MULTI"})) == "+OK");
    w.Cmd({"BLPOP", "none", "0"});
    w.Cmd({"BLMOVE", "none", "d", "LEFT", "RIGHT", "0"});
    w.Cmd({"BZPOPMIN", "none", "0"});
    w.Cmd({"BLMPOP", "0", "1", "none", "LEFT"});
    CHECK(Format(w.Cmd({"EXEC"})) == "[(nil-array), (nil), (nil-array), (nil-array)]");
  }
  CheckHealthy(server, 256 * kMiB);
}

}  // namespace
}  // namespace darter::test
