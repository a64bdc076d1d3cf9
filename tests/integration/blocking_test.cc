// Blocking commands on a multi-threaded darter-server (--threads 2 and 4): waiters
// woken by writes from other clients and shards, FIFO order among waiters of one key,
// exactly-once serving of clients blocked on keys of several shards, conservation of
// elements under concurrent cross-shard BLMOVE, timeouts, CLIENT UNBLOCK, disconnects,
// XREAD/XREADGROUP BLOCK and BZPOPMIN.
//
// A waiter's order is made deterministic by waiting until INFO reports it blocked
// before the next one blocks. Concurrency checks are bounded by counts and deadlines;
// no assertion depends on timing.
//
// DARTER_IT_USE_REDIS=1 runs the same checks against redis-server.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <set>
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

const int kThreadCounts[] = {2, 4};

TEST_CASE("a blocked BLPOP is woken by another client's push, with pipelined commands after it") {
  for (int threads : kThreadCounts) {
    CAPTURE(threads);
    StartedServer server = StartServerUnderTest(threads);
    REQUIRE_MESSAGE(server.status.ok, server.status.message);
    Client admin(server.port());
    for (const char* key : {"k", "other", "{x}k", "user:1"}) {
      CAPTURE(key);
      Client waiter(server.port());
      waiter.Append({"ECHO", "before"});
      waiter.Append({"BLPOP", key, "0"});
      waiter.Append({"PING"});
      waiter.Flush();
      // The reply of a command pipelined before the blocking one arrives while it waits.
      CHECK(Format(waiter.ReadReply()) == "\"before\"");
      REQUIRE(WaitBlocked(admin, 1));
      CHECK(Format(admin.Cmd({"LPUSH", key, "v"})) == ":1");
      CHECK(Format(waiter.ReadReply()) == "[\"" + std::string(key) + "\", \"v\"]");
      CHECK(Format(waiter.ReadReply()) == "+PONG");
      CHECK(Format(admin.Cmd({"EXISTS", key})) == ":0");
      CHECK(BlockedClients(admin) == 0);
    }
  }
}

TEST_CASE("waiters on one key are served first come, first served; one push serves several") {
  for (int threads : kThreadCounts) {
    CAPTURE(threads);
    StartedServer server = StartServerUnderTest(threads);
    REQUIRE_MESSAGE(server.status.ok, server.status.message);
    Client admin(server.port());
    std::vector<std::unique_ptr<Client>> waiters;
    for (int i = 0; i < 3; ++i) {
      waiters.push_back(std::make_unique<Client>(server.port()));
      Send(*waiters.back(), {"BLPOP", "fifo", "0"});
      REQUIRE(WaitBlocked(admin, i + 1));
    }
    // One element at a time: the oldest waiter gets it.
    for (int i = 0; i < 3; ++i) {
      CHECK(Format(admin.Cmd({"RPUSH", "fifo", "e" + std::to_string(i)})) == ":1");
      CHECK(Format(waiters[i]->ReadReply()) == "[\"fifo\", \"e" + std::to_string(i) + "\"]");
    }
    // One RPUSH of three elements serves all three, in order.
    for (int i = 0; i < 3; ++i) {
      Send(*waiters[i], {"BRPOP", "fifo", "0"});
      REQUIRE(WaitBlocked(admin, i + 1));
    }
    CHECK(Format(admin.Cmd({"RPUSH", "fifo", "a", "b", "c"})) == ":3");
    CHECK(Format(waiters[0]->ReadReply()) == "[\"fifo\", \"c\"]");
    CHECK(Format(waiters[1]->ReadReply()) == "[\"fifo\", \"b\"]");
    CHECK(Format(waiters[2]->ReadReply()) == "[\"fifo\", \"a\"]");
    CHECK(Format(admin.Cmd({"EXISTS", "fifo"})) == ":0");
    // A multi-key waiter is served from the key that got data.
    Send(*waiters[0], {"BLPOP", "m1", "m2", "m3", "0"});
    REQUIRE(WaitBlocked(admin, 1));
    CHECK(Format(admin.Cmd({"RPUSH", "m3", "z"})) == ":1");
    CHECK(Format(waiters[0]->ReadReply()) == "[\"m3\", \"z\"]");
    // A multi-shard write (RPOPLPUSH into the waited key) wakes too.
    Send(*waiters[1], {"BLPOP", "dst1", "0"});
    REQUIRE(WaitBlocked(admin, 1));
    CHECK(Format(admin.Cmd({"RPUSH", "srcx", "moved"})) == ":1");
    CHECK(Format(admin.Cmd({"RPOPLPUSH", "srcx", "dst1"})) == "\"moved\"");
    CHECK(Format(waiters[1]->ReadReply()) == "[\"dst1\", \"moved\"]");
  }
}

TEST_CASE("RENAME, MOVE and SWAPDB bring data to a waited key") {
  for (int threads : kThreadCounts) {
    CAPTURE(threads);
    StartedServer server = StartServerUnderTest(threads);
    REQUIRE_MESSAGE(server.status.ok, server.status.message);
    Client admin(server.port());
    Client waiter(server.port());
    Send(waiter, {"BLPOP", "target", "0"});
    REQUIRE(WaitBlocked(admin, 1));
    CHECK(Format(admin.Cmd({"RPUSH", "tmp", "r"})) == ":1");
    CHECK(Format(admin.Cmd({"RENAME", "tmp", "target"})) == "+OK");
    CHECK(Format(waiter.ReadReply()) == "[\"target\", \"r\"]");

    Send(waiter, {"BLPOP", "target", "0"});
    REQUIRE(WaitBlocked(admin, 1));
    CHECK(Format(admin.Cmd({"SELECT", "1"})) == "+OK");
    CHECK(Format(admin.Cmd({"RPUSH", "target", "m"})) == ":1");
    CHECK(Format(admin.Cmd({"MOVE", "target", "0"})) == ":1");
    CHECK(Format(waiter.ReadReply()) == "[\"target\", \"m\"]");

    Send(waiter, {"BLPOP", "target", "0"});
    REQUIRE(WaitBlocked(admin, 1));
    CHECK(Format(admin.Cmd({"RPUSH", "target", "s"})) == ":1");  // in db 1
    CHECK(Format(admin.Cmd({"SWAPDB", "0", "1"})) == "+OK");
    CHECK(Format(waiter.ReadReply()) == "[\"target\", \"s\"]");
  }
}

TEST_CASE("MULTI/EXEC: waiters are served after the whole transaction; blocking commands inside never wait") {
  for (int threads : kThreadCounts) {
    CAPTURE(threads);
    StartedServer server = StartServerUnderTest(threads);
    REQUIRE_MESSAGE(server.status.ok, server.status.message);
    Client admin(server.port());
    Client waiter(server.port());
    for (const char* key : {"tx1", "tx2", "tx3", "{t}x"}) {
      CAPTURE(key);
      Send(waiter, {"BLPOP", key, "0"});
      REQUIRE(WaitBlocked(admin, 1));
      // The pop inside the transaction sees the push first; the waiter gets what is left
      // once EXEC finished, not an element in the middle of it.
      std::vector<Reply> r = admin.Pipeline({{"MULTI"},
                                             {"RPUSH", key, "a", "b"},
                                             {"LPOP", key},
                                             {"SET", "other", "x"},
                                             {"LPUSH", key, "c"},
                                             {"EXEC"}});
      REQUIRE(r.size() == 6);
      CHECK(Format(r[5]) == "[:2, \"a\", +OK, :2]");
      CHECK(Format(waiter.ReadReply()) == "[\"" + std::string(key) + "\", \"c\"]");
      CHECK(Format(admin.Cmd({"LRANGE", key, "0", "-1"})) == "[\"b\"]");
      CHECK(Format(admin.Cmd({"DEL", key})) == ":1");
    }
    // A transaction over keys of several shards wakes waiters on each.
    Client waiter2(server.port());
    Send(waiter, {"BLPOP", "mk1", "0"});
    REQUIRE(WaitBlocked(admin, 1));
    Send(waiter2, {"BZPOPMIN", "mk2", "0"});
    REQUIRE(WaitBlocked(admin, 2));
    std::vector<Reply> r = admin.Pipeline(
        {{"MULTI"}, {"RPUSH", "mk1", "v"}, {"ZADD", "mk2", "1", "m"}, {"EXEC"}});
    CHECK(Format(r[3]) == "[:1, :1]");
    CHECK(Format(waiter.ReadReply()) == "[\"mk1\", \"v\"]");
    CHECK(Format(waiter2.ReadReply()) == "[\"mk2\", \"m\", \"1\"]");
    // Inside MULTI nothing waits.
    r = admin.Pipeline({{"MULTI"}, {"BLPOP", "none", "0"}, {"BLMOVE", "none", "d", "LEFT", "LEFT", "0"},
                        {"XREAD", "BLOCK", "0", "STREAMS", "none", "$"}, {"EXEC"}});
    CHECK(Format(r[4]) == "[(nil-array), (nil), (nil-array)]");
  }
}

TEST_CASE("a client blocked on keys of several shards is served exactly once") {
  for (int threads : kThreadCounts) {
    CAPTURE(threads);
    StartedServer server = StartServerUnderTest(threads);
    REQUIRE_MESSAGE(server.status.ok, server.status.message);
    const std::vector<std::string> keys = {"qa", "qb", "qc", "qd", "queue:1", "queue:2"};
    constexpr int kConsumers = 8, kPushers = 3, kPerPusher = 600;
    constexpr int kTotal = kPushers * kPerPusher;
    Failures failures;
    std::mutex mu;
    std::map<std::string, int> received;
    std::atomic<int> received_count{0};
    std::atomic<bool> pushers_done{false};
    std::vector<std::thread> workers;
    for (int c = 0; c < kConsumers; ++c) {
      workers.emplace_back([&, c] {
        Client cl(server.port());
        std::vector<std::string> argv = {"BLPOP"};
        // Different argument orders, so that several shards race for one client.
        for (size_t i = 0; i < keys.size(); ++i) argv.push_back(keys[(i + c) % keys.size()]);
        argv.push_back("0.2");
        auto deadline = Clock::now() + 60s;
        while (Clock::now() < deadline && received_count.load() < kTotal) {
          Reply r = cl.Cmd(argv);
          if (r.type == Reply::Type::kNilArray) {
            if (pushers_done.load() && received_count.load() >= kTotal) break;
            continue;
          }
          if (r.type != Reply::Type::kArray || r.elements.size() != 2) {
            failures.Add("unexpected reply " + Format(r));
            return;
          }
          std::lock_guard<std::mutex> lock(mu);
          received[r.elements[1].str]++;
          received_count++;
        }
      });
    }
    for (int p = 0; p < kPushers; ++p) {
      workers.emplace_back([&, p] {
        Client cl(server.port());
        for (int i = 0; i < kPerPusher; ++i) {
          const std::string& key = keys[(i * 7 + p) % keys.size()];
          std::string v = "p" + std::to_string(p) + ":" + std::to_string(i);
          // Sometimes two elements to two keys in one pipeline.
          Reply r = cl.Cmd({"RPUSH", key, v});
          if (r.type != Reply::Type::kInteger) failures.Add("push failed " + Format(r));
        }
      });
    }
    for (int p = 0; p < kPushers; ++p) workers[kConsumers + p].join();
    pushers_done = true;
    for (int c = 0; c < kConsumers; ++c) workers[c].join();
    CHECK_MESSAGE(failures.count() == 0, failures.first());
    // Whatever no consumer took is still in the lists.
    Client admin(server.port());
    for (const auto& key : keys) {
      Reply r = admin.Cmd({"LRANGE", key, "0", "-1"});
      for (auto& e : r.elements) received[e.str]++;
    }
    int total = 0, duplicates = 0;
    for (auto& [v, n] : received) {
      total += n;
      if (n != 1) duplicates++;
    }
    CHECK(duplicates == 0);
    CHECK(received.size() == static_cast<size_t>(kTotal));
    CHECK(total == kTotal);
    CHECK(BlockedClients(admin) == 0);
  }
}

TEST_CASE("short timeouts and CLIENT UNBLOCK racing with pushes lose and duplicate nothing") {
  for (int threads : kThreadCounts) {
    CAPTURE(threads);
    StartedServer server = StartServerUnderTest(threads);
    REQUIRE_MESSAGE(server.status.ok, server.status.message);
    const std::vector<std::string> keys = {"ra", "rb", "rc", "{r}d"};
    constexpr int kConsumers = 6, kPerPusher = 800, kPushers = 2;
    constexpr int kTotal = kPerPusher * kPushers;
    Failures failures;
    std::mutex mu;
    std::map<std::string, int> received;
    std::atomic<bool> stop{false};
    std::vector<long long> ids(kConsumers, 0);
    std::atomic<int> ready{0};
    std::atomic<int> consumers_done{0};
    std::vector<std::thread> consumers, others;
    for (int c = 0; c < kConsumers; ++c) {
      consumers.emplace_back([&, c] {
        struct Done {
          std::atomic<int>& n;
          ~Done() { n++; }
        } done{consumers_done};
        Client cl(server.port());
        ids[c] = cl.Cmd({"CLIENT", "ID"}).integer;
        ready++;
        const char* timeouts[] = {"0.001", "0.005", "0.01", "0"};
        auto deadline = Clock::now() + 60s;
        for (int i = 0; !stop.load() && Clock::now() < deadline; ++i) {
          std::vector<std::string> argv = {"BLPOP", keys[(c + i) % keys.size()], keys[(c + i + 1) % keys.size()],
                                           timeouts[(c + i) % 4]};
          Reply r = cl.Cmd(argv);
          if (r.type == Reply::Type::kNilArray) continue;
          if (Format(r).rfind("-UNBLOCKED client unblocked via CLIENT UNBLOCK", 0) == 0) continue;
          if (r.type != Reply::Type::kArray || r.elements.size() != 2) {
            failures.Add("unexpected reply " + Format(r) + " to BLPOP timeout " + argv[3] +
                         (stop.load() ? " (after stop)" : ""));
            return;
          }
          std::lock_guard<std::mutex> lock(mu);
          received[r.elements[1].str]++;
        }
      });
    }
    auto ready_deadline = Clock::now() + 10s;
    while (ready.load() < kConsumers && Clock::now() < ready_deadline) std::this_thread::sleep_for(1ms);
    for (int p = 0; p < kPushers; ++p) {
      others.emplace_back([&, p] {
        Client cl(server.port());
        for (int i = 0; i < kPerPusher; ++i) {
          Reply r = cl.Cmd({"LPUSH", keys[(i + p) % keys.size()], "v" + std::to_string(p) + ":" + std::to_string(i)});
          if (r.type != Reply::Type::kInteger) failures.Add("push failed " + Format(r));
        }
      });
    }
    // CLIENT UNBLOCK at random moments (consumers blocked with timeout 0 need it).
    others.emplace_back([&] {
      Client cl(server.port());
      auto deadline = Clock::now() + 30s;
      for (int i = 0; i < 20000 && Clock::now() < deadline && !stop.load(); ++i)
        cl.Cmd({"CLIENT", "UNBLOCK", std::to_string(ids[i % kConsumers]), (i % 2) ? "TIMEOUT" : "ERROR"});
    });
    for (int p = 0; p < kPushers; ++p) others[p].join();
    // Let consumers drain what is left, then stop them.
    Client admin(server.port());
    auto drain_deadline = Clock::now() + 20s;
    while (Clock::now() < drain_deadline) {
      long long left = 0;
      for (const auto& k : keys) left += admin.Cmd({"LLEN", k}).integer;
      if (left == 0) break;
      std::this_thread::sleep_for(5ms);
    }
    stop = true;
    others.back().join();
    // Consumers blocked forever (timeout 0) are released by CLIENT UNBLOCK. A consumer
    // may have sent its last BLPOP ... 0 just before `stop` and the server may not have
    // read it yet, so blocked_clients == 0 does not mean no one will block again: keep
    // unblocking until every consumer has returned (bounded; a consumer's own read
    // timeout ends it anyway).
    auto release_deadline = Clock::now() + 30s;
    while (consumers_done.load() < kConsumers && Clock::now() < release_deadline) {
      for (long long id : ids) admin.Cmd({"CLIENT", "UNBLOCK", std::to_string(id)});
      std::this_thread::sleep_for(5ms);
    }
    for (auto& t : consumers) t.join();
    MESSAGE("served by BLPOP: " << received.size() << " of " << kTotal);
    for (const auto& key : keys)
      for (auto& e : admin.Cmd({"LRANGE", key, "0", "-1"}).elements) received[e.str]++;
    CHECK_MESSAGE(failures.count() == 0, failures.first());
    int duplicates = 0;
    for (auto& [v, n] : received)
      if (n != 1) duplicates++;
    CHECK(duplicates == 0);
    CHECK(received.size() == static_cast<size_t>(kTotal));
  }
}

TEST_CASE("concurrent BLMOVE across shards neither loses nor duplicates elements") {
  for (int threads : kThreadCounts) {
    CAPTURE(threads);
    StartedServer server = StartServerUnderTest(threads);
    REQUIRE_MESSAGE(server.status.ok, server.status.message);
    const std::vector<std::string> lists = {"la", "lb", "lc", "ld", "le"};
    constexpr int kElements = 40, kMovers = 6, kMovesPerMover = 400;
    Client admin(server.port());
    for (int i = 0; i < kElements; ++i)
      REQUIRE(admin.Cmd({"RPUSH", lists[i % 2], "e" + std::to_string(i)}).type == Reply::Type::kInteger);
    Failures failures;
    std::vector<std::thread> workers;
    for (int m = 0; m < kMovers; ++m) {
      workers.emplace_back([&, m] {
        Client cl(server.port());
        auto deadline = Clock::now() + 30s;
        for (int i = 0; i < kMovesPerMover && Clock::now() < deadline; ++i) {
          const std::string& from = lists[(i + m) % lists.size()];
          const std::string& to = lists[(i * 3 + m + 1) % lists.size()];
          Reply r = (i % 2) ? cl.Cmd({"BLMOVE", from, to, "LEFT", "RIGHT", "0.05"})
                            : cl.Cmd({"BRPOPLPUSH", from, to, "0.05"});
          if (r.type != Reply::Type::kString && r.type != Reply::Type::kNilArray)
            failures.Add("unexpected reply " + Format(r));
        }
      });
    }
    for (auto& w : workers) w.join();
    CHECK_MESSAGE(failures.count() == 0, failures.first());
    std::map<std::string, int> seen;
    for (const auto& l : lists)
      for (auto& e : admin.Cmd({"LRANGE", l, "0", "-1"}).elements) seen[e.str]++;
    CHECK(seen.size() == static_cast<size_t>(kElements));
    for (auto& [v, n] : seen) CHECK_MESSAGE(n == 1, v);
    // A waiting BLMOVE whose destination is on another shard gets the element once.
    Client waiter(server.port());
    for (const auto& l : lists) admin.Cmd({"DEL", l});
    Send(waiter, {"BLMOVE", "la", "lb", "RIGHT", "LEFT", "0"});
    REQUIRE(WaitBlocked(admin, 1));
    CHECK(Format(admin.Cmd({"RPUSH", "la", "x"})) == ":1");
    CHECK(Format(waiter.ReadReply()) == "\"x\"");
    CHECK(Format(admin.Cmd({"LRANGE", "lb", "0", "-1"})) == "[\"x\"]");
    CHECK(Format(admin.Cmd({"EXISTS", "la"})) == ":0");
  }
}

TEST_CASE("timeouts, CLIENT UNBLOCK and disconnects end the wait") {
  for (int threads : kThreadCounts) {
    CAPTURE(threads);
    StartedServer server = StartServerUnderTest(threads);
    REQUIRE_MESSAGE(server.status.ok, server.status.message);
    Client admin(server.port());
    Client waiter(server.port());
    CHECK(Format(waiter.Cmd({"BLPOP", "t1", "t2", "0.1"})) == "(nil-array)");
    CHECK(Format(waiter.Cmd({"BZPOPMIN", "t1", "0.1"})) == "(nil-array)");
    CHECK(Format(waiter.Cmd({"BLMOVE", "t1", "t2", "LEFT", "LEFT", "0.1"})) == "(nil-array)");
    CHECK(Format(waiter.Cmd({"XREAD", "BLOCK", "100", "STREAMS", "t3", "$"})) == "(nil-array)");
    CHECK(Format(waiter.Cmd({"HELLO", "3"})).size() > 0);
    CHECK(Format(waiter.Cmd({"BLPOP", "t1", "0.1"})) == "(null)");
    CHECK(Format(waiter.Cmd({"HELLO", "2"})).size() > 0);

    long long id = waiter.Cmd({"CLIENT", "ID"}).integer;
    std::string ids = std::to_string(id);
    CHECK(Format(admin.Cmd({"CLIENT", "UNBLOCK", ids})) == ":0");
    Send(waiter, {"BLPOP", "u", "0"});
    REQUIRE(WaitBlocked(admin, 1));
    CHECK(admin.Cmd({"CLIENT", "LIST", "ID", ids}).str.find(" flags=b ") != std::string::npos);
    CHECK(Format(admin.Cmd({"CLIENT", "UNBLOCK", ids})) == ":1");
    CHECK(Format(waiter.ReadReply()) == "(nil-array)");
    CHECK(admin.Cmd({"CLIENT", "LIST", "ID", ids}).str.find(" flags=N ") != std::string::npos);
    Send(waiter, {"BZPOPMAX", "u", "0"});
    REQUIRE(WaitBlocked(admin, 1));
    CHECK(Format(admin.Cmd({"CLIENT", "UNBLOCK", ids, "ERROR"})) == ":1");
    CHECK(Format(waiter.ReadReply()) == "-UNBLOCKED client unblocked via CLIENT UNBLOCK");
    CHECK(Format(admin.Cmd({"CLIENT", "UNBLOCK", ids, "ERROR"})) == ":0");

    // A client that disconnects while blocked leaves no waiter behind to take data.
    {
      std::optional<Client> gone(std::in_place, server.port());
      Send(*gone, {"BLPOP", "g1", "g2", "g3", "0"});
      REQUIRE(WaitBlocked(admin, 1));
      gone.reset();
    }
    CHECK(WaitBlocked(admin, 0));
    CHECK(Format(admin.Cmd({"RPUSH", "g1", "a"})) == ":1");
    CHECK(Format(admin.Cmd({"RPUSH", "g3", "b"})) == ":1");
    CHECK(Format(admin.Cmd({"LLEN", "g1"})) == ":1");
    CHECK(Format(admin.Cmd({"LLEN", "g3"})) == ":1");
    // CLIENT KILL of a blocked client.
    Client victim(server.port());
    std::string vid = std::to_string(victim.Cmd({"CLIENT", "ID"}).integer);
    Send(victim, {"BLPOP", "kk", "0"});
    REQUIRE(WaitBlocked(admin, 1));
    CHECK(Format(admin.Cmd({"CLIENT", "KILL", "ID", vid})) == ":1");
    CHECK(WaitBlocked(admin, 0));
    CHECK(Format(admin.Cmd({"RPUSH", "kk", "a"})) == ":1");
    CHECK(Format(admin.Cmd({"LLEN", "kk"})) == ":1");
  }
}

TEST_CASE("XREAD/XREADGROUP BLOCK woken by XADD, BZPOPMIN woken by ZADD") {
  for (int threads : kThreadCounts) {
    CAPTURE(threads);
    StartedServer server = StartServerUnderTest(threads);
    REQUIRE_MESSAGE(server.status.ok, server.status.message);
    Client admin(server.port());
    Client a(server.port()), b(server.port());
    CHECK(Format(admin.Cmd({"XADD", "s1", "1-1", "f", "old"})) == "\"1-1\"");
    // Two readers of '$' both get the new entry (XREAD does not consume).
    Send(a, {"XREAD", "BLOCK", "0", "STREAMS", "s1", "s2", "$", "$"});
    REQUIRE(WaitBlocked(admin, 1));
    Send(b, {"XREAD", "BLOCK", "0", "COUNT", "5", "STREAMS", "s1", "$"});
    REQUIRE(WaitBlocked(admin, 2));
    CHECK(Format(admin.Cmd({"XADD", "s1", "2-1", "f", "new"})) == "\"2-1\"");
    CHECK(Format(a.ReadReply()) == "[[\"s1\", [[\"2-1\", [\"f\", \"new\"]]]]]");
    CHECK(Format(b.ReadReply()) == "[[\"s1\", [[\"2-1\", [\"f\", \"new\"]]]]]");
    // A stream on another key of the same call.
    Send(a, {"XREAD", "BLOCK", "0", "STREAMS", "s1", "s2", "$", "$"});
    REQUIRE(WaitBlocked(admin, 1));
    CHECK(Format(admin.Cmd({"XADD", "s2", "5-1", "g", "h"})) == "\"5-1\"");
    CHECK(Format(a.ReadReply()) == "[[\"s2\", [[\"5-1\", [\"g\", \"h\"]]]]]");
    // XREADGROUP >: each new entry goes to one consumer.
    CHECK(Format(admin.Cmd({"XGROUP", "CREATE", "s1", "grp", "$"})) == "+OK");
    Send(a, {"XREADGROUP", "GROUP", "grp", "c1", "BLOCK", "0", "STREAMS", "s1", ">"});
    REQUIRE(WaitBlocked(admin, 1));
    Send(b, {"XREADGROUP", "GROUP", "grp", "c2", "BLOCK", "0", "STREAMS", "s1", ">"});
    REQUIRE(WaitBlocked(admin, 2));
    CHECK(Format(admin.Cmd({"XADD", "s1", "3-1", "f", "x"})) == "\"3-1\"");
    CHECK(Format(a.ReadReply()) == "[[\"s1\", [[\"3-1\", [\"f\", \"x\"]]]]]");
    CHECK(WaitBlocked(admin, 1));
    CHECK(Format(admin.Cmd({"XADD", "s1", "4-1", "f", "y"})) == "\"4-1\"");
    CHECK(Format(b.ReadReply()) == "[[\"s1\", [[\"4-1\", [\"f\", \"y\"]]]]]");
    CHECK(Format(admin.Cmd({"XPENDING", "s1", "grp"})).find(":2") == 1);
    // The stream or the group going away ends an XREADGROUP wait (not an XREAD one).
    Send(a, {"XREADGROUP", "GROUP", "grp", "c1", "BLOCK", "0", "STREAMS", "s1", ">"});
    REQUIRE(WaitBlocked(admin, 1));
    Send(b, {"XREAD", "BLOCK", "0", "STREAMS", "s1", "$"});
    REQUIRE(WaitBlocked(admin, 2));
    CHECK(Format(admin.Cmd({"XGROUP", "DESTROY", "s1", "grp"})) == ":1");
    CHECK(Format(a.ReadReply()) == "-NOGROUP the consumer group this client was blocked on no longer exists");
    CHECK(Format(admin.Cmd({"XGROUP", "CREATE", "s1", "grp", "$"})) == "+OK");
    Send(a, {"XREADGROUP", "GROUP", "grp", "c1", "BLOCK", "0", "STREAMS", "s1", ">"});
    REQUIRE(WaitBlocked(admin, 2));
    CHECK(Format(admin.Cmd({"DEL", "s1"})) == ":1");
    CHECK(Format(a.ReadReply()) == "-UNBLOCKED the stream key no longer exists");
    CHECK(WaitBlocked(admin, 1));
    CHECK(Format(admin.Cmd({"XADD", "s1", "9-1", "k", "v"})) == "\"9-1\"");
    CHECK(Format(b.ReadReply()) == "[[\"s1\", [[\"9-1\", [\"k\", \"v\"]]]]]");
    // BZPOPMIN / BZPOPMAX / BZMPOP.
    Send(a, {"BZPOPMIN", "z1", "z2", "0"});
    REQUIRE(WaitBlocked(admin, 1));
    Send(b, {"BZMPOP", "0", "1", "z2", "MAX", "COUNT", "5"});
    REQUIRE(WaitBlocked(admin, 2));
    CHECK(Format(admin.Cmd({"ZADD", "z2", "1", "m1", "2", "m2", "3", "m3"})) == ":3");
    CHECK(Format(a.ReadReply()) == "[\"z2\", \"m1\", \"1\"]");
    CHECK(Format(b.ReadReply()) == "[\"z2\", [[\"m3\", \"3\"], [\"m2\", \"2\"]]]");
    CHECK(Format(admin.Cmd({"EXISTS", "z2"})) == ":0");
    // BLMPOP with COUNT.
    Send(a, {"BLMPOP", "0", "2", "n1", "n2", "RIGHT", "COUNT", "2"});
    REQUIRE(WaitBlocked(admin, 1));
    CHECK(Format(admin.Cmd({"RPUSH", "n2", "a", "b", "c"})) == ":3");
    CHECK(Format(a.ReadReply()) == "[\"n2\", [\"c\", \"b\"]]");
  }
}

}  // namespace
}  // namespace darter::test
