// The non-blocking forms of the blocking commands (blocking_family.cc): replies and the
// effects they journal, over 1 and 3 in-process shards; and the serve-path helpers.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "resp/reply_builder.h"
#include "store/blocking_forms.h"
#include "store/command_table.h"
#include "store/multi_shard_op.h"
#include "store/shard.h"

using namespace darter::store;

namespace {

struct Run {
  std::string reply;
  std::vector<std::vector<std::string>> journal;  // effects of every hop, in order
};

// Runs a command (shard handler or op) over `shards` as the server would, single
// threaded, collecting the journaled effects.
Run RunCommand(std::vector<std::unique_ptr<Shard>>& shards, std::vector<std::string> argv, int protocol = 2) {
  std::vector<std::string_view> args(argv.begin(), argv.end());
  const CommandSpec* spec = CommandTable::Global().Find(args[0]);
  REQUIRE(spec);
  Run run;
  darter::resp::ReplyBuilder rb(&run.reply);
  rb.SetProtocol(protocol);
  unsigned n = static_cast<unsigned>(shards.size());
  auto record = [&](const Effects& fx) {
    if (!fx.dirty()) return;
    if (fx.rewritten()) {
      for (auto& c : fx.commands()) run.journal.push_back(c);
    } else {
      run.journal.emplace_back(argv);
    }
  };
  std::vector<size_t> key_indices = spec->KeyIndices(args);
  if (spec->shard_handler) {
    CommandContext ctx{*shards[key_indices.empty() ? 0 : ShardOf(args[key_indices[0]], n)], 0, args, rb, 1000};
    spec->shard_handler(ctx);
    record(ctx.effects);
    return run;
  }
  std::unique_ptr<MultiShardOp> op = spec->multi_shard(args);
  std::vector<std::vector<size_t>> by_shard(n);
  for (size_t i : key_indices) by_shard[ShardOf(args[i], n)].push_back(i);
  HopPlan plan = op->FirstHop(n);
  for (int hop = 0; plan.target != HopTarget::kDone; ++hop) {
    std::vector<unsigned> targets;
    if (plan.target == HopTarget::kShardOfKey) {
      targets.push_back(ShardOf(args[plan.key_index], n));
    } else {
      for (unsigned s = 0; s < n; ++s)
        if (!by_shard[s].empty()) targets.push_back(s);
    }
    for (unsigned s : targets) {
      HopContext ctx{*shards[s], 0, args, by_shard[s], 1000, n};
      op->RunHop(hop, ctx);
      record(ctx.effects);
    }
    plan = op->NextHop(hop);
  }
  op->Reply(rb);
  return run;
}

std::vector<std::unique_ptr<Shard>> MakeShards(unsigned n) {
  std::vector<std::unique_ptr<Shard>> shards;
  for (unsigned i = 0; i < n; ++i) shards.push_back(std::make_unique<Shard>(i, 16));
  return shards;
}

using V = std::vector<std::vector<std::string>>;

}  // namespace

TEST_CASE("blocking commands' non-blocking forms: replies and journaled effects") {
  for (unsigned n : {1u, 3u}) {
    CAPTURE(n);
    auto shards = MakeShards(n);
    RunCommand(shards, {"RPUSH", "k2", "a", "b", "c"});
    Run r = RunCommand(shards, {"BLPOP", "k1", "k2", "0"});
    CHECK(r.reply == "*2\r\n$2\r\nk2\r\n$1\r\na\r\n");
    CHECK(r.journal == V{{"LPOP", "k2"}});
    r = RunCommand(shards, {"BRPOP", "k2", "k1", "1.5"});
    CHECK(r.reply == "*2\r\n$2\r\nk2\r\n$1\r\nc\r\n");
    CHECK(r.journal == V{{"RPOP", "k2"}});
    r = RunCommand(shards, {"BLMPOP", "0", "2", "k1", "k2", "RIGHT", "COUNT", "5"});
    CHECK(r.reply == "*2\r\n$2\r\nk2\r\n*1\r\n$1\r\nb\r\n");
    CHECK(r.journal == V{{"RPOP", "k2", "5"}});
    // Nothing there: the null of an expired timeout, and nothing journaled.
    r = RunCommand(shards, {"BLPOP", "k1", "k2", "0"});
    CHECK(r.reply == "*-1\r\n");
    CHECK(r.journal.empty());
    CHECK(RunCommand(shards, {"BLPOP", "k1", "-1"}).reply == "-ERR timeout is negative\r\n");
    CHECK(RunCommand(shards, {"BLMOVE", "k1", "k2", "UP", "LEFT", "-1"}).reply == "-ERR syntax error\r\n");
    CHECK(RunCommand(shards, {"BLMOVE", "k1", "k2", "LEFT", "LEFT", "-1"}).reply ==
          "-ERR timeout is negative\r\n");

    RunCommand(shards, {"ZADD", "z", "1", "m1", "2", "m2"});
    r = RunCommand(shards, {"BZPOPMIN", "none", "z", "0"});
    CHECK(r.reply == "*3\r\n$1\r\nz\r\n$2\r\nm1\r\n$1\r\n1\r\n");
    CHECK(r.journal == V{{"ZPOPMIN", "z", "1"}});
    r = RunCommand(shards, {"BZPOPMAX", "z", "0"}, 3);
    CHECK(r.reply == "*3\r\n$1\r\nz\r\n$2\r\nm2\r\n,2\r\n");

    RunCommand(shards, {"RPUSH", "src", "x", "y"});
    r = RunCommand(shards, {"BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"});
    CHECK(r.reply == "$1\r\nx\r\n");
    // LMOVE as sent (each of MoveOp's writing hops reports it: pop, then push).
    CHECK(!r.journal.empty());
    for (auto& c : r.journal) CHECK(c == std::vector<std::string>{"LMOVE", "src", "dst", "LEFT", "RIGHT"});
    r = RunCommand(shards, {"BRPOPLPUSH", "src", "dst", "0"});
    CHECK(r.reply == "$1\r\ny\r\n");
    CHECK(RunCommand(shards, {"LRANGE", "dst", "0", "-1"}).reply == "*2\r\n$1\r\ny\r\n$1\r\nx\r\n");
  }
}

TEST_CASE("serve path: the command run on the key's shard and the reply it makes") {
  using namespace darter::store::blocking;
  auto shards = MakeShards(1);
  std::vector<std::string> argv{"BLMPOP", "0", "2", "a", "b", "LEFT", "COUNT", "2"};
  std::vector<std::string_view> args(argv.begin(), argv.end());
  auto call = ParseBlockingCall(args);
  REQUIRE(call);
  CHECK(call->key_args == std::vector<size_t>{3, 4});
  CHECK(ServeCommand(*call, args, 4, "") == std::vector<std::string>{"LPOP", "b", "2"});
  RunCommand(shards, {"RPUSH", "b", "1", "2", "3"});
  Run r = RunCommand(shards, ServeCommand(*call, args, 4, ""));
  ServeReply(call->kind, "b", &r.reply);
  CHECK(r.reply == "*2\r\n$1\r\nb\r\n*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
  CHECK(r.journal == V{{"LPOP", "b", "2"}});

  std::vector<std::string> xr{"XREAD", "COUNT", "3", "BLOCK", "0", "STREAMS", "s", "t", "$", "0-0"};
  std::vector<std::string_view> xargs(xr.begin(), xr.end());
  auto xcall = ParseBlockingCall(xargs);
  REQUIRE(xcall);
  CHECK(xcall->timeout_ms == 0);
  CHECK(xcall->stream_ids_arg == 8);
  CHECK(ServeCommand(*xcall, xargs, 7, "5-1") ==
        std::vector<std::string>{"XREAD", "COUNT", "3", "STREAMS", "t", "5-1"});
  // No BLOCK, or a history id in XREADGROUP: never waits.
  std::vector<std::string> nb{"XREAD", "STREAMS", "s", "0"};
  std::vector<std::string_view> nbargs(nb.begin(), nb.end());
  CHECK(!ParseBlockingCall(nbargs));
  std::vector<std::string> hist{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "10", "STREAMS", "s", "0"};
  std::vector<std::string_view> hargs(hist.begin(), hist.end());
  CHECK(!ParseBlockingCall(hargs));

  int64_t ms = -1;
  CHECK(ParseTimeoutSeconds("0.0001", &ms).empty());
  CHECK(ms == 1);
  CHECK(ParseTimeoutSeconds("-0.0001", &ms).empty());
  CHECK(ms == 0);
  CHECK(ParseTimeoutSeconds("1.5", &ms).empty());
  CHECK(ms == 1500);
  CHECK(ParseTimeoutSeconds("inf", &ms) == "ERR timeout is negative");
  CHECK(ParseTimeoutSeconds("nan", &ms) == "ERR timeout is not a float or out of range");
  CHECK(ParseTimeoutSeconds(" 1", &ms) == "ERR timeout is not a float or out of range");
}
