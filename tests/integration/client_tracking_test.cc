// Client-side caching (CLIENT TRACKING) on darter-server --threads 2, keys on both shards,
// the tracking client and the writer on different threads; each scenario also runs on
// redis-server in the same test and the observations are compared: invalidation pushes
// (RESP3), REDIRECT to a subscribed RESP2 client, a broken redirect, BCAST prefixes,
// OPTIN/OPTOUT/NOLOOP, the null invalidation of FLUSHALL, expiry, TRACKINGINFO/GETREDIR
// replies and errors, and tracking-table-max-keys.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "replication_support.h"
#include "support/client.h"
#include "support/reply.h"
#include "support/server_health.h"
#include "support/server_process.h"

namespace darter::test {
namespace {

using namespace std::chrono_literals;
using repl::InfoInt;

constexpr uint64_t kRssBound = 256ull << 20;
constexpr auto kTimeout = std::chrono::seconds(2);

// Ten keys: with two shards some hash to each.
std::vector<std::string> Keys(const std::string& prefix, int n = 10) {
  std::vector<std::string> keys;
  for (int i = 0; i < n; ++i) keys.push_back(prefix + std::to_string(i));
  return keys;
}

// An asynchronous message: a RESP3 push, or a pub/sub message of a RESP2 subscriber.
bool IsMessage(const Reply& r) {
  return r.type == Reply::Type::kPush ||
         (r.type == Reply::Type::kArray && !r.elements.empty() && r.elements[0].str == "message");
}

// A message formatted for comparison ("invalidate k", "invalidate <null>", ...), the keys
// of one message sorted.
std::string Describe(const Reply& r) {
  std::string line;
  for (size_t j = 0; j < r.elements.size(); ++j) {
    const Reply& e = r.elements[j];
    if (j) line += ' ';
    if (e.type == Reply::Type::kArray) {
      std::vector<std::string> keys;
      for (const Reply& k : e.elements) keys.push_back(k.str);
      std::sort(keys.begin(), keys.end());
      for (size_t k = 0; k < keys.size(); ++k) line += (k ? " " : "") + keys[k];
    } else if (e.type == Reply::Type::kNull || e.type == Reply::Type::kNil || e.type == Reply::Type::kNilArray) {
      line += "<null>";
    } else if (e.type == Reply::Type::kInteger) {
      line += "<int>";
    } else {
      line += e.str;
    }
  }
  return (r.type == Reply::Type::kPush ? ">" : "*") + line;
}

// A client whose command replies skip the messages that arrive before them (kept for
// DrainPushes): invalidations may come at any time.
struct Conn {
  explicit Conn(int port) : c(port, kTimeout) {}
  Reply Cmd(const std::vector<std::string>& argv) {
    c.Append(argv);
    c.Flush();
    for (int i = 0; i < 100000; ++i) {
      Reply r = c.ReadReply();
      if (!IsMessage(r)) return r;
      pending.push_back(Describe(r));
    }
    return Reply{};
  }
  Client c;
  std::vector<std::string> pending;
};

// Sends PING and reads until its reply; returns every message read before it (and those
// read before by Cmd), sorted.
std::vector<std::string> DrainPushes(Conn& conn) {
  Reply pong = conn.Cmd({"PING"});
  std::vector<std::string> out;
  out.swap(conn.pending);
  if (pong.IsIoError()) out.push_back("<io-error " + pong.str + ">");
  std::sort(out.begin(), out.end());
  return out;
}

// Waits (bounded) until DrainPushes has gathered at least `n` pushes.
std::vector<std::string> WaitPushes(Conn& c, size_t n) {
  std::vector<std::string> all;
  auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (all.size() < n && std::chrono::steady_clock::now() < deadline) {
    auto more = DrainPushes(c);
    all.insert(all.end(), more.begin(), more.end());
    if (all.size() < n) std::this_thread::sleep_for(20ms);
  }
  std::sort(all.begin(), all.end());
  return all;
}

// Runs `scenario` on darter (--threads 2) and on redis-server, and compares the logs.
void Differential(const std::function<std::vector<std::string>(int port)>& scenario) {
  StartedServer d = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(d.status.ok, d.status.message);
  StartedServer r = StartRedis();
  REQUIRE_MESSAGE(r.status.ok, r.status.message);
  std::vector<std::string> got = scenario(d.port());
  std::vector<std::string> want = scenario(r.port());
  CHECK(!want.empty());
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK_MESSAGE(got[i] == want[i], "step " << i);
  HealthReport h = CheckServerHealthy(*d.process, kRssBound);
  CHECK_MESSAGE(h.ok, h.message);
}

bool Has(const std::vector<std::string>& log, const std::string& line) {
  return std::find(log.begin(), log.end(), line) != log.end();
}

void Add(std::vector<std::string>& log, const std::vector<std::string>& lines) {
  log.insert(log.end(), lines.begin(), lines.end());
  log.push_back("--");
}

std::string Id(Conn& c) { return std::to_string(c.Cmd({"CLIENT", "ID"}).integer); }

// Replaces `id` by <id> in `s` (client ids differ between the servers).
std::string NoId(std::string s, const std::string& id) {
  const std::string from = ":" + id;
  for (size_t at = 0; (at = s.find(from, at)) != std::string::npos; ++at) {
    size_t end = at + from.size();
    if (end < s.size() && std::isdigit(static_cast<unsigned char>(s[end]))) continue;
    s.replace(at + 1, id.size(), "<id>");
  }
  return s;
}

}  // namespace

TEST_CASE("RESP3 tracking: reads on both shards are invalidated once by another client's writes") {
  Differential([](int port) {
    std::vector<std::string> log;
    Conn tracker(port), writer(port);
    tracker.Cmd({"HELLO", "3"});
    log.push_back(Format(tracker.Cmd({"CLIENT", "TRACKING", "on"})));
    auto keys = Keys("k");
    for (auto& k : keys) writer.Cmd({"SET", k, "v"});
    for (auto& k : keys) tracker.Cmd({"GET", k});
    tracker.Cmd({"MGET", "m1", "m2", "m3"});
    log.push_back("keys " + std::to_string(InfoInt(writer.c, "stats", "tracking_total_keys")));
    log.push_back("clients " + std::to_string(InfoInt(writer.c, "clients", "tracking_clients")));
    std::vector<std::string> mset{"MSET"};
    for (auto& k : keys) mset.insert(mset.end(), {k, "w"});
    writer.Cmd(mset);
    writer.Cmd({"DEL", "m1", "m2", "m3"});  // none exists: no write, no invalidation
    writer.Cmd({"SET", "m2", "x"});
    Add(log, WaitPushes(tracker, 11));
    // Forgotten once invalidated: a second write sends nothing.
    writer.Cmd({"SET", "k1", "again"});
    Add(log, DrainPushes(tracker));
    log.push_back("keys " + std::to_string(InfoInt(writer.c, "stats", "tracking_total_keys")));
    CHECK(Has(log, ">invalidate k0"));
    CHECK(Has(log, ">invalidate k9"));
    CHECK(Has(log, ">invalidate m2"));
    // Writes inside MULTI/EXEC and from a script invalidate too.
    for (auto& k : keys) tracker.Cmd({"GET", k});
    writer.Cmd({"MULTI"});
    writer.Cmd({"SET", "k0", "tx"});
    writer.Cmd({"APPEND", "k5", "tx"});
    writer.Cmd({"EXEC"});
    writer.Cmd({"EVAL", "redis.call('set', KEYS[1], 's') return redis.call('del', KEYS[2])", "2", "k7", "k8"});
    auto more = WaitPushes(tracker, 4);
    CHECK(Has(more, ">invalidate k0"));
    CHECK(Has(more, ">invalidate k5"));
    CHECK(Has(more, ">invalidate k7"));
    CHECK(Has(more, ">invalidate k8"));
    Add(log, more);
    return log;
  });
}

TEST_CASE("An invalidation of the client's own write follows that write's reply") {
  Differential([](int port) {
    std::vector<std::string> log;
    Client tracker(port, kTimeout);
    tracker.Cmd({"HELLO", "3"});
    log.push_back(Format(tracker.Cmd({"CLIENT", "TRACKING", "on"})));
    for (auto& k : Keys("own")) {
      // Keys on both shards: the one of the client's thread and the other.
      tracker.Append({"GET", k});
      tracker.Append({"SET", k, "v"});
      tracker.Append({"PING"});
      tracker.Flush();
      for (int i = 0; i < 4; ++i) log.push_back(Format(tracker.ReadReply()));
    }
    return log;
  });
}

TEST_CASE("Reads inside MULTI/EXEC are remembered; CLIENT CACHING YES carries into the block") {
  Differential([](int port) {
    std::vector<std::string> log;
    Conn tracker(port), optin(port), writer(port);
    tracker.Cmd({"HELLO", "3"});
    optin.Cmd({"HELLO", "3"});
    log.push_back(Format(tracker.Cmd({"CLIENT", "TRACKING", "on"})));
    for (auto& k : Keys("x")) writer.Cmd({"SET", k, "v"});
    tracker.Cmd({"MULTI"});
    for (int i = 0; i < 5; ++i) tracker.Cmd({"GET", "x" + std::to_string(i)});  // read
    for (int i = 5; i < 10; ++i) tracker.Cmd({"SET", "x" + std::to_string(i), "t"});  // written only
    log.push_back(Format(tracker.Cmd({"EXEC"})));
    Add(log, DrainPushes(tracker));
    log.push_back(Format(optin.Cmd({"CLIENT", "TRACKING", "on", "OPTIN"})));
    log.push_back(Format(optin.Cmd({"CLIENT", "CACHING", "yes"})));
    optin.Cmd({"MULTI"});
    optin.Cmd({"GET", "x7"});
    optin.Cmd({"MGET", "x8", "x9"});
    log.push_back(Format(optin.Cmd({"EXEC"})));
    optin.Cmd({"MULTI"});
    optin.Cmd({"GET", "x6"});  // no CACHING YES for this block
    optin.Cmd({"EXEC"});
    for (auto& k : Keys("x")) writer.Cmd({"SET", k, "w"});
    auto a = WaitPushes(tracker, 5);
    auto b = WaitPushes(optin, 3);
    Add(log, a);
    Add(log, b);
    for (int i = 0; i < 5; ++i) CHECK(Has(a, ">invalidate x" + std::to_string(i)));
    for (int i = 7; i < 10; ++i) CHECK(Has(b, ">invalidate x" + std::to_string(i)));
    return log;
  });
}

TEST_CASE("Reads by a script are remembered for its caller") {
  Differential([](int port) {
    std::vector<std::string> log;
    Conn tracker(port), writer(port);
    tracker.Cmd({"HELLO", "3"});
    log.push_back(Format(tracker.Cmd({"CLIENT", "TRACKING", "on"})));
    for (auto& k : Keys("y")) {
      writer.Cmd({"SET", k, "v"});
      log.push_back(Format(tracker.Cmd({"EVAL", "return redis.call('get', KEYS[1])", "1", k})));
    }
    log.push_back(Format(tracker.Cmd({"EVAL", "return redis.call('mget', KEYS[1], KEYS[2])", "2", "{z}1", "{z}2"})));
    for (auto& k : Keys("y")) writer.Cmd({"SET", k, "w"});
    writer.Cmd({"MSET", "{z}1", "a", "{z}2", "b"});
    auto pushes = WaitPushes(tracker, 12);
    CHECK(pushes.size() == 12);
    Add(log, pushes);
    return log;
  });
}

TEST_CASE("A replica's tracking clients are invalidated by the primary's stream") {
  // No diskless-sync delay: Redis 7.0 waits 5 s by default before a full sync starts.
  StartedServer primary = StartRedis(0, {"--repl-diskless-sync-delay", "0"});
  REQUIRE_MESSAGE(primary.status.ok, primary.status.message);
  StartedServer replica =
      StartDarter(0, {"--threads", "2", "--replicaof", "127.0.0.1:" + std::to_string(primary.port())});
  REQUIRE_MESSAGE(replica.status.ok, replica.status.message);
  Client p(primary.port(), kTimeout), r(replica.port(), kTimeout);
  auto keys = Keys("s");
  for (auto& k : keys) p.Cmd({"SET", k, "v"});
  REQUIRE(repl::WaitCaughtUp(p, r, 20s));
  Conn tracker(replica.port());
  tracker.Cmd({"HELLO", "3"});
  CHECK(Format(tracker.Cmd({"CLIENT", "TRACKING", "on"})) == "+OK");
  for (auto& k : keys) CHECK(Format(tracker.Cmd({"GET", k})) == "\"v\"");
  for (auto& k : keys) p.Cmd({"SET", k, "w"});
  auto pushes = WaitPushes(tracker, keys.size());
  CHECK(pushes.size() == keys.size());
  for (auto& k : keys) CHECK(Has(pushes, ">invalidate " + k));
  for (auto& k : keys) tracker.Cmd({"GET", k});
  p.Cmd({"FLUSHALL"});
  CHECK(WaitPushes(tracker, 1) == std::vector<std::string>{">invalidate <null>"});
  HealthReport h = CheckServerHealthy(*replica.process, kRssBound);
  CHECK_MESSAGE(h.ok, h.message);
}

TEST_CASE("RESP2 tracking with REDIRECT to a subscribed client; a broken redirect is reported") {
  Differential([](int port) {
    std::vector<std::string> log;
    Conn tracker(port), writer(port);
    auto sub = std::make_unique<Conn>(port);
    std::string sub_id = Id(*sub);
    log.push_back(Format(sub->Cmd({"SUBSCRIBE", "__redis__:invalidate"})));
    log.push_back(Format(tracker.Cmd({"CLIENT", "TRACKING", "on", "REDIRECT", sub_id})));
    log.push_back(NoId(Format(tracker.Cmd({"CLIENT", "GETREDIR"})), sub_id));
    for (auto& k : Keys("r")) tracker.Cmd({"GET", k});
    for (auto& k : Keys("r")) writer.Cmd({"SET", k, "v"});
    Add(log, WaitPushes(*sub, 10));
    // The redirect client goes away; a RESP3 tracker is told at the next invalidation.
    tracker.Cmd({"HELLO", "3"});
    tracker.Cmd({"GET", "r1"});
    sub.reset();
    std::this_thread::sleep_for(100ms);
    writer.Cmd({"SET", "r1", "x"});
    Add(log, WaitPushes(tracker, 1));
    Reply info = tracker.Cmd({"CLIENT", "TRACKINGINFO"});
    log.push_back(NoId(Format(info), sub_id));
    Reply list = writer.Cmd({"CLIENT", "LIST", "ID", Id(tracker)});
    log.push_back(list.str.find(" flags=tR ") != std::string::npos ? "flags=tR" : list.str);
    log.push_back(list.str.find(" redir=" + sub_id + " ") != std::string::npos ? "redir ok" : list.str);
    CHECK(Has(log, "*message __redis__:invalidate r3"));
    CHECK(Has(log, ">tracking-redir-broken <int>"));
    return log;
  });
}

TEST_CASE("BCAST with prefixes: every write under a prefix, no table; prefix overlap errors") {
  Differential([](int port) {
    std::vector<std::string> log;
    Conn tracker(port), writer(port);
    tracker.Cmd({"HELLO", "3"});
    log.push_back(Format(tracker.Cmd({"CLIENT", "TRACKING", "on", "PREFIX", "a"})));
    log.push_back(Format(tracker.Cmd({"CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "ab", "PREFIX", "a"})));
    log.push_back(Format(tracker.Cmd({"CLIENT", "TRACKING", "on", "BCAST", "OPTIN"})));
    log.push_back(Format(tracker.Cmd({"CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "user:", "PREFIX", "obj:"})));
    log.push_back(Format(tracker.Cmd({"CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "user:x"})));
    log.push_back(Format(tracker.Cmd({"CLIENT", "TRACKING", "on"})));
    log.push_back(Format(tracker.Cmd({"CLIENT", "TRACKINGINFO"})));
    log.push_back("prefixes " + std::to_string(InfoInt(writer.c, "stats", "tracking_total_prefixes")));
    for (auto& k : Keys("user:")) writer.Cmd({"SET", k, "v"});
    for (auto& k : Keys("other:")) writer.Cmd({"SET", k, "v"});
    writer.Cmd({"SET", "obj:1", "v"});
    Add(log, WaitPushes(tracker, 11));
    tracker.Cmd({"GET", "other:1"});  // BCAST keeps no table
    log.push_back("keys " + std::to_string(InfoInt(writer.c, "stats", "tracking_total_keys")));
    log.push_back(Format(tracker.Cmd({"CLIENT", "TRACKING", "off"})));
    log.push_back("prefixes " + std::to_string(InfoInt(writer.c, "stats", "tracking_total_prefixes")));
    writer.Cmd({"SET", "user:1", "x"});
    Add(log, DrainPushes(tracker));
    CHECK(Has(log, ">invalidate user:3"));
    CHECK(Has(log, ">invalidate obj:1"));
    CHECK(!Has(log, ">invalidate other:1"));
    return log;
  });
}

TEST_CASE("OPTIN, OPTOUT and NOLOOP") {
  Differential([](int port) {
    std::vector<std::string> log;
    Conn in(port), out(port), noloop(port), writer(port);
    for (Conn* c : {&in, &out, &noloop}) c->Cmd({"HELLO", "3"});
    log.push_back(Format(in.Cmd({"CLIENT", "TRACKING", "on", "OPTIN"})));
    in.Cmd({"GET", "o1"});                                    // not cached
    log.push_back(Format(in.Cmd({"CLIENT", "CACHING", "yes"})));
    in.Cmd({"GET", "o2"});                                    // cached
    in.Cmd({"GET", "o3"});                                    // not: CACHING lasted one command
    log.push_back(Format(out.Cmd({"CLIENT", "TRACKING", "on", "OPTOUT"})));
    log.push_back(Format(out.Cmd({"CLIENT", "CACHING", "no"})));
    out.Cmd({"GET", "o4"});                                   // not cached
    out.Cmd({"GET", "o5"});                                   // cached
    log.push_back(Format(noloop.Cmd({"CLIENT", "TRACKING", "on", "NOLOOP"})));
    noloop.Cmd({"GET", "o6"});
    noloop.Cmd({"GET", "o7"});
    noloop.Cmd({"SET", "o6", "mine"});                        // its own write: no message
    for (int i = 1; i <= 7; ++i) {
      if (i != 6) writer.Cmd({"SET", "o" + std::to_string(i), "w"});
    }
    Add(log, WaitPushes(in, 1));
    Add(log, WaitPushes(out, 1));
    Add(log, WaitPushes(noloop, 1));
    log.push_back(Format(noloop.Cmd({"CLIENT", "TRACKINGINFO"})));
    for (const char* line : {">invalidate o2", ">invalidate o5", ">invalidate o7"}) CHECK(Has(log, line));
    for (const char* line : {">invalidate o1", ">invalidate o3", ">invalidate o4", ">invalidate o6"})
      CHECK(!Has(log, line));
    return log;
  });
}

TEST_CASE("FLUSHALL and FLUSHDB send one null invalidation to every tracking client") {
  Differential([](int port) {
    std::vector<std::string> log;
    Conn a(port), b(port), writer(port);
    auto sub = std::make_unique<Conn>(port);
    std::string sub_id = Id(*sub);
    log.push_back(Format(sub->Cmd({"SUBSCRIBE", "__redis__:invalidate"})));
    a.Cmd({"HELLO", "3"});
    log.push_back(Format(a.Cmd({"CLIENT", "TRACKING", "on"})));
    log.push_back(Format(b.Cmd({"CLIENT", "TRACKING", "on", "REDIRECT", sub_id})));
    for (auto& k : Keys("f")) writer.Cmd({"SET", k, "v"});
    for (auto& k : Keys("f")) {
      a.Cmd({"GET", k});
      b.Cmd({"GET", k});
    }
    writer.Cmd({"FLUSHALL"});
    Add(log, WaitPushes(a, 1));
    Add(log, WaitPushes(*sub, 1));
    log.push_back("keys " + std::to_string(InfoInt(writer.c, "stats", "tracking_total_keys")));
    writer.Cmd({"SET", "f1", "v"});
    writer.Cmd({"FLUSHDB"});
    Add(log, WaitPushes(a, 1));
    // Inside MULTI/EXEC too.
    writer.Cmd({"MULTI"});
    writer.Cmd({"SET", "f2", "v"});
    writer.Cmd({"FLUSHALL"});
    writer.Cmd({"EXEC"});
    Add(log, WaitPushes(a, 1));
    CHECK(std::count(log.begin(), log.end(), ">invalidate <null>") == 3);
    CHECK(Has(log, "*message __redis__:invalidate <null>"));
    return log;
  });
}

TEST_CASE("Expiry invalidates: active expiry and lazy expiry on access") {
  Differential([](int port) {
    std::vector<std::string> log;
    Conn tracker(port), writer(port);
    tracker.Cmd({"HELLO", "3"});
    tracker.Cmd({"CLIENT", "TRACKING", "on"});
    for (auto& k : Keys("e", 4)) writer.Cmd({"SET", k, "v", "PX", "50"});
    for (auto& k : Keys("e", 4)) tracker.Cmd({"GET", k});
    Add(log, WaitPushes(tracker, 4));  // active expiry removes them within a few cycles
    writer.Cmd({"DEBUG", "SET-ACTIVE-EXPIRE", "0"});
    writer.Cmd({"SET", "lazy", "v", "PX", "30"});
    tracker.Cmd({"GET", "lazy"});
    std::this_thread::sleep_for(100ms);
    writer.Cmd({"GET", "lazy"});  // lazy expiry deletes it
    Add(log, WaitPushes(tracker, 1));
    writer.Cmd({"DEBUG", "SET-ACTIVE-EXPIRE", "1"});
    for (const char* line : {">invalidate e0", ">invalidate e3", ">invalidate lazy"}) CHECK(Has(log, line));
    return log;
  });
}

TEST_CASE("CLIENT TRACKING, CACHING, GETREDIR and TRACKINGINFO replies and errors as Redis") {
  Differential([](int port) {
    std::vector<std::string> log;
    Conn c(port), other(port);
    std::string other_id = Id(other);
    auto run = [&](std::vector<std::string> argv) { log.push_back(NoId(Format(c.Cmd(argv)), other_id)); };
    for (int proto : {2, 3}) {
      c.Cmd({"HELLO", std::to_string(proto)});
      run({"CLIENT", "TRACKINGINFO"});
      run({"CLIENT", "GETREDIR"});
      run({"CLIENT", "CACHING", "yes"});
      run({"CLIENT", "TRACKING"});
      run({"CLIENT", "TRACKING", "maybe"});
      run({"CLIENT", "TRACKING", "on", "REDIRECT"});
      run({"CLIENT", "TRACKING", "on", "REDIRECT", "x"});
      run({"CLIENT", "TRACKING", "on", "REDIRECT", "987654", "FOO"});
      run({"CLIENT", "TRACKING", "on", "REDIRECT", other_id, "REDIRECT", other_id});
      run({"CLIENT", "TRACKING", "on", "REDIRECT", other_id, "FOO"});
      run({"CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT"});
      run({"CLIENT", "TRACKING", "on", "OPTIN", "NOLOOP", "REDIRECT", other_id});
      run({"CLIENT", "TRACKINGINFO"});
      run({"CLIENT", "GETREDIR"});
      run({"CLIENT", "TRACKING", "on", "OPTOUT"});
      run({"CLIENT", "TRACKING", "on", "BCAST"});
      run({"CLIENT", "CACHING", "no"});
      run({"CLIENT", "CACHING", "maybe"});
      run({"CLIENT", "CACHING"});
      run({"CLIENT", "CACHING", "yes"});
      run({"CLIENT", "TRACKINGINFO"});
      run({"CLIENT", "TRACKINGINFO"});  // a CLIENT subcommand keeps CACHING
      run({"GET", "x"});
      run({"CLIENT", "TRACKINGINFO"});
      run({"CLIENT", "GETREDIR", "extra"});
      run({"CLIENT", "TRACKINGINFO", "extra"});
      run({"CLIENT", "TRACKING", "off"});
      run({"CLIENT", "TRACKINGINFO"});
      run({"CLIENT", "GETREDIR"});
      run({"CLIENT", "TRACKING", "on", "OPTOUT"});
      run({"CLIENT", "CACHING", "no"});
      run({"CLIENT", "TRACKINGINFO"});
      run({"CLIENT", "TRACKING", "off"});
      run({"CONFIG", "GET", "tracking-table-max-keys"});
      run({"CONFIG", "SET", "tracking-table-max-keys", "-1"});
      run({"CONFIG", "SET", "tracking-table-max-keys", "abc"});
    }
    Reply list = other.Cmd({"CLIENT", "LIST", "ID", Id(c)});
    log.push_back(list.str.find(" flags=N ") != std::string::npos ? "flags=N" : list.str);
    log.push_back(list.str.find(" redir=-1 ") != std::string::npos ? "redir=-1" : list.str);
    log.push_back(Format(c.Cmd({"RESET"})));
    c.Cmd({"HELLO", "3"});
    c.Cmd({"CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "p"});
    log.push_back(Format(c.Cmd({"RESET"})));
    log.push_back(Format(c.Cmd({"CLIENT", "TRACKINGINFO"})));
    log.push_back("clients " + std::to_string(InfoInt(other.c, "clients", "tracking_clients")));
    log.push_back("prefixes " + std::to_string(InfoInt(other.c, "stats", "tracking_total_prefixes")));
    return log;
  });
}

TEST_CASE("A BCAST request with many prefixes is checked and served without stalling") {
  StartedServer d = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(d.status.ok, d.status.message);
  Conn tracker(d.port()), writer(d.port());
  tracker.Cmd({"HELLO", "3"});
  constexpr int kPrefixes = 200000;  // Redis's pairwise check would take minutes
  std::vector<std::string> argv{"CLIENT", "TRACKING", "on", "BCAST"};
  for (int i = 0; i < kPrefixes; ++i) argv.insert(argv.end(), {"PREFIX", "p" + std::to_string(i) + ":"});
  std::vector<std::string> overlapping = argv;
  overlapping.insert(overlapping.end(), {"PREFIX", "p17:x"});
  auto start = std::chrono::steady_clock::now();
  CHECK(Format(tracker.Cmd(overlapping)) ==
        "-ERR Prefix 'p17:' overlaps with another provided prefix 'p17:x'. Prefixes for a single client must "
        "not overlap.");
  CHECK(Format(tracker.Cmd(argv)) == "+OK");
  CHECK(InfoInt(writer.c, "stats", "tracking_total_prefixes") == kPrefixes);
  for (int i = 0; i < 1000; ++i) writer.Cmd({"SET", "p" + std::to_string(i * 100) + ":k", "v"});
  CHECK(WaitPushes(tracker, 1000).size() == 1000);
  CHECK(std::chrono::steady_clock::now() - start < 10s);
  CHECK(Format(tracker.Cmd({"CLIENT", "TRACKING", "off"})) == "+OK");
  CHECK(InfoInt(writer.c, "stats", "tracking_total_prefixes") == 0);
  HealthReport h = CheckServerHealthy(*d.process, kRssBound);
  CHECK_MESSAGE(h.ok, h.message);
}

TEST_CASE("tracking-table-max-keys bounds the table; evicted keys are invalidated") {
  StartedServer d = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(d.status.ok, d.status.message);
  Conn tracker(d.port()), admin(d.port());
  CHECK(Format(admin.Cmd({"CONFIG", "SET", "tracking-table-max-keys", "10"})) == "+OK");
  tracker.Cmd({"HELLO", "3"});
  tracker.Cmd({"CLIENT", "TRACKING", "on"});
  auto keys = Keys("t", 100);
  for (auto& k : keys) tracker.Cmd({"GET", k});
  long long kept = InfoInt(admin.c, "stats", "tracking_total_keys");
  CHECK(kept <= 10);
  CHECK(kept >= 2);
  // Every key not kept was invalidated, once.
  std::vector<std::string> pushes = WaitPushes(tracker, static_cast<size_t>(100 - kept));
  CHECK(pushes.size() == static_cast<size_t>(100 - kept));
  std::set<std::string> distinct(pushes.begin(), pushes.end());
  CHECK(distinct.size() == pushes.size());
  // Writing every key now invalidates exactly the kept ones.
  for (auto& k : keys) admin.Cmd({"SET", k, "v"});
  CHECK(WaitPushes(tracker, static_cast<size_t>(kept)).size() == static_cast<size_t>(kept));
  CHECK(InfoInt(admin.c, "stats", "tracking_total_keys") == 0);
  CHECK(InfoInt(admin.c, "stats", "tracking_total_items") == 0);
  // A closed tracking client leaves the count.
  CHECK(InfoInt(admin.c, "clients", "tracking_clients") == 1);
  tracker.Cmd({"QUIT"});
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = InfoInt(admin.c, "clients", "tracking_clients") == 0;
    if (!gone) std::this_thread::sleep_for(10ms);
  }
  CHECK(gone);
  HealthReport h = CheckServerHealthy(*d.process, kRssBound);
  CHECK_MESSAGE(h.ok, h.message);
}

}  // namespace darter::test
