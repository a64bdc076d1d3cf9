// A replica applies its primary's writes to keys as stored, even past their deadline on
// the replica's clock; only the primary's DEL removes them. Ordinary reads see such keys
// as absent. Each case: a key given a TTL, the replica's clock moved past it, then what
// a lagging replica receives from its primary.
#include <doctest/doctest.h>

#include <string>

#include "command_runner.h"

using darter::store::testing::CommandRunner;

namespace {

// A replica whose clock is 1 s past the deadline of `key` (created by `create`).
CommandRunner LaggingReplicaWith(std::vector<std::string> create, const std::string& key) {
  CommandRunner r;
  r.shard().set_expire_on_access(false);
  r.Run(create);
  REQUIRE(r.Run({"PEXPIRE", key, "300"}).reply == ":1\r\n");
  r.set_now(r.now() + 1300);
  return r;
}

}  // namespace

TEST_CASE("on a replica, reads hide a key past its deadline but keep it") {
  CommandRunner r = LaggingReplicaWith({"SET", "k", "v"}, "k");
  CHECK(r.Run({"GET", "k"}).reply == "$-1\r\n");
  CHECK(r.Run({"EXISTS", "k"}).reply == ":0\r\n");
  CHECK(r.Run({"TTL", "k"}).reply == ":-2\r\n");
  CHECK(r.Run({"TYPE", "k"}).reply == "+none\r\n");
  CHECK(r.shard().db(0).size() == 1);
}

TEST_CASE("on a replica, the primary's new TTL reaches a key past its old deadline") {
  CommandRunner r = LaggingReplicaWith({"ZADD", "K", "1", "a"}, "K");
  CHECK(r.Run({"PEXPIRE", "K", "100000"}).reply == ":1\r\n");
  CHECK(r.Run({"ZSCORE", "K", "a"}).reply == "$1\r\n1\r\n");
  CHECK(r.Run({"PTTL", "K"}).reply == ":100000\r\n");
}

TEST_CASE("on a replica, the primary's write lands on the stored key, keeping its TTL, until DEL") {
  CommandRunner r = LaggingReplicaWith({"SADD", "Q", "x"}, "Q");
  CHECK(r.Run({"SADD", "Q", "y"}).reply == ":1\r\n");
  CHECK(r.shard().db(0).size() == 1);
  CHECK(r.Run({"SCARD", "Q"}).reply == ":0\r\n");  // still past its deadline: absent to readers
  CHECK(r.Run({"DEL", "Q"}).reply == ":1\r\n");
  CHECK(r.shard().db(0).size() == 0);
}

TEST_CASE("on a replica, stores read their sources as the primary did") {
  CommandRunner r = LaggingReplicaWith({"SADD", "s1", "a", "b"}, "s1");
  CHECK(r.Run({"SUNIONSTORE", "d", "s1"}).reply == ":2\r\n");
  CHECK(r.Run({"SCARD", "d"}).reply == ":2\r\n");
  CHECK(r.Run({"ZUNIONSTORE", "z", "1", "s1"}).reply == ":2\r\n");
  CHECK(r.Run({"SORT", "s1", "ALPHA", "STORE", "l"}).reply == ":2\r\n");
  CHECK(r.Run({"COPY", "s1", "c"}).reply == ":1\r\n");
  CHECK(r.Run({"RENAME", "s1", "s2"}).reply == "+OK\r\n");
  CHECK(r.shard().db(0).size() == 5);
}

TEST_CASE("on a replica, string writes and INCR apply to the stored value") {
  CommandRunner r = LaggingReplicaWith({"SET", "n", "41"}, "n");
  CHECK(r.Run({"INCR", "n"}).reply == ":42\r\n");
  CHECK(r.Run({"APPEND", "n", "x"}).reply == ":3\r\n");
  CHECK(r.Run({"SET", "n", "new", "GET"}).reply == "$3\r\n42x\r\n");
  CHECK(r.Run({"GET", "n"}).reply == "$3\r\nnew\r\n");  // SET cleared the TTL
}

TEST_CASE("on a replica, a deadline already past is stored for the primary's DEL, not applied") {
  CommandRunner r;
  r.shard().set_expire_on_access(false);
  r.Run({"SET", "k", "v"});
  CHECK(r.Run({"PEXPIREAT", "k", "1"}).reply == ":1\r\n");
  CHECK(r.shard().db(0).size() == 1);
  CHECK(r.Run({"GET", "k"}).reply == "$-1\r\n");
}

TEST_CASE("on a primary, the same writes see an expired key as absent") {
  CommandRunner r;
  r.Run({"SADD", "Q", "x"});
  r.Run({"PEXPIRE", "Q", "300"});
  r.set_now(r.now() + 1300);
  CHECK(r.Run({"SADD", "Q", "y"}).reply == ":1\r\n");
  CHECK(r.Run({"SMEMBERS", "Q"}).reply == "*1\r\n$1\r\ny\r\n");
  CHECK(r.Run({"PTTL", "Q"}).reply == ":-1\r\n");
  CHECK(r.Run({"PEXPIREAT", "Q", "1"}).reply == ":1\r\n");
  CHECK(r.shard().db(0).size() == 0);
}

TEST_CASE("TTL, TYPE, EXISTS and OBJECT do not touch the access clock") {
  CommandRunner r;
  r.Run({"SET", "k", "v"});
  darter::store::Slot* s = r.shard().ForChange(0, r.shard().db(0).Find("k"));
  REQUIRE(s != nullptr);
  s->access = 7;
  for (const char* cmd : {"TTL", "PTTL", "TYPE", "EXISTS"}) r.Run({cmd, "k"});
  r.Run({"OBJECT", "ENCODING", "k"});
  CHECK(s->access == 7);
  r.Run({"GET", "k"});
  CHECK(s->access != 7);
}
