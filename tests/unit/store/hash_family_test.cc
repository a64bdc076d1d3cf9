// Hash commands through the command table, without sockets: replies and the effects
// rules (HINCRBYFLOAT propagates HSET with the result; no-op HDEL is not dirty).
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "resp/reply_builder.h"
#include "store/command_table.h"
#include "store/shard.h"

using namespace darter::store;

namespace {

struct HashResult {
  std::string reply;
  uint64_t dirty = 0;
  std::vector<std::vector<std::string>> propagated;
};

class HashRunner {
 public:
  HashResult Run(std::vector<std::string> argv, int protocol = 2) {
    const CommandSpec* spec = CommandTable::Global().Find(argv[0]);
    REQUIRE(spec != nullptr);
    REQUIRE(static_cast<bool>(spec->shard_handler));
    std::vector<std::string_view> args(argv.begin(), argv.end());
    if (spec->validate) {
      std::string err = spec->validate(args);
      if (!err.empty()) return {"-" + err + "\r\n", 0, {}};
    }
    std::string out;
    darter::resp::ReplyBuilder rb(&out);
    rb.SetProtocol(protocol);
    CommandContext c{shard_, 0, args, rb, 1000};
    spec->shard_handler(c);
    return {out, c.effects.dirty(), c.effects.commands()};
  }

 private:
  Shard shard_{0, 1};
};

}  // namespace

TEST_CASE("HINCRBYFLOAT propagates HSET with the result") {
  HashRunner r;
  auto res = r.Run({"HINCRBYFLOAT", "h", "f", "1.5"});
  CHECK(res.reply == "$3\r\n1.5\r\n");
  REQUIRE(res.propagated.size() == 1);
  CHECK(res.propagated[0] == std::vector<std::string>{"HSET", "h", "f", "1.5"});
  res = r.Run({"HINCRBYFLOAT", "h", "f", "0.25"});
  CHECK(res.propagated[0] == std::vector<std::string>{"HSET", "h", "f", "1.75"});
}

TEST_CASE("HSET counts new fields; HDEL of nothing is not a change; an emptied hash is deleted") {
  HashRunner r;
  auto set = r.Run({"HSET", "h", "a", "1", "b", "2", "a", "3"});
  CHECK(set.reply == ":2\r\n");
  CHECK(r.Run({"HGET", "h", "a"}).reply == "$1\r\n3\r\n");
  CHECK(r.Run({"HSET", "h", "a"}).reply == "-ERR wrong number of arguments for 'hset' command\r\n");
  auto del = r.Run({"HDEL", "h", "zz"});
  CHECK(del.reply == ":0\r\n");
  CHECK(del.dirty == 0);
  CHECK(r.Run({"HDEL", "h", "a", "b"}).dirty == 2);
  CHECK(r.Run({"HLEN", "h"}).reply == ":0\r\n");
}

TEST_CASE("HGETALL is a map in RESP3; HRANDFIELD WITHVALUES nests pairs in RESP3") {
  HashRunner r;
  r.Run({"HSET", "h", "a", "1"});
  CHECK(r.Run({"HGETALL", "h"}, 3).reply == "%1\r\n$1\r\na\r\n$1\r\n1\r\n");
  CHECK(r.Run({"HRANDFIELD", "h", "1", "WITHVALUES"}, 3).reply == "*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n");
  CHECK(r.Run({"HRANDFIELD", "h", "-2", "WITHVALUES"}, 2).reply ==
        "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\na\r\n$1\r\n1\r\n");
}

TEST_CASE("HSCAN of a hash table visits every field with its cursor") {
  HashRunner r;
  for (int i = 0; i < 300; ++i) r.Run({"HSET", "big", "field:" + std::to_string(i), "v"});
  std::string cursor = "0";
  size_t replies = 0;
  std::string all;
  do {
    std::string out = r.Run({"HSCAN", "big", cursor, "COUNT", "20"}).reply;
    // "*2\r\n$<n>\r\n<cursor>\r\n*<m>\r\n..."
    size_t p = out.find("\r\n", 4);
    size_t q = out.find("\r\n", p + 2);
    cursor = out.substr(p + 2, q - p - 2);
    all += out;
    ++replies;
  } while (cursor != "0" && replies < 1000);
  CHECK(cursor == "0");
  CHECK(replies > 2);
  for (int i = 0; i < 300; ++i) CHECK(all.find("field:" + std::to_string(i) + "\r\n") != std::string::npos);
}

TEST_CASE("HRANDFIELD with a positive count returns distinct fields, in both encodings") {
  HashRunner r;
  for (int i = 0; i < 300; ++i) r.Run({"HSET", "big", "f" + std::to_string(i), "v"});
  for (int i = 0; i < 20; ++i) r.Run({"HSET", "small", "f" + std::to_string(i), "v"});
  for (const char* key : {"big", "small"}) {
    for (const char* count : {"5", "15", "250"}) {
      std::string out = r.Run({"HRANDFIELD", key, count}).reply;
      std::vector<std::string> fields;
      for (size_t p = out.find("$"); p != std::string::npos; p = out.find("$", p + 1)) {
        size_t a = out.find("\r\n", p) + 2;
        fields.push_back(out.substr(a, out.find("\r\n", a) - a));
      }
      size_t want = std::min<size_t>(std::stoul(count), std::string(key) == "big" ? 300 : 20);
      CHECK(fields.size() == want);
      std::sort(fields.begin(), fields.end());
      CHECK(std::adjacent_find(fields.begin(), fields.end()) == fields.end());
    }
  }
}
