// Randomized differential test for lists and hashes: seeded random command sequences
// over a small key space, run on redis-server and darter-server (two shard threads, so
// RPOPLPUSH/LMOVE/LMPOP cross shards), replies compared one by one. Small encoding
// thresholds make lists split into several nodes and hashes convert to hash tables.
//
// Replies that are random by design (HRANDFIELD) are compared by shape; unordered
// ones (HGETALL and friends on a hash table) after sorting. A mismatch prints the seed;
// rerun with DARTER_RANDOM_SEED=<seed> to reproduce.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "support/client.h"
#include "support/reply.h"
#include "support/server_process.h"

using namespace darter::test;

namespace {

using Argv = std::vector<std::string>;

enum class Compare { kExact, kSorted, kSortedPairs, kShape };

struct Step {
  Argv argv;
  Compare how = Compare::kExact;
};

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  Step Next() {
    switch (Pick(3)) {
      case 0:
      case 1:
        return Pick(2) ? ListStep() : HashStep();
      default:
        return Pick(3) ? ListStep() : HashStep();
    }
  }

 private:
  size_t Pick(size_t n) { return rng_() % n; }
  std::string Int(int lo, int hi) { return std::to_string(lo + static_cast<int>(Pick(hi - lo + 1))); }
  std::string ListKey() {
    static const char* keys[] = {"l0", "l1", "l2", "{x}l3", "{x}l4", "str", "h0"};
    return keys[Pick(Pick(10) == 0 ? 7 : 5)];
  }
  std::string HashKey() {
    static const char* keys[] = {"h0", "h1", "h2", "h3", "str", "l0"};
    return keys[Pick(Pick(10) == 0 ? 6 : 4)];
  }
  std::string Elem() {
    static const char* e[] = {"a", "b", "c", "d", "1", "2", "", "long-element-xxxxxxxxxxxxxxxxxxxxxxxxx"};
    return e[Pick(8)];
  }
  std::string Field() { return "f" + std::to_string(Pick(14)); }
  std::string Value() {
    switch (Pick(5)) {
      case 0:
        return Int(-100, 100);
      case 1:
        return "1.5";
      case 2:
        return std::string(Pick(4) == 0 ? 70 : 5, 'v');
      default:
        return "v" + std::to_string(Pick(100));
    }
  }
  std::string End() { return Pick(2) ? "LEFT" : "RIGHT"; }

  Step ListStep() {
    switch (Pick(20)) {
      case 0:
      case 1:
      case 2: {
        Argv a{Pick(2) ? "LPUSH" : "RPUSH", ListKey()};
        for (size_t i = 0, n = 1 + Pick(4); i < n; ++i) a.push_back(Elem());
        return {a};
      }
      case 3:
        return {{Pick(2) ? "LPUSHX" : "RPUSHX", ListKey(), Elem()}};
      case 4:
        if (Pick(2)) return {{Pick(2) ? "LPOP" : "RPOP", ListKey()}};
        return {{Pick(2) ? "LPOP" : "RPOP", ListKey(), Int(0, 4)}};
      case 5:
        return {{"LLEN", ListKey()}};
      case 6:
      case 7:
        return {{"LRANGE", ListKey(), Int(-12, 12), Int(-12, 12)}};
      case 8:
        return {{"LINDEX", ListKey(), Int(-12, 12)}};
      case 9:
        return {{"LSET", ListKey(), Int(-8, 8), Elem()}};
      case 10:
        return {{"LINSERT", ListKey(), Pick(2) ? "BEFORE" : "AFTER", Elem(), Elem()}};
      case 11:
        return {{"LREM", ListKey(), Int(-3, 3), Elem()}};
      case 12:
        return {{"LTRIM", ListKey(), Int(-10, 10), Int(-10, 10)}};
      case 13: {
        Argv a{"LPOS", ListKey(), Elem()};
        if (Pick(2)) a.insert(a.end(), {"RANK", Pick(2) ? Int(1, 3) : Int(-3, -1)});
        if (Pick(2)) a.insert(a.end(), {"COUNT", Int(0, 3)});
        if (Pick(3) == 0) a.insert(a.end(), {"MAXLEN", Int(0, 6)});
        return {a};
      }
      case 14:
        return {{"RPOPLPUSH", ListKey(), ListKey()}};
      case 15:
      case 16:
        return {{"LMOVE", ListKey(), ListKey(), End(), End()}};
      case 17: {
        size_t n = 1 + Pick(3);
        Argv a{"LMPOP", std::to_string(n)};
        for (size_t i = 0; i < n; ++i) a.push_back(ListKey());
        a.push_back(End());
        if (Pick(2)) a.insert(a.end(), {"COUNT", Int(1, 5)});
        return {a};
      }
      case 18:
        return {{"TYPE", ListKey()}};
      default:
        return {{"LRANGE", ListKey(), "0", "-1"}};
    }
  }

  Step HashStep() {
    switch (Pick(18)) {
      case 0:
      case 1:
      case 2: {
        Argv a{Pick(4) ? "HSET" : "HMSET", HashKey()};
        for (size_t i = 0, n = 1 + Pick(3); i < n; ++i) {
          a.push_back(Field());
          a.push_back(Value());
        }
        return {a};
      }
      case 3:
        return {{"HSETNX", HashKey(), Field(), Value()}};
      case 4:
        return {{"HGET", HashKey(), Field()}};
      case 5:
        return {{"HMGET", HashKey(), Field(), Field()}};
      case 6: {
        Argv a{"HDEL", HashKey()};
        for (size_t i = 0, n = 1 + Pick(3); i < n; ++i) a.push_back(Field());
        return {a};
      }
      case 7:
        return {{"HLEN", HashKey()}};
      case 8:
        return {{"HEXISTS", HashKey(), Field()}};
      case 9:
        return {{"HSTRLEN", HashKey(), Field()}};
      case 10:
        return {{"HINCRBY", HashKey(), Field(), Int(-50, 50)}};
      case 11:
        return {{"HINCRBYFLOAT", HashKey(), Field(), Pick(2) ? "0.25" : "-3.5"}};
      case 12:
        return {{"HGETALL", HashKey()}, Compare::kSortedPairs};
      case 13:
        return {{Pick(2) ? "HKEYS" : "HVALS", HashKey()}, Compare::kSorted};
      case 14: {
        Argv a{"HRANDFIELD", HashKey(), Int(-5, 5)};
        if (Pick(2)) a.push_back("WITHVALUES");
        return {a, Compare::kShape};
      }
      case 15:
        return {{"OBJECT", "ENCODING", HashKey()}};
      case 16:
        return {{"HSCAN", HashKey(), "0", "COUNT", "1000"}, Compare::kShape};
      default:
        return {{"EXISTS", HashKey()}};
    }
  }

  std::mt19937_64 rng_;
};

void SortElements(std::vector<Reply>& v, bool pairs) {
  if (!pairs) {
    std::sort(v.begin(), v.end(), [](const Reply& a, const Reply& b) { return Format(a) < Format(b); });
    return;
  }
  std::vector<std::pair<std::string, std::string>> p;
  for (size_t i = 0; i + 1 < v.size(); i += 2) p.emplace_back(Format(v[i]), Format(v[i + 1]));
  std::sort(p.begin(), p.end());
  v.clear();
  for (auto& [a, b] : p) {
    Reply x, y;
    x.type = y.type = Reply::Type::kString;
    x.str = a;
    y.str = b;
    v.push_back(x);
    v.push_back(y);
  }
}

// Element counts and types, recursively, without values.
std::string ReplyShape(const Reply& r) {
  std::string s = TypeName(r.type);
  if (r.type == Reply::Type::kError) return Format(r);
  if (r.IsAggregate()) {
    s += "[" + std::to_string(r.elements.size()) + ":";
    for (const auto& e : r.elements) s += ReplyShape(e) + ",";
    s += "]";
  }
  return s;
}

std::string Canonical(Reply r, Compare how) {
  switch (how) {
    case Compare::kExact:
      return Format(r);
    case Compare::kSorted:
    case Compare::kSortedPairs:
      if (r.IsAggregate()) SortElements(r.elements, how == Compare::kSortedPairs);
      return Format(r);
    case Compare::kShape:
      return ReplyShape(r);
  }
  return Format(r);
}

std::string Join(const Argv& a) {
  std::string s;
  for (const auto& x : a) s += (s.empty() ? "" : " ") + (x.empty() ? std::string("\"\"") : x);
  return s;
}

}  // namespace

TEST_CASE("Random list and hash commands reply as redis-server does") {
  uint64_t seed = std::random_device{}();
  if (const char* env = std::getenv("DARTER_RANDOM_SEED")) seed = std::strtoull(env, nullptr, 10);
  INFO("seed: ", seed, " (rerun with DARTER_RANDOM_SEED=", seed, ")");
  MESSAGE("list_hash_random seed ", seed);

  StartedServer redis = StartRedis();
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client rc(redis.port()), dc(darter.port());
  REQUIRE(rc.ok());
  REQUIRE(dc.ok());

  const std::vector<Argv> setup = {
      {"CONFIG", "SET", "list-max-listpack-size", "4"},
      {"CONFIG", "SET", "hash-max-listpack-entries", "8"},
      {"CONFIG", "SET", "hash-max-listpack-value", "32"},
      {"SET", "str", "string"},
  };
  for (const auto& cmd : setup) REQUIRE(Format(rc.Cmd(cmd)) == Format(dc.Cmd(cmd)));

  Generator gen(seed);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  const size_t kMaxCommands = 30000, kBatch = 200;
  size_t done = 0, mismatches = 0;
  while (done < kMaxCommands && std::chrono::steady_clock::now() < deadline && mismatches == 0) {
    std::vector<Step> steps;
    std::vector<Argv> cmds;
    for (size_t i = 0; i < kBatch; ++i) {
      steps.push_back(gen.Next());
      cmds.push_back(steps.back().argv);
    }
    std::vector<Reply> r = rc.Pipeline(cmds);
    std::vector<Reply> d = dc.Pipeline(cmds);
    REQUIRE(r.size() == cmds.size());
    REQUIRE(d.size() == cmds.size());
    for (size_t i = 0; i < cmds.size(); ++i) {
      std::string want = Canonical(r[i], steps[i].how), got = Canonical(d[i], steps[i].how);
      if (want != got) {
        ++mismatches;
        FAIL_CHECK("seed ", seed, " command #", done + i, ": ", Join(cmds[i]), "\n  redis:  ", want,
                   "\n  darter: ", got);
        break;
      }
    }
    done += cmds.size();
  }
  CHECK(mismatches == 0);
  // Final state: every key's full content agrees.
  for (const char* k : {"l0", "l1", "l2", "{x}l3", "{x}l4"}) {
    Argv cmd{"LRANGE", k, "0", "-1"};
    CHECK(Format(rc.Cmd(cmd)) == Format(dc.Cmd(cmd)));
  }
  for (const char* k : {"h0", "h1", "h2", "h3"}) {
    Argv cmd{"HGETALL", k};
    CHECK(Canonical(rc.Cmd(cmd), Compare::kSortedPairs) == Canonical(dc.Cmd(cmd), Compare::kSortedPairs));
  }
  MESSAGE("list_hash_random ran ", done, " commands");
}

// darter's COMMAND does not report tips, key specs or the movablekeys flag (the command
// table has no such fields); every other field of the rows must match Redis 7.0.
TEST_CASE("COMMAND INFO rows of the list and hash commands match redis-server") {
  StartedServer redis = StartRedis();
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client rc(redis.port()), dc(darter.port());
  const std::vector<std::string> names = {
      "lpush", "rpush", "lpushx", "rpushx", "lpop", "rpop", "llen", "lrange", "lindex", "lset", "linsert",
      "lrem", "ltrim", "lpos", "rpoplpush", "lmove", "lmpop", "hset", "hsetnx", "hmset", "hget", "hmget",
      "hgetall", "hdel", "hlen", "hexists", "hkeys", "hvals", "hincrby", "hincrbyfloat", "hstrlen",
      "hrandfield", "hscan"};
  for (const auto& name : names) {
    Reply r = rc.Cmd({"COMMAND", "INFO", name});
    Reply d = dc.Cmd({"COMMAND", "INFO", name});
    REQUIRE(r.elements.size() == 1);
    REQUIRE(d.elements.size() == 1);
    const Reply& rr = r.elements[0];
    const Reply& dr = d.elements[0];
    REQUIRE(rr.elements.size() >= 7);
    REQUIRE(dr.elements.size() >= 7);
    INFO(name);
    for (size_t i : {0, 1, 3, 4, 5, 6}) CHECK(Format(rr.elements[i]) == Format(dr.elements[i]));
    std::vector<Reply> rflags;
    for (const auto& f : rr.elements[2].elements)
      if (f.str != "movablekeys") rflags.push_back(f);
    Reply rf = rr.elements[2];
    rf.elements = rflags;
    CHECK(Format(rf) == Format(dr.elements[2]));
  }
}
