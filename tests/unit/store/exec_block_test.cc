#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "resp/reply_builder.h"
#include "store/command_table.h"
#include "store/exec_block.h"
#include "store/shard.h"

using namespace darter::store;

namespace {

// Drives an op hop by hop over in-process shards, as the transaction layer does (one
// thread; hops of one step run one after the other).
std::string RunOp(MultiShardOp& op, std::vector<std::unique_ptr<Shard>>& shards, ArgList lock_args,
                  const std::vector<size_t>& key_indices) {
  unsigned n = static_cast<unsigned>(shards.size());
  std::vector<std::vector<size_t>> by_shard(n);
  for (size_t i : key_indices) by_shard[ShardOf(lock_args[i], n)].push_back(i);
  HopPlan plan = op.FirstHop(n);
  for (int hop = 0; plan.target != HopTarget::kDone; ++hop) {
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
        targets.push_back(ShardOf(lock_args[plan.key_index], n));
        break;
      case HopTarget::kShard:
        targets.push_back(plan.shard);
        break;
      case HopTarget::kShardList:
        targets = plan.shards;
        break;
      case HopTarget::kDone:
        break;
    }
    for (unsigned s : targets) {
      HopContext ctx{*shards[s], 0, lock_args, by_shard[s], 1000, n};
      op.RunHop(hop, ctx);
    }
    plan = op.NextHop(hop);
  }
  std::string out;
  darter::resp::ReplyBuilder rb(&out);
  op.Reply(rb);
  return out;
}

ExecBlockOp::Command Cmd(std::vector<std::string> argv) {
  ExecBlockOp::Command c;
  c.spec = CommandTable::Global().Find(argv[0]);
  c.argv = std::move(argv);
  return c;
}

std::string Get(std::vector<std::unique_ptr<Shard>>& shards, unsigned db, const std::string& key) {
  Shard& s = *shards[ShardOf(key, static_cast<unsigned>(shards.size()))];
  Slot* slot = s.FindLive(db, key, 1000);
  return slot ? std::string(slot->value.string_view()) : "(nil)";
}

}  // namespace

TEST_CASE("ExecBlockOp runs single- and multi-shard commands in order and replies like EXEC") {
  std::vector<std::unique_ptr<Shard>> shards;
  for (unsigned i = 0; i < 3; ++i) shards.push_back(std::make_unique<Shard>(i, 4));
  std::vector<ExecBlockOp::Command> cmds;
  cmds.push_back(Cmd({"SET", "a", "1"}));
  cmds.push_back(Cmd({"MSET", "b", "2", "c", "3", "d", "4"}));
  cmds.push_back(Cmd({"INCR", "a"}));
  cmds.push_back(Cmd({"MGET", "a", "b", "c", "d"}));
  cmds.push_back(Cmd({"INCR", "b", "extra"}));  // wrong arity: an error in its slot
  cmds.push_back(Cmd({"SELECT", "2"}));
  cmds.push_back(Cmd({"SET", "e", "5"}));
  cmds.push_back(Cmd({"NOSUCHCMD"}));
  ExecBlockOp op(std::move(cmds), 0, 4, 2);
  std::string reply = RunOp(op, shards, op.lock_args(), op.lock_key_indices());
  CHECK(reply ==
        "*8\r\n+OK\r\n+OK\r\n:2\r\n*4\r\n$1\r\n2\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n"
        "-ERR wrong number of arguments for 'incr' command\r\n+OK\r\n+OK\r\n"
        "-ERR unknown command 'NOSUCHCMD'\r\n");
  CHECK(Get(shards, 0, "a") == "2");
  CHECK(Get(shards, 0, "d") == "4");
  CHECK(Get(shards, 2, "e") == "5");
  CHECK(Get(shards, 0, "e") == "(nil)");
  CHECK(op.locks_whole_shards());  // SELECT 2: keys of db 2 cannot be locked by name
  CHECK(op.db() == 2);
}

TEST_CASE("ExecBlockOp locks only its keys when every command names its keys in the starting db") {
  std::vector<std::unique_ptr<Shard>> shards;
  for (unsigned i = 0; i < 3; ++i) shards.push_back(std::make_unique<Shard>(i, 4));
  std::vector<ExecBlockOp::Command> cmds;
  cmds.push_back(Cmd({"SET", "a", "1"}));
  cmds.push_back(Cmd({"SELECT", "0"}));
  cmds.push_back(Cmd({"MSET", "b", "2", "c", "3"}));
  ExecBlockOp op(std::move(cmds), 0, 4, 2);
  std::string reply = RunOp(op, shards, op.lock_args(), op.lock_key_indices());
  CHECK(reply == "*3\r\n+OK\r\n+OK\r\n+OK\r\n");
  CHECK(!op.locks_whole_shards());
}

TEST_CASE("ExecBlockOp reports each hop as the command it runs, and marks its commands as in a block") {
  std::vector<std::unique_ptr<Shard>> shards;
  shards.push_back(std::make_unique<Shard>(0, 4));
  std::vector<ExecBlockOp::Command> cmds;
  cmds.push_back(Cmd({"SELECT", "3"}));
  cmds.push_back(Cmd({"SET", "k", "v"}));
  ExecBlockOp op(std::move(cmds), 0, 4, 2);
  ArgList lock_args = op.lock_args();
  std::vector<size_t> all = op.lock_key_indices();
  HopPlan plan = op.FirstHop(1);
  REQUIRE(plan.target == HopTarget::kShard);
  CHECK(!ExecBlockOp::InBlock());
  HopContext ctx{*shards[0], 0, lock_args, all, 1000, 1};
  op.RunHop(0, ctx);
  CHECK(!ExecBlockOp::InBlock());  // only while a command runs
  CHECK(ctx.db == 3);
  REQUIRE(ctx.args.size() == 3);
  CHECK(ctx.args[0] == "SET");
  REQUIRE(ctx.key_indices.size() == 1);
  CHECK(ctx.args[ctx.key_indices[0]] == "k");
  CHECK(ctx.effects.dirty() == 1);
  CHECK(op.NextHop(0).target == HopTarget::kDone);
}

TEST_CASE("ExecBlockOp runs connection-level commands through its local runner") {
  std::vector<std::unique_ptr<Shard>> shards;
  shards.push_back(std::make_unique<Shard>(0, 4));
  CommandSpec echo;
  echo.name = "echo";
  echo.arity = 2;
  echo.conn_handler = [](ConnectionContext&) {};
  std::vector<ExecBlockOp::Command> cmds;
  cmds.push_back({{"ECHO", "hi"}, &echo});
  cmds.push_back(Cmd({"SET", "k", "v"}));
  {
    std::vector<ExecBlockOp::Command> copy = cmds;
    ExecBlockOp op(std::move(copy), 0, 4, 2);
    std::string reply = RunOp(op, shards, op.lock_args(), op.lock_key_indices());
    CHECK(reply == "*2\r\n-ERR 'echo' is not allowed inside a transaction\r\n+OK\r\n");
  }
  ExecBlockOp op(std::move(cmds), 0, 4, 2);
  op.set_local_runner([](const CommandSpec& spec, ArgList args, std::string* out) {
    *out = "$" + std::to_string(args[1].size()) + "\r\n" + std::string(args[1]) + "\r\n";
    CHECK(spec.name == "echo");
    CHECK(ExecBlockOp::InBlock());  // a blocking connection command must not park here
  });
  std::string reply = RunOp(op, shards, op.lock_args(), op.lock_key_indices());
  CHECK(reply == "*2\r\n$2\r\nhi\r\n+OK\r\n");
}

TEST_CASE("ExecBlockOp locks whole shards when a command reaches shards its keys do not name") {
  std::vector<std::unique_ptr<Shard>> shards;
  for (unsigned i = 0; i < 2; ++i) shards.push_back(std::make_unique<Shard>(i, 2));
  std::vector<ExecBlockOp::Command> cmds;
  cmds.push_back(Cmd({"SET", "x", "1"}));
  cmds.push_back(Cmd({"FLUSHALL"}));
  cmds.push_back(Cmd({"SET", "y", "2"}));
  cmds.push_back(Cmd({"DBSIZE"}));
  ExecBlockOp op(std::move(cmds), 0, 2, 2);
  std::string reply = RunOp(op, shards, op.lock_args(), op.lock_key_indices());
  CHECK(op.locks_whole_shards());
  CHECK(reply == "*4\r\n+OK\r\n+OK\r\n+OK\r\n:1\r\n");
  CHECK(Get(shards, 0, "x") == "(nil)");
  CHECK(Get(shards, 0, "y") == "2");
}
