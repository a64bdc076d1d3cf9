// DEBUG, PFDEBUG, PFSELFTEST and LOLWUT compared with redis-server 7.0 reply by reply
// where the reply can be compared: DEBUG PROTOCOL byte for byte in RESP2 and RESP3,
// DEBUG OBJECT's fields and encodings, SET-ACTIVE-EXPIRE's effect, CHANGE-REPL-ID's
// ids, PFDEBUG's registers and opcodes after the same PFADDs, the errors of each; and
// that enable-debug-command no refuses every DEBUG subcommand.
#include <doctest/doctest.h>


#include <chrono>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/client.h"
#include "support/raw_conn.h"
#include "support/reply.h"
#include "support/server_pair.h"
#include "support/server_process.h"

using namespace darter::test;
using namespace std::chrono_literals;

namespace {

// The pair of servers each case compares.
ServerPair StartBoth(std::vector<std::string> darter_args = {"--threads", "2"}) {
  return StartRedisAndDarter(std::move(darter_args));
}

void Same(Client& r, Client& d, const std::vector<std::string>& argv) { SameReply(r, d, argv); }

// The exact bytes a server sends for each command, on one connection (bounded waits).
std::vector<std::string> RawReplies(int port, const std::vector<std::vector<std::string>>& commands) {
  RawConn conn(port);
  REQUIRE(conn.ok());
  std::vector<std::string> out;
  for (const auto& argv : commands) {
    std::string req = "*" + std::to_string(argv.size()) + "\r\n";
    for (const auto& a : argv) req += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    REQUIRE(conn.Send(req));
    // Each reply here is small and sent at once: its first bytes, then until 150 ms pass
    // quietly.
    std::string got = conn.ReadAtLeast(1, 2s);
    if (!got.empty()) got += conn.Read(150ms, 5s).data;
    out.push_back(got);
  }
  return out;
}

// DEBUG OBJECT's "name:value" fields (the address excluded).
std::map<std::string, std::string> ObjectFields(const Reply& r) {
  std::map<std::string, std::string> out;
  std::istringstream in(r.str);
  std::string word;
  while (in >> word) {
    size_t colon = word.find(':');
    if (colon == std::string::npos) continue;
    out[word.substr(0, colon)] = word.substr(colon + 1);
  }
  return out;
}

std::set<std::string> Keys(const std::map<std::string, std::string>& m) {
  std::set<std::string> out;
  for (auto& [k, v] : m) out.insert(k);
  return out;
}

std::map<std::string, std::string> InfoReplication(Client& c) {
  Reply r = c.Cmd({"INFO", "replication"});
  std::map<std::string, std::string> out;
  std::istringstream in(r.str);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t colon = line.find(':');
    if (colon != std::string::npos) out[line.substr(0, colon)] = line.substr(colon + 1);
  }
  return out;
}

const char* const kProtocolTypes[] = {"string", "integer", "double", "bignum", "null",     "array", "set",
                                      "map",    "attrib",  "push",   "verbatim", "true",  "false", "nope"};

}  // namespace

TEST_CASE("DEBUG PROTOCOL sends Redis's exact bytes in RESP2 and RESP3") {
  ServerPair p = StartBoth();
  std::vector<std::vector<std::string>> cmds;
  for (const char* t : kProtocolTypes) cmds.push_back({"DEBUG", "PROTOCOL", t});
  cmds.push_back({"HELLO", "3"});
  for (const char* t : kProtocolTypes) cmds.push_back({"DEBUG", "PROTOCOL", t});
  std::vector<std::string> r = RawReplies(p.redis.port(), cmds), d = RawReplies(p.darter.port(), cmds);
  REQUIRE(r.size() == d.size());
  for (size_t i = 0; i < cmds.size(); ++i) {
    if (cmds[i][0] == "HELLO") continue;  // the server's name, version and id differ
    CAPTURE(FormatCommand(cmds[i]));
    CAPTURE(i);
    CHECK(Quote(d[i]) == Quote(r[i]));
  }
}

TEST_CASE("DEBUG OBJECT: Redis's fields, encodings and refcounts; short strings' serialized length") {
  ServerPair p = StartBoth();
  Client r(p.redis.port()), d(p.darter.port());
  std::vector<std::vector<std::string>> setup = {
      {"RPUSH", "list", "a", "b", "c"}, {"SET", "str", "hello"}, {"SET", "int", "123"},
      {"SET", "bigint", "123456789012"}, {"SET", "raw", std::string(100, 'x')}, {"HSET", "hash", "f", "v"},
      {"SADD", "intset", "1", "2", "3"}, {"SADD", "set", "a", "b"}, {"ZADD", "zset", "1", "a"},
      {"XADD", "stream", "1-1", "f", "v"}};
  for (auto& cmd : setup) Same(r, d, cmd);
  for (std::string key : {"list", "str", "int", "bigint", "raw", "hash", "intset", "set", "zset", "stream"}) {
    CAPTURE(key);
    Reply rr = r.Cmd({"DEBUG", "OBJECT", key}), dr = d.Cmd({"DEBUG", "OBJECT", key});
    REQUIRE(rr.type == Reply::Type::kStatus);
    REQUIRE(dr.type == Reply::Type::kStatus);
    CHECK(dr.str.rfind("Value at:0x", 0) == 0);
    auto rf = ObjectFields(rr), df = ObjectFields(dr);
    CHECK(Keys(df) == Keys(rf));
    CHECK(df["encoding"] == rf["encoding"]);
    CHECK(df["refcount"] == rf["refcount"]);
    CHECK(df["lru_seconds_idle"] == "0");
    // The LRU clock is the same clock (seconds, 24 bits) on both; allow a tick.
    long long lru_gap = std::llabs(std::stoll(df["lru"]) - std::stoll(rf["lru"]));
    CHECK((lru_gap <= 2 || lru_gap >= (1 << 24) - 2));
    // Strings up to 20 bytes serialize the same (no LZF); other values in Darter's own
    // RDB encoding (docs/introspection.md).
    if (key == "str" || key == "int" || key == "bigint") CHECK(df["serializedlength"] == rf["serializedlength"]);
    CHECK(std::stoll(df["serializedlength"]) > 0);
    if (key == "list") {
      CHECK(df["ql_nodes"] == rf["ql_nodes"]);
      CHECK(df["ql_avg_node"] == rf["ql_avg_node"]);
      CHECK(df["ql_listpack_max"] == rf["ql_listpack_max"]);
      CHECK(df["ql_compressed"] == rf["ql_compressed"]);
    }
  }
  for (std::vector<std::string> cmd : std::vector<std::vector<std::string>>{
           {"DEBUG", "OBJECT", "missing"}, {"DEBUG", "OBJECT"}, {"DEBUG", "OBJECT", "a", "b"}})
    Same(r, d, cmd);
  // A key past its TTL that nothing removed yet is still shown (Redis reads the table
  // directly); once a read has expired it, it is gone.
  Same(r, d, {"DEBUG", "SET-ACTIVE-EXPIRE", "0"});
  Same(r, d, {"SET", "gone", "v", "PX", "1"});
  std::this_thread::sleep_for(20ms);
  CHECK(ObjectFields(d.Cmd({"DEBUG", "OBJECT", "gone"}))["encoding"] ==
        ObjectFields(r.Cmd({"DEBUG", "OBJECT", "gone"}))["encoding"]);
  Same(r, d, {"GET", "gone"});
  Same(r, d, {"DEBUG", "OBJECT", "gone"});
}

TEST_CASE("DEBUG subcommand errors, ERROR, LOG and STRINGMATCH-TEST as Redis") {
  ServerPair p = StartBoth();
  Client r(p.redis.port()), d(p.darter.port());
  for (std::vector<std::string> cmd : std::vector<std::vector<std::string>>{
           {"DEBUG", "nosuch"},
           {"DEBUG", "Foo", "bar"},
           {"DEBUG", "SET-ACTIVE-EXPIRE"},
           {"DEBUG", "CHANGE-REPL-ID", "x"},
           {"DEBUG", "PROTOCOL"},
           {"DEBUG", "SLEEP"},
           {"DEBUG", "SLEEP", "abc"},
           {"DEBUG", "SLEEP", "-1"},
           {"DEBUG", "DIGEST", "x"},
           {"DEBUG", "HELP", "x"},
           {"DEBUG", "STRINGMATCH-TEST", "x"},
           {"DEBUG", "ERROR", "FOO some message"},
           {"DEBUG", "ERROR", "ERR plain"},
           {"DEBUG", "LOG", "hello from the test"},
           {"DEBUG"},
       })
    Same(r, d, cmd);
  // Redis's own fuzzer runs for seconds (more on a loaded machine): its reply, a status
  // "Apparently Redis did not crash: test passed", is not asked for here.
  Reply dr = d.Cmd({"DEBUG", "STRINGMATCH-TEST"});
  CHECK(dr.type == Reply::Type::kStatus);
  CHECK(dr.str == "Apparently Darter did not crash: test passed");
}

TEST_CASE("DEBUG subcommands Darter refuses say why, and the server carries on") {
  StartedServer s = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(s.status.ok, s.status.message);
  Client c(s.port());
  for (std::string sub : {"SEGFAULT", "PANIC", "ASSERT", "OOM", "RESTART", "CRASH-AND-RECOVER", "LEAK", "LISTPACK",
                          "QUICKLIST", "QUICKLIST-PACKED-THRESHOLD", "SDSLEN", "HTSTATS", "MALLCTL", "JMAP"}) {
    Reply r = c.Cmd({"DEBUG", sub, "x"});
    CAPTURE(sub);
    CHECK(r.type == Reply::Type::kError);
    CHECK(r.str.rfind("ERR DEBUG " + sub + " is not supported by Darter: ", 0) == 0);
  }
  CHECK(Format(c.Cmd({"PING"})) == "+PONG");
  CHECK(s.process->Running());
}

TEST_CASE("DEBUG HELP lists only subcommands that run") {
  StartedServer s = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(s.status.ok, s.status.message);
  Client c(s.port());
  Reply help = c.Cmd({"DEBUG", "HELP"});
  REQUIRE(help.type == Reply::Type::kArray);
  int listed = 0;
  for (const Reply& line : help.elements) {
    // Subcommands without arguments: each must run.
    if (line.str.empty() || line.str[0] == ' ' || line.str.rfind("DEBUG ", 0) == 0) continue;
    if (line.str.find(' ') != std::string::npos) continue;
    std::string sub = line.str.substr(0, line.str.find(' '));
    if (sub == "HELP" || sub == "SLEEP" || sub == "RELOAD" || sub == "POPULATE") continue;  // changes state or waits
    ++listed;
    CAPTURE(sub);
    Reply r = c.Cmd({"DEBUG", sub});
    CHECK(r.str.find("unknown subcommand") == std::string::npos);
    CHECK(r.str.find("not supported by Darter") == std::string::npos);
  }
  CHECK(listed >= 4);
}

TEST_CASE("DEBUG SET-ACTIVE-EXPIRE stops and restarts the background expiry, as Redis") {
  ServerPair p = StartBoth();
  Client r(p.redis.port()), d(p.darter.port());
  for (Client* c : {&r, &d}) {
    CHECK(Format(c->Cmd({"DEBUG", "SET-ACTIVE-EXPIRE", "0"})) == "+OK");
    for (int i = 0; i < 20; ++i) c->Cmd({"SET", "k" + std::to_string(i), "v", "PX", "50"});
  }
  std::this_thread::sleep_for(600ms);
  // Nobody read the keys: with the cycle off they are all still stored.
  CHECK(Format(d.Cmd({"DBSIZE"})) == Format(r.Cmd({"DBSIZE"})));
  CHECK(Format(d.Cmd({"DBSIZE"})) == ":20");
  // Atoi semantics: "abc" is 0 (still off), "2" is on.
  Same(r, d, {"DEBUG", "SET-ACTIVE-EXPIRE", "abc"});
  Same(r, d, {"DEBUG", "SET-ACTIVE-EXPIRE", "2"});
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline && Format(d.Cmd({"DBSIZE"})) != ":0")
    std::this_thread::sleep_for(50ms);
  CHECK(Format(d.Cmd({"DBSIZE"})) == ":0");
}

TEST_CASE("DEBUG CHANGE-REPL-ID: a new replid, replid2 cleared, as Redis") {
  ServerPair p = StartBoth();
  Client r(p.redis.port()), d(p.darter.port());
  for (Client* c : {&r, &d}) {
    auto before = InfoReplication(*c);
    CHECK(Format(c->Cmd({"DEBUG", "CHANGE-REPL-ID"})) == "+OK");
    auto after = InfoReplication(*c);
    CHECK(after["master_replid"].size() == 40);
    CHECK(after["master_replid"] != before["master_replid"]);
    CHECK(after["master_replid2"] == std::string(40, '0'));
    CHECK(after["second_repl_offset"] == "-1");
    CHECK(after["master_repl_offset"] == before["master_repl_offset"]);
  }
}

TEST_CASE("PFDEBUG and PFSELFTEST: the same registers, opcodes and errors as Redis") {
  ServerPair p = StartBoth();
  Client r(p.redis.port()), d(p.darter.port());
  std::vector<std::string> few = {"PFADD", "few"}, many = {"PFADD", "many"};
  for (int i = 0; i < 5; ++i) few.push_back("e" + std::to_string(i));
  for (int i = 0; i < 3000; ++i) many.push_back("m" + std::to_string(i));
  Same(r, d, few);
  Same(r, d, many);
  Same(r, d, {"PFADD", "other", "x", "y"});
  for (std::vector<std::string> cmd : std::vector<std::vector<std::string>>{
           {"PFDEBUG", "ENCODING", "few"},
           {"PFDEBUG", "DECODE", "few"},
           {"PFDEBUG", "ENCODING", "many"},
           {"PFDEBUG", "DECODE", "many"},
           {"PFDEBUG", "GETREG", "many"},
           {"PFDEBUG", "GETREG", "few"},  // turns it dense
           {"PFDEBUG", "ENCODING", "few"},
           {"GET", "few"},
           {"PFDEBUG", "DECODE", "few"},
           {"PFDEBUG", "TODENSE", "few"},
           {"PFDEBUG", "TODENSE", "other"},
           {"GET", "other"},
           {"PFCOUNT", "few", "many", "other"},
           {"PFDEBUG", "NOPE", "few"},
           {"PFDEBUG", "NOPE", "missing"},
           {"PFDEBUG", "GETREG", "missing"},
           {"PFDEBUG", "GETREG"},
           {"PFDEBUG", "GETREG", "few", "extra"},
           {"SET", "str", "not an hll"},
           {"PFDEBUG", "GETREG", "str"},
           {"RPUSH", "list", "a"},
           {"PFDEBUG", "ENCODING", "list"},
           {"SET", "cut", std::string("HYLL\x01", 5) + std::string(11, 'x')},
           {"PFDEBUG", "DECODE", "cut"},
           {"PFDEBUG", "GETREG", "cut"},
           {"PFDEBUG", "TODENSE", "cut"},
           {"GET", "cut"},
           {"OBJECT", "ENCODING", "other"},
           {"PFSELFTEST"},
           {"PFSELFTEST", "x"},
       })
    Same(r, d, cmd);
  // Both are admin commands with Redis's arity, flags, key positions and categories
  // (the first seven fields; Darter's COMMAND INFO has no key specs).
  Reply ri = r.Cmd({"COMMAND", "INFO", "pfdebug", "pfselftest"}), di = d.Cmd({"COMMAND", "INFO", "pfdebug", "pfselftest"});
  REQUIRE(ri.elements.size() == 2);
  REQUIRE(di.elements.size() == 2);
  for (size_t i = 0; i < 2; ++i)
    for (size_t j = 0; j < 7; ++j) CHECK(Format(di.elements[i].elements[j]) == Format(ri.elements[i].elements[j]));
}

TEST_CASE("LOLWUT: Darter's pictures in Redis's reply types and bounds") {
  ServerPair p = StartBoth();
  Client r(p.redis.port()), d(p.darter.port());
  const std::string version_line = "Darter ver. ";
  for (std::vector<std::string> cmd : std::vector<std::vector<std::string>>{
           {"LOLWUT"},
           {"LOLWUT", "VERSION", "5"},
           {"LOLWUT", "VERSION", "5", "20", "3", "2"},
           {"LOLWUT", "VERSION", "5", "1000", "1", "1"},
           {"LOLWUT", "VERSION", "6", "10", "4"},
           {"LOLWUT", "VERSION", "6", "-5", "100000"},
           {"LOLWUT", "VERSION", "4"},
           {"LOLWUT", "whatever"}}) {
    CAPTURE(FormatCommand(cmd));
    Reply rr = r.Cmd(cmd), dr = d.Cmd(cmd);
    CHECK(dr.type == Reply::Type::kString);
    CHECK(dr.type == rr.type);
    CHECK(dr.str.find(version_line) != std::string::npos);
    CHECK(dr.str.back() == '\n');
    // The picture has as many lines as Redis's for the same arguments or fewer (the
    // canvases differ), and never Redis's caption.
    CHECK(dr.str.find("Redis ver.") == std::string::npos);
  }
  // Without VERSION, Redis 7.0 answers with the version line alone; so does Darter.
  CHECK(d.Cmd({"LOLWUT"}).str == version_line + d.Cmd({"LOLWUT", "VERSION", "4"}).str.substr(version_line.size()));
  CHECK(d.Cmd({"LOLWUT"}).str.find('\n') == d.Cmd({"LOLWUT"}).str.size() - 1);
  // Version 5 is drawn in braille dots (U+2800..U+28FF: E2 A0..A3 xx in UTF-8).
  CHECK(d.Cmd({"LOLWUT", "VERSION", "5"}).str.find("\xE2\xA0") != std::string::npos);
  Same(r, d, {"LOLWUT", "VERSION", "abc"});
  Same(r, d, {"LOLWUT", "VERSION", "5", "abc"});
  Same(r, d, {"LOLWUT", "VERSION", "6", "10", "x"});
  // RESP3: a verbatim string, as Redis.
  Client r3(p.redis.port()), d3(p.darter.port());
  r3.Cmd({"HELLO", "3"});
  d3.Cmd({"HELLO", "3"});
  Reply rv = r3.Cmd({"LOLWUT", "VERSION", "4"}), dv = d3.Cmd({"LOLWUT", "VERSION", "4"});
  CHECK(rv.type == Reply::Type::kVerbatim);
  CHECK(dv.type == Reply::Type::kVerbatim);
  CHECK(dv.str.rfind("txt:Darter ver. ", 0) == 0);
  // The largest canvas Redis's bounds allow is refused rather than allocated.
  Reply huge = d.Cmd({"LOLWUT", "VERSION", "5", "1000", "1", "200"});
  CHECK(Format(huge) == "-ERR LOLWUT canvas too large: at most 16777216 pixels");
}

TEST_CASE("enable-debug-command no refuses every DEBUG subcommand") {
  StartedServer s = StartDarter(0, {"--threads", "2", "--enable-debug-command", "no"});
  REQUIRE_MESSAGE(s.status.ok, s.status.message);
  Client c(s.port());
  c.Cmd({"SET", "k", "v"});
  const std::string refused =
      "-ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from "
      "a local connection, otherwise you need to set this option in the configuration file, and then restart the "
      "server.";
  for (std::vector<std::string> cmd : std::vector<std::vector<std::string>>{
           {"DEBUG", "HELP"},
           {"DEBUG", "OBJECT", "k"},
           {"DEBUG", "PROTOCOL", "string"},
           {"DEBUG", "SET-ACTIVE-EXPIRE", "0"},
           {"DEBUG", "CHANGE-REPL-ID"},
           {"DEBUG", "STRINGMATCH-TEST"},
           {"DEBUG", "ERROR", "ERR x"},
           {"DEBUG", "LOG", "x"},
           {"DEBUG", "DIGEST"},
           {"DEBUG", "DIGEST-VALUE", "k"},
           {"DEBUG", "RELOAD"},
           {"DEBUG", "SLEEP", "0"},
           {"DEBUG", "POPULATE", "10"},
           {"DEBUG", "TXSTATE"},
           {"DEBUG", "SEGFAULT"},
           {"DEBUG", "nosuch"}}) {
    CAPTURE(FormatCommand(cmd));
    CHECK(Format(c.Cmd(cmd)) == refused);
  }
  CHECK(Format(c.Cmd({"DBSIZE"})) == ":1");
}
