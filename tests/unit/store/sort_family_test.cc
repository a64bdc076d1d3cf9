// SORT and the multi-key set commands driven in-process over several Shards, hop by
// hop as the transaction layer would, to pin down the hop plans (local vs whole-shard
// SORT, gather-compute-store set algebra) without sockets.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "resp/reply_builder.h"
#include "store/command_table.h"
#include "store/multi_shard_op.h"
#include "store/shard.h"

using namespace darter::store;

namespace {

class Cluster {
 public:
  explicit Cluster(unsigned n) {
    for (unsigned i = 0; i < n; ++i) shards_.push_back(std::make_unique<Shard>(i, 1));
    RegisterSetFamily(table_);
    RegisterSortFamily(table_);
    RegisterListFamily(table_);
    RegisterStringFamily(table_);
    RegisterHashFamily(table_);
  }

  // Runs one command; returns its raw RESP2 reply. Records whether a multi-shard op
  // asked for whole-shard locks.
  std::string Run(std::vector<std::string> argv) {
    std::vector<std::string_view> views(argv.begin(), argv.end());
    ArgList args(views);
    const CommandSpec* spec = table_.Find(argv[0]);
    REQUIRE(spec != nullptr);
    std::string out;
    darter::resp::ReplyBuilder rb(&out);
    unsigned n = static_cast<unsigned>(shards_.size());
    std::vector<size_t> keys = spec->KeyIndices(args);
    if (spec->shard_handler) {
      unsigned s = keys.empty() ? 0 : ShardOf(args[keys[0]], n);
      CommandContext ctx{*shards_[s], 0, args, rb, 1000};
      spec->shard_handler(ctx);
      return out;
    }
    std::vector<std::vector<size_t>> by_shard(n);
    for (size_t i : keys) by_shard[ShardOf(args[i], n)].push_back(i);
    std::unique_ptr<MultiShardOp> op = spec->multi_shard(args);
    HopPlan plan = op->FirstHop(n);
    whole_shards = op->locks_whole_shards();
    hops = 0;
    for (int hop = 0; plan.target != HopTarget::kDone; ++hop, ++hops) {
      std::vector<unsigned> targets;
      switch (plan.target) {
        case HopTarget::kKeyShards:
          for (unsigned s = 0; s < n; ++s)
            if (!by_shard[s].empty()) targets.push_back(s);
          break;
        case HopTarget::kAllShards:
          for (unsigned s = 0; s < n; ++s) targets.push_back(s);
          break;
        case HopTarget::kShardOfKey:
          targets.push_back(ShardOf(args[plan.key_index], n));
          break;
        case HopTarget::kShard:
          targets.push_back(plan.shard);
          break;
        default:
          FAIL("unexpected hop target");
      }
      for (unsigned s : targets) {
        // A hop may only run where the op holds locks: key shards, or all of them.
        CHECK((whole_shards || !by_shard[s].empty()));
        HopContext h{*shards_[s], 0, args, by_shard[s], 1000, n};
        op->RunHop(hop, h);
      }
      plan = op->NextHop(hop);
    }
    op->Reply(rb);
    return out;
  }

  bool whole_shards = false;
  int hops = 0;

 private:
  std::vector<std::unique_ptr<Shard>> shards_;
  CommandTable table_;
};

std::string Arr(std::initializer_list<const char*> items) {
  std::string s = "*" + std::to_string(items.size()) + "\r\n";
  for (const char* i : items) s += "$" + std::to_string(std::string(i).size()) + "\r\n" + i + "\r\n";
  return s;
}

}  // namespace

TEST_CASE("SORT numeric, ALPHA, DESC and LIMIT on a set") {
  Cluster c(3);
  c.Run({"SADD", "s", "10", "2", "33", "-4"});
  CHECK(c.Run({"SORT", "s"}) == Arr({"-4", "2", "10", "33"}));
  CHECK(c.Run({"SORT", "s", "DESC", "LIMIT", "1", "2"}) == Arr({"10", "2"}));
  CHECK(c.Run({"SORT", "s", "ALPHA"}) == Arr({"-4", "10", "2", "33"}));
  CHECK_FALSE(c.whole_shards);
  c.Run({"SADD", "t", "x", "1"});
  CHECK(c.Run({"SORT", "t"}) == "-ERR One or more scores can't be converted into double\r\n");
  CHECK(c.Run({"SORT", "t", "FOO"}) == "-ERR syntax error\r\n");
  CHECK(c.Run({"SORT_RO", "t", "STORE", "d"}) == "-ERR syntax error\r\n");
  CHECK(c.Run({"SORT", "missing"}) == "*0\r\n");
}

TEST_CASE("SORT BY/GET with pattern keys on other shards locks whole shards and reads them") {
  Cluster c(4);
  c.Run({"SADD", "ids", "1", "2", "3"});
  c.Run({"SET", "w_1", "30"});
  c.Run({"SET", "w_2", "10"});
  c.Run({"SET", "w_3", "20"});
  c.Run({"HSET", "h_1", "name", "one"});
  c.Run({"HSET", "h_3", "name", "three"});
  CHECK(c.Run({"SORT", "ids", "BY", "w_*"}) == Arr({"2", "3", "1"}));
  CHECK(c.whole_shards);
  CHECK(c.Run({"SORT", "ids", "BY", "w_*", "GET", "#", "GET", "h_*->name"}) ==
        "*6\r\n$1\r\n2\r\n$-1\r\n$1\r\n3\r\n$5\r\nthree\r\n$1\r\n1\r\n$3\r\none\r\n");
  CHECK(c.Run({"SORT", "ids", "BY", "w_*", "DESC", "GET", "w_*", "STORE", "out"}) == ":3\r\n");
  CHECK(c.Run({"LRANGE", "out", "0", "-1"}) == Arr({"30", "20", "10"}));
  // A constant BY needs no pattern key: no global lock.
  c.Run({"SORT", "ids", "BY", "nosort"});
  CHECK_FALSE(c.whole_shards);
}

TEST_CASE("SORT with hashtag-pinned pattern keys runs in one local hop") {
  Cluster c(4);
  c.Run({"RPUSH", "{u}list", "a", "b", "c"});
  c.Run({"SET", "{u}w_a", "3"});
  c.Run({"SET", "{u}w_b", "1"});
  c.Run({"SET", "{u}w_c", "2"});
  CHECK(c.Run({"SORT", "{u}list", "BY", "{u}w_*", "GET", "{u}w_*"}) == Arr({"1", "2", "3"}));
  CHECK_FALSE(c.whole_shards);
  CHECK(c.hops == 1);
}

TEST_CASE("Set algebra gathers from several shards and stores on the destination's shard") {
  Cluster c(4);
  c.Run({"SADD", "a", "1", "2", "3", "4"});
  c.Run({"SADD", "b", "3", "4", "5"});
  c.Run({"SADD", "c", "4", "6"});
  CHECK(c.Run({"SINTER", "a", "b", "c"}) == Arr({"4"}));
  CHECK(c.Run({"SUNION", "b", "c"}) == Arr({"3", "4", "5", "6"}));
  CHECK(c.Run({"SDIFF", "a", "b"}) == Arr({"1", "2"}));
  CHECK(c.Run({"SINTERSTORE", "dst", "a", "b"}) == ":2\r\n");
  CHECK(c.Run({"SMEMBERS", "dst"}) == Arr({"3", "4"}));
  CHECK(c.Run({"SINTERCARD", "2", "a", "b", "LIMIT", "1"}) == ":1\r\n");
  CHECK(c.Run({"SMOVE", "a", "c", "1"}) == ":1\r\n");
  CHECK(c.Run({"SMEMBERS", "c"}) == Arr({"1", "4", "6"}));
  c.Run({"SET", "str", "x"});
  CHECK(c.Run({"SUNION", "a", "str"}).rfind("-WRONGTYPE", 0) == 0);
  CHECK(c.Run({"SDIFFSTORE", "dst", "missing", "a"}) == ":0\r\n");
  CHECK(c.Run({"SCARD", "dst"}) == ":0\r\n");
}
