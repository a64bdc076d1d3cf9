// List commands through the command table, without sockets: replies, the effects rules
// (pops mark dirty only when they popped; LMOVE is journaled verbatim) and the
// multi-shard LMOVE/LMPOP ops run hop by hop on one shard.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "resp/reply_builder.h"
#include "store/command_table.h"
#include "store/multi_shard_op.h"
#include "store/shard.h"

using namespace darter::store;

namespace {

struct Result {
  std::string reply;
  uint64_t dirty = 0;
  bool rewritten = false;
};

class ListRunner {
 public:
  Result Run(std::vector<std::string> argv) {
    const CommandSpec* spec = CommandTable::Global().Find(argv[0]);
    REQUIRE(spec != nullptr);
    std::vector<std::string_view> args(argv.begin(), argv.end());
    std::string out;
    darter::resp::ReplyBuilder rb(&out);
    Result r;
    if (spec->shard_handler) {
      CommandContext c{shard_, 0, args, rb, 1000};
      spec->shard_handler(c);
      r.dirty = c.effects.dirty();
      r.rewritten = c.effects.rewritten();
    } else {
      auto op = spec->multi_shard(args);
      std::vector<size_t> keys = spec->KeyIndices(args);
      HopPlan plan = op->FirstHop(1);
      for (int hop = 0; plan.target != HopTarget::kDone; ++hop) {
        HopContext h{shard_, 0, args, keys, 1000, 1};
        op->RunHop(hop, h);
        r.dirty += h.effects.dirty();
        r.rewritten = r.rewritten || h.effects.rewritten();
        plan = op->NextHop(hop);
      }
      op->Reply(rb);
    }
    r.reply = out;
    return r;
  }

 private:
  Shard shard_{0, 1};
};

}  // namespace

TEST_CASE("LPUSH/RPUSH create the list; pops mark dirty only when they popped") {
  ListRunner r;
  auto push = r.Run({"RPUSH", "l", "a", "b", "c"});
  CHECK(push.reply == ":3\r\n");
  CHECK(push.dirty == 3);
  CHECK(r.Run({"LPOP", "l", "0"}).dirty == 0);
  CHECK(r.Run({"LPOP", "missing"}).dirty == 0);
  CHECK(r.Run({"LPOP", "missing", "2"}).reply == "*-1\r\n");
  auto pop = r.Run({"RPOP", "l", "2"});
  CHECK(pop.reply == "*2\r\n$1\r\nc\r\n$1\r\nb\r\n");
  CHECK(pop.dirty == 1);
  CHECK_FALSE(pop.rewritten);
  CHECK(r.Run({"LPOP", "l"}).reply == "$1\r\na\r\n");
  CHECK(r.Run({"EXISTS", "l"}).reply == ":0\r\n");  // an emptied list is deleted
}

TEST_CASE("LMOVE and RPOPLPUSH move atomically, including onto the same key") {
  ListRunner r;
  r.Run({"RPUSH", "src", "1", "2", "3"});
  auto mv = r.Run({"LMOVE", "src", "dst", "LEFT", "RIGHT"});
  CHECK(mv.reply == "$1\r\n1\r\n");
  CHECK(mv.dirty == 2);
  CHECK_FALSE(mv.rewritten);  // deterministic: journaled verbatim
  CHECK(r.Run({"RPOPLPUSH", "src", "src"}).reply == "$1\r\n3\r\n");
  CHECK(r.Run({"LRANGE", "src", "0", "-1"}).reply == "*2\r\n$1\r\n3\r\n$1\r\n2\r\n");
  CHECK(r.Run({"LMOVE", "nothing", "dst", "LEFT", "LEFT"}).reply == "$-1\r\n");
  CHECK(r.Run({"LMOVE", "nothing", "dst", "LEFT", "LEFT"}).dirty == 0);
  r.Run({"SET", "str", "v"});
  CHECK(r.Run({"LMOVE", "src", "str", "LEFT", "LEFT"}).reply.rfind("-WRONGTYPE", 0) == 0);
  CHECK(r.Run({"LLEN", "src"}).reply == ":2\r\n");  // nothing moved
}

TEST_CASE("LMPOP pops from the first non-empty list and reports its name") {
  ListRunner r;
  r.Run({"RPUSH", "b", "x", "y", "z"});
  auto res = r.Run({"LMPOP", "3", "a", "b", "c", "RIGHT", "COUNT", "2"});
  CHECK(res.reply == "*2\r\n$1\r\nb\r\n*2\r\n$1\r\nz\r\n$1\r\ny\r\n");
  CHECK(res.dirty == 1);
  CHECK(r.Run({"LMPOP", "1", "a", "LEFT"}).reply == "*-1\r\n");
  CHECK(r.Run({"LMPOP", "0", "a", "LEFT"}).reply == "-ERR numkeys should be greater than 0\r\n");
}
