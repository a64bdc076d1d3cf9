// MIGRATE (lib/server/admin/migrate_family.h): keys move between real servers, Darter
// and redis-server on either side, with Redis 7.0's replies. Where the reply is an error
// or a status, the same request is made of a redis-server source against the same kind
// of target and the two replies must be equal. Also: every data type with its TTL, big
// keys, AUTH/AUTH2, a target that never answers (IOERR, while other clients are served),
// the DEL a replica of the source sees, and the MULTI/script refusals.
#include <doctest/doctest.h>

#include <poll.h>
#include <unistd.h>

#include "replication_support.h"

using namespace darter::test;
using namespace darter::test::repl;
using namespace std::chrono_literals;

namespace {

std::string P(int port) { return std::to_string(port); }

// Every key of db 0 of `c`.
std::vector<std::string> AllKeys(Client& c) {
  std::vector<std::string> keys;
  for (auto& e : c.Cmd({"KEYS", "*"}).elements) keys.push_back(e.str);
  std::sort(keys.begin(), keys.end());
  return keys;
}

// MIGRATE of every key of db 0 of `source` to db `db` of `target_port`, in one call.
Reply MigrateAll(Client& source, int target_port, int db, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv = {"MIGRATE", "127.0.0.1", P(target_port), "", std::to_string(db), "10000"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back("KEYS");
  for (auto& k : AllKeys(source)) argv.push_back(k);
  return source.Cmd(argv);
}

// Fills db 0 of `c` with every data type (a third of the keys with TTLs, a few big
// collections), and returns their logical dump.
std::map<std::string, std::string> FillEveryType(Client& c) {
  Families f;
  f.list = f.set = f.hash = f.zset = f.stream = f.hll = f.bitmap = true;
  FillDb(c, f, 0, 12);
  c.Cmd({"SELECT", "0"});
  return DumpDb(c, 0);
}

// The keys of `want` are on db `db` of `target` with the same values and deadlines.
void CheckArrived(Client& target, int db, const std::map<std::string, std::string>& want) {
  auto got = DumpDb(target, db);
  CHECK(got.size() == want.size());
  int shown = 0;
  for (auto& [k, v] : want) {
    auto it = got.find(k);
    std::string other = it == got.end() ? "(missing)" : it->second;
    if (!SameKeyDump(v, other) && shown++ < 10) FAIL_CHECK(k << ": source " << v.substr(0, 200) << " | target " << other.substr(0, 200));
  }
}

void MovesEveryType(StartedServer& source_server, StartedServer& target_server) {
  Client source(source_server.port()), target(target_server.port());
  REQUIRE(source.ok());
  REQUIRE(target.ok());
  auto want = FillEveryType(source);
  REQUIRE(want.size() > 50);
  CHECK(Format(MigrateAll(source, target_server.port(), 3)) == "+OK");
  CHECK(AllKeys(source).empty());
  CheckArrived(target, 3, want);
}

}  // namespace

TEST_CASE("MIGRATE moves every data type with its TTL, between Darter and Redis in each direction") {
  StartedServer darter = StartDarter(0, {"--threads", "3"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  StartedServer darter2 = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter2.status.ok, darter2.status.message);
  StartedServer redis = StartRedis();
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  SUBCASE("darter to redis-server") { MovesEveryType(darter, redis); }
  SUBCASE("darter to darter") { MovesEveryType(darter, darter2); }
  SUBCASE("redis-server to darter: Redis's MIGRATE against Darter's RESTORE") { MovesEveryType(redis, darter); }
}

TEST_CASE("MIGRATE's replies match Redis's: NOKEY, COPY, REPLACE, BUSYKEY, KEYS, argument errors") {
  StartedServer darter = StartDarter(0, {"--threads", "3"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  StartedServer redis = StartRedis();
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  StartedServer target = StartRedis();
  REQUIRE_MESSAGE(target.status.ok, target.status.message);
  Client d(darter.port()), r(redis.port()), t(target.port());
  const std::string tp = P(target.port());
  // Each step runs on the Redis source, then on the Darter source with the target reset
  // to the same state; replies and the resulting data must agree.
  struct Step {
    std::vector<std::vector<std::string>> setup;         // on the source
    std::vector<std::vector<std::string>> target_setup;  // on the target
    std::vector<std::string> migrate;
  };
  const std::vector<Step> steps = {
      // A SELECT the target refuses (first: Redis's source has no cached connection to
      // the target yet, which would otherwise still be in the database it last selected).
      {{{"SET", "a", "1"}}, {}, {"MIGRATE", "127.0.0.1", tp, "", "99999", "1000", "KEYS", "a"}},
      {{}, {}, {"MIGRATE", "127.0.0.1", tp, "nokey", "0", "1000"}},
      {{}, {}, {"MIGRATE", "127.0.0.1", tp, "", "0", "1000", "KEYS", "no1", "no2"}},
      {{{"SET", "a", "1"}}, {}, {"MIGRATE", "127.0.0.1", tp, "a", "0", "1000"}},
      {{{"SET", "a", "1"}}, {}, {"MIGRATE", "127.0.0.1", tp, "a", "0", "1000", "COPY"}},
      {{{"SET", "a", "1"}}, {{"SET", "a", "old"}}, {"MIGRATE", "127.0.0.1", tp, "a", "0", "1000"}},
      {{{"SET", "a", "1"}}, {{"SET", "a", "old"}}, {"MIGRATE", "127.0.0.1", tp, "a", "0", "1000", "REPLACE"}},
      {{{"SET", "a", "1"}}, {{"SET", "a", "old"}}, {"MIGRATE", "127.0.0.1", tp, "a", "0", "1000", "COPY", "REPLACE"}},
      // One key busy on the target: the others still move, the reply is the error.
      {{{"SET", "a", "1"}, {"SET", "b", "2"}, {"SET", "c", "3"}},
       {{"SET", "b", "old"}},
       {"MIGRATE", "127.0.0.1", tp, "", "0", "1000", "KEYS", "a", "b", "c", "missing"}},
      {{{"SET", "a", "1"}}, {}, {"MIGRATE", "127.0.0.1", tp, "", "5", "1000", "KEYS", "a"}},
      // The cached connection still has database 5 selected: a refused SELECT leaves the
      // RESTORE there, in Redis as here.
      {{{"SET", "a", "1"}}, {}, {"MIGRATE", "127.0.0.1", tp, "", "99999", "1000", "KEYS", "a"}},
      {{{"SET", "a", "1"}}, {}, {"MIGRATE", "127.0.0.1", tp, "", "5", "1000", "KEYS", "a"}},
      {{{"SET", "a", "1"}}, {}, {"MIGRATE", "127.0.0.1", tp, "", "0", "1000", "KEYS", "a"}},
      {{{"SET", "a", "1"}}, {}, {"MIGRATE", "127.0.0.1", tp, "a", "0", "1000", "KEYS", "a"}},
      {{{"SET", "a", "1"}}, {}, {"MIGRATE", "127.0.0.1", tp, "a", "x", "1000"}},
      {{{"SET", "a", "1"}}, {}, {"MIGRATE", "127.0.0.1", tp, "a", "0", "1.5"}},
      {{{"SET", "a", "1"}}, {}, {"MIGRATE", "127.0.0.1", tp, "a", "0", "0"}},
      {{{"SET", "a", "1"}}, {}, {"MIGRATE", "127.0.0.1", tp, "a", "0", "1000", "AUTH"}},
      {{{"SET", "a", "1"}}, {}, {"MIGRATE", "127.0.0.1", tp, "a", "0", "1000", "AUTH2", "u"}},
      {{{"SET", "a", "1"}}, {}, {"MIGRATE", "127.0.0.1", tp, "a", "0", "1000", "BOGUS"}},
      {{{"SET", "a", "1"}}, {}, {"MIGRATE", "127.0.0.1", tp, "a", "0"}},
      // AUTH sent to a target without a password: its error is the reply.
      {{{"SET", "a", "1"}}, {}, {"MIGRATE", "127.0.0.1", tp, "a", "0", "1000", "AUTH", "pw"}},
      {{{"SET", "a", "1"}}, {}, {"MIGRATE", "nonexistent.invalid", "6379", "a", "0", "1000"}},
      {{{"SET", "a", "1"}, {"RPUSH", "l", "x", "y"}, {"PEXPIRE", "l", "100000"}},
       {},
       {"MIGRATE", "127.0.0.1", tp, "", "0", "1000", "KEYS", "l", "a"}},
  };
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& s = steps[i];
    std::string what = "step " + std::to_string(i) + ":";
    for (auto& a : s.migrate) what += " " + a;
    std::string replies[2], source_after[2], target_after[2];
    Client* sources[2] = {&r, &d};
    for (int side = 0; side < 2; ++side) {
      Client& src = *sources[side];
      src.Cmd({"FLUSHALL"});
      t.Cmd({"FLUSHALL"});
      for (auto& c : s.setup) src.Cmd(c);
      for (auto& c : s.target_setup) t.Cmd(c);
      replies[side] = Format(src.Cmd(s.migrate));
      source_after[side] = Format(src.Cmd({"MGET", "a", "b", "c", "l"}));
      source_after[side] += Format(src.Cmd({"TYPE", "l"}));
      // One statement per call: the order of a + b's calls is unspecified.
      target_after[side] = Format(t.Cmd({"MGET", "a", "b", "c"}));
      target_after[side] += Format(t.Cmd({"LRANGE", "l", "0", "-1"}));
      const long long pttl = t.Cmd({"PTTL", "l"}).integer;
      target_after[side] += " ttl~" + std::to_string(pttl < 0 ? pttl : (pttl + 5000) / 10000);
      target_after[side] += Format(t.Cmd({"SELECT", "5"}));
      target_after[side] += Format(t.Cmd({"DBSIZE"}));
      t.Cmd({"FLUSHALL"});
      t.Cmd({"SELECT", "0"});
    }
    CHECK_MESSAGE(replies[1] == replies[0], what);
    CHECK_MESSAGE(source_after[1] == source_after[0], what);
    CHECK_MESSAGE(target_after[1] == target_after[0], what);
  }
}

TEST_CASE("MIGRATE keeps its connection to a target for the next MIGRATE, and closes it after 10 s unused") {
  StartedServer darter = StartDarter(0, {"--threads", "1"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  StartedServer target = StartRedis();
  REQUIRE_MESSAGE(target.status.ok, target.status.message);
  Client d(darter.port()), t(target.port());
  for (int i = 0; i < 5; ++i) {
    REQUIRE(Format(d.Cmd({"SET", "k" + std::to_string(i), "v"})) == "+OK");
    CHECK(Format(d.Cmd({"MIGRATE", "127.0.0.1", P(target.port()), "k" + std::to_string(i), "0", "1000"})) == "+OK");
  }
  CHECK(Format(t.Cmd({"DBSIZE"})) == ":5");
  CHECK(InfoInt(t, "clients", "connected_clients") == 2);  // t and the one cached connection
  // The target closes it: the next MIGRATE finds the cached connection dead and retries.
  CHECK(Format(t.Cmd({"CLIENT", "KILL", "SKIPME", "yes"})) == ":1");
  REQUIRE(Format(d.Cmd({"SET", "again", "v"})) == "+OK");
  CHECK(Format(d.Cmd({"MIGRATE", "127.0.0.1", P(target.port()), "again", "0", "1000"})) == "+OK");
  CHECK(Format(t.Cmd({"EXISTS", "again"})) == ":1");
  CHECK(WaitFor([&] { return InfoInt(t, "clients", "connected_clients") == 1; }, 25s));
}

TEST_CASE("MIGRATE authenticates with AUTH and AUTH2, and reports the target's refusal as Redis does") {
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  StartedServer redis = StartRedis();
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  // Targets of each kind, with a password and a user.
  StartedServer targets[2] = {StartRedis(0, {"--requirepass", "s3cret"}), StartDarter(0, {"--requirepass", "s3cret"})};
  for (auto& tgt : targets) {
    REQUIRE_MESSAGE(tgt.status.ok, tgt.status.message);
    Client t(tgt.port());
    REQUIRE(Format(t.Cmd({"AUTH", "s3cret"})) == "+OK");
    REQUIRE(Format(t.Cmd({"ACL", "SETUSER", "mover", "on", ">pw2", "~*", "+@all"})) == "+OK");
  }
  Client d(darter.port()), r(redis.port());
  for (auto& tgt : targets) {
    const std::string tp = P(tgt.port());
    const std::vector<std::vector<std::string>> cases = {
        {"MIGRATE", "127.0.0.1", tp, "k", "0", "1000"},
        {"MIGRATE", "127.0.0.1", tp, "k", "0", "1000", "AUTH", "wrong"},
        {"MIGRATE", "127.0.0.1", tp, "k", "0", "1000", "AUTH2", "mover", "wrong"},
        {"MIGRATE", "127.0.0.1", tp, "k", "0", "1000", "AUTH", "s3cret"},
        {"MIGRATE", "127.0.0.1", tp, "k", "0", "1000", "AUTH2", "mover", "pw2"},
        {"MIGRATE", "127.0.0.1", tp, "k", "0", "1000", "AUTH", "wrong", "AUTH2", "mover", "pw2"},
        // AUTH after AUTH2 changes the password only: the user stays.
        {"MIGRATE", "127.0.0.1", tp, "k", "0", "1000", "AUTH2", "mover", "wrong", "AUTH", "pw2"},
    };
    for (auto& argv : cases) {
      CAPTURE(argv);
      std::string replies[2], target_has[2];
      Client* sources[2] = {&r, &d};
      for (int side = 0; side < 2; ++side) {
        Client t(tgt.port());
        t.Cmd({"AUTH", "s3cret"});
        t.Cmd({"DEL", "k"});
        sources[side]->Cmd({"SET", "k", "v"});
        replies[side] = Format(sources[side]->Cmd(argv));
        target_has[side] = Format(t.Cmd({"GET", "k"})) + Format(sources[side]->Cmd({"EXISTS", "k"}));
      }
      CHECK(replies[1] == replies[0]);
      CHECK(target_has[1] == target_has[0]);
    }
  }
}

TEST_CASE("MIGRATE to a target that never answers replies IOERR after the timeout, serving other clients meanwhile") {
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  int silent_port = 0;
  int silent = ListenLoopback(&silent_port);  // accepts in the kernel, never reads or answers
  REQUIRE(silent_port != 0);
  Client a(darter.port(), 30s), b(darter.port());
  REQUIRE(Format(a.Cmd({"SET", "k", "v"})) == "+OK");
  const auto start = Clock::now();
  a.Append({"MIGRATE", "127.0.0.1", P(silent_port), "k", "0", "3000"});
  REQUIRE(a.Flush());
  // While a waits for the target, b is served, and a has no reply yet.
  CHECK(Format(b.Cmd({"PING"})) == "+PONG");
  CHECK(Format(b.Cmd({"SET", "other", "1"})) == "+OK");
  CHECK(Format(b.Cmd({"GET", "k"})) == "\"v\"");
  pollfd pfd{a.context()->fd, POLLIN, 0};
  CHECK(poll(&pfd, 1, 0) == 0);
  CHECK(Format(a.ReadReply()) == "-IOERR error or timeout reading to target instance");
  // Bounded by the timeout (3 s), not by anything longer; generous for a loaded machine.
  CHECK(Clock::now() - start < 20s);
  CHECK(Format(a.Cmd({"GET", "k"})) == "\"v\"");  // not deleted
  close(silent);
  // A port nothing listens on: Redis reports the refused connect as a failed write.
  int closed_port = 0;
  close(ListenLoopback(&closed_port));
  CHECK(Format(a.Cmd({"MIGRATE", "127.0.0.1", P(closed_port), "k", "0", "1000"})) ==
        "-IOERR error or timeout writing to target instance");
}

TEST_CASE("MIGRATE moves big keys: a 50 MB string and a million-element list") {
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  StartedServer darter2 = StartDarter(0, {"--threads", "3"});
  REQUIRE_MESSAGE(darter2.status.ok, darter2.status.message);
  StartedServer redis = StartRedis();
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  Client s(darter.port(), 60s), t(darter2.port(), 60s), rt(redis.port(), 60s);
  std::string big(50 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
  REQUIRE(Format(s.Cmd({"SET", "big", big})) == "+OK");
  REQUIRE(Format(s.Cmd({"EVAL",
                        "for i=1,1000000,1000 do local t={} for j=i,i+999 do t[#t+1]=j end "
                        "redis.call('rpush',KEYS[1],unpack(t)) end return redis.call('llen',KEYS[1])",
                        "1", "biglist"})) == ":1000000");
  const std::string digest = Format(s.Cmd({"DEBUG", "DIGEST-VALUE", "big", "biglist"}));
  CHECK(Format(s.Cmd({"MIGRATE", "127.0.0.1", P(darter2.port()), "", "0", "10000", "KEYS", "big", "biglist"})) ==
        "+OK");
  CHECK(Format(s.Cmd({"DBSIZE"})) == ":0");
  CHECK(Format(t.Cmd({"DEBUG", "DIGEST-VALUE", "big", "biglist"})) == digest);
  // On to Redis and back: both RESTOREs read Darter's and Redis's payloads.
  CHECK(Format(t.Cmd({"MIGRATE", "127.0.0.1", P(redis.port()), "", "0", "10000", "KEYS", "big", "biglist"})) ==
        "+OK");
  CHECK(Format(rt.Cmd({"STRLEN", "big"})) == ":" + std::to_string(big.size()));
  CHECK(Format(rt.Cmd({"LINDEX", "biglist", "-1"})) == "\"1000000\"");
  CHECK(Format(rt.Cmd({"MIGRATE", "127.0.0.1", P(darter.port()), "", "0", "10000", "KEYS", "big", "biglist"})) ==
        "+OK");
  CHECK(Format(s.Cmd({"DEBUG", "DIGEST-VALUE", "big", "biglist"})) == digest);
}

TEST_CASE("a MIGRATE without COPY reaches the source's replicas as DEL, keys on every shard") {
  StartedServer source = StartDarter(0, {"--threads", "3"});
  REQUIRE_MESSAGE(source.status.ok, source.status.message);
  StartedServer target = StartRedis();
  REQUIRE_MESSAGE(target.status.ok, target.status.message);
  StartedServer darter_replica = StartDarter(0, {"--threads", "2", "--replicaof", "127.0.0.1:" + P(source.port())});
  REQUIRE_MESSAGE(darter_replica.status.ok, darter_replica.status.message);
  StartedServer redis_replica = StartRedis(0, {"--replicaof", "127.0.0.1", P(source.port())});
  REQUIRE_MESSAGE(redis_replica.status.ok, redis_replica.status.message);
  Client s(source.port()), dr(darter_replica.port()), rr(redis_replica.port()), t(target.port());
  std::vector<std::string> mset = {"MSET"}, migrate = {"MIGRATE", "127.0.0.1", P(target.port()), "", "0", "5000", "KEYS"};
  for (int i = 0; i < 30; ++i) {
    mset.push_back("key" + std::to_string(i));
    mset.push_back("v" + std::to_string(i));
    if (i % 2 == 0) migrate.push_back("key" + std::to_string(i));
  }
  REQUIRE(Format(s.Cmd(mset)) == "+OK");
  REQUIRE(WaitFor([&] { return Format(dr.Cmd({"DBSIZE"})) == ":30" && Format(rr.Cmd({"DBSIZE"})) == ":30"; }, 20s));
  CHECK(Format(s.Cmd(migrate)) == "+OK");
  CHECK(Format(t.Cmd({"DBSIZE"})) == ":15");
  CHECK(Format(s.Cmd({"DBSIZE"})) == ":15");
  CHECK(WaitFor([&] { return Format(dr.Cmd({"DBSIZE"})) == ":15" && Format(rr.Cmd({"DBSIZE"})) == ":15"; }, 20s));
  CHECK(Format(dr.Cmd({"EXISTS", "key0", "key2", "key28"})) == ":0");
  CHECK(Format(rr.Cmd({"EXISTS", "key0", "key2", "key28"})) == ":0");
  CHECK(Format(rr.Cmd({"GET", "key1"})) == "\"v1\"");
  // COPY leaves the source, and so its replicas, as they were.
  CHECK(Format(s.Cmd({"MIGRATE", "127.0.0.1", P(target.port()), "key1", "0", "5000", "COPY"})) == "+OK");
  CHECK(Format(s.Cmd({"SET", "marker", "1"})) == "+OK");
  CHECK(WaitFor([&] { return Format(rr.Cmd({"GET", "marker"})) == "\"1\""; }, 20s));
  CHECK(Format(rr.Cmd({"GET", "key1"})) == "\"v1\"");
}

TEST_CASE("MIGRATE is refused inside MULTI and scripts, and ACL key patterns apply to its keys") {
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  StartedServer target = StartRedis();
  REQUIRE_MESSAGE(target.status.ok, target.status.message);
  Client d(darter.port()), t(target.port());
  const std::string tp = P(target.port());
  REQUIRE(Format(d.Cmd({"SET", "a1", "x"})) == "+OK");
  REQUIRE(Format(d.Cmd({"SET", "b1", "y"})) == "+OK");
  CHECK(Format(d.Cmd({"MULTI"})) == "+OK");
  CHECK(Format(d.Cmd({"MIGRATE", "127.0.0.1", tp, "a1", "0", "1000"})) ==
        "-ERR Command not allowed inside a transaction");
  CHECK(Format(d.Cmd({"EXEC"})) == "-EXECABORT Transaction discarded because of previous errors.");
  Reply script = d.Cmd({"EVAL", "return redis.call('migrate', ARGV[1], ARGV[2], KEYS[1], '0', '1000')", "1", "a1",
                        "127.0.0.1", tp});
  CHECK(script.IsError());
  CHECK(Format(d.Cmd({"EXISTS", "a1"})) == ":1");

  REQUIRE(Format(d.Cmd({"ACL", "SETUSER", "mover", "on", ">pw", "~a*", "+@all"})) == "+OK");
  Client m(darter.port());
  REQUIRE(Format(m.Cmd({"AUTH", "mover", "pw"})) == "+OK");
  CHECK(Format(m.Cmd({"MIGRATE", "127.0.0.1", tp, "b1", "0", "1000"})) ==
        "-NOPERM this user has no permissions to access one of the keys used as arguments");
  CHECK(Format(m.Cmd({"MIGRATE", "127.0.0.1", tp, "", "0", "1000", "KEYS", "a1", "b1"})) ==
        "-NOPERM this user has no permissions to access one of the keys used as arguments");
  CHECK(Format(m.Cmd({"MIGRATE", "127.0.0.1", tp, "", "0", "1000", "AUTH", "keys", "KEYS", "a1"})) ==
        "-ERR Target instance replied with error: ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
  // The target ran the RESTORE after refusing the AUTH (a pipeline), as with Redis.
  CHECK(Format(t.Cmd({"DEL", "a1"})) == ":1");
  CHECK(Format(m.Cmd({"MIGRATE", "127.0.0.1", tp, "a1", "0", "1000"})) == "+OK");
  CHECK(Format(t.Cmd({"GET", "a1"})) == "\"x\"");
  CHECK(Format(d.Cmd({"COMMAND", "GETKEYS", "MIGRATE", "h", "1", "", "0", "10", "AUTH2", "u", "p", "KEYS", "x", "y"})) ==
        "[\"x\", \"y\"]");
}

TEST_CASE("RESTORE-ASKING restores as RESTORE does outside cluster mode") {
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client d(darter.port());
  REQUIRE(Format(d.Cmd({"RPUSH", "l", "a", "b"})) == ":2");
  Reply dump = d.Cmd({"DUMP", "l"});
  REQUIRE(dump.type == Reply::Type::kString);
  CHECK(Format(d.Cmd({"RESTORE-ASKING", "l2", "0", dump.str})) == "+OK");
  CHECK(Format(d.Cmd({"RESTORE-ASKING", "l2", "0", dump.str})) == "-BUSYKEY Target key name already exists.");
  CHECK(Format(d.Cmd({"LRANGE", "l2", "0", "-1"})) == "[\"a\", \"b\"]");
}
