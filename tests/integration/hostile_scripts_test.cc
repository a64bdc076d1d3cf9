// Hostile Lua scripts against darter-server --threads 2: each case sends scripts that
// crashed, hijacked or stalled the server, checks Redis 7.0's reply (or, where Redis
// itself crashes, a plain error), and ends with CheckServerHealthy.
#include <doctest/doctest.h>

#include <signal.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support/client.h"
#include "support/server_health.h"
#include "support/server_process.h"
#include "support/server_under_test.h"

namespace darter::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kMaxRss = 256ull << 20;
constexpr const char* kBusy =
    "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";

StartedServer Start() { return StartDarter(0, {"--threads", "2"}); }

void ExpectHealthy(ServerProcess& server) {
  HealthReport h = CheckServerHealthy(server, kMaxRss);
  CHECK_MESSAGE(h.ok, h.message);
}

std::string Eval(Client& c, const std::string& body, std::vector<std::string> keys = {}) {
  std::vector<std::string> argv = {"EVAL", body, std::to_string(keys.size())};
  argv.insert(argv.end(), keys.begin(), keys.end());
  return Format(c.Cmd(argv));
}

// The error text without its " script: <sha>, on ..." suffix.
std::string ErrorHead(const std::string& formatted) { return formatted.substr(0, formatted.find(" script: ")); }

bool WaitForExit(ServerProcess& server, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (!server.Running()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return !server.Running();
}

TEST_CASE("bit.tohex gives Lua BitOp's digits for every n, INT_MIN included") {
  StartedServer server = Start();
  REQUIRE_MESSAGE(server.status.ok, server.status.message);
  Client c(server.port());
  CHECK(Eval(c, "return bit.tohex(65535, -2147483648)") == "\"0000FFFF\"");
  CHECK(Eval(c,
             "return bit.tohex(65535, 2147483647)..' '..bit.tohex(65535, -8)..' '..bit.tohex(65535, 0)..' '.."
             "bit.tohex(-1, 100)..' '..bit.tohex(65535)..' '..bit.tohex(-1, -3)..' '..bit.tohex(2^32 + 255, 4)") ==
        "\"0000ffff 0000FFFF  ffffffff 0000ffff FFF 00ff\"");
  CHECK(ErrorHead(Eval(c, "return bit.tohex()")) ==
        "-ERR user_script:1: bad argument #1 to 'tohex' (number expected, got no value)");
  ExpectHealthy(*server.process);
}

TEST_CASE("deep pattern recursion: Redis's depth works, deeper is an error, never a crash") {
  StartedServer server = Start();
  REQUIRE_MESSAGE(server.status.ok, server.status.message);
  Client c(server.port());
  // 50,000 levels of the matcher's recursion (Redis replies the same on its 8 MB stack).
  CHECK(Eval(c, "return {string.find(string.rep('a', 50000), string.rep('a?', 50000))}") == "[:1, :50000]");
  CHECK(Eval(c, "return #string.match(string.rep('a', 50000), string.rep('a?', 50000))") == ":50000");
  CHECK(Eval(c, "return #string.gsub(string.rep('a', 50000), string.rep('a?', 50000), 'b')") == ":2");
  CHECK(Eval(c, "local n = 0 for m in string.gmatch(string.rep('a', 50000), string.rep('a?', 50000)) do "
                "n = n + #m end return n") == ":50000");
  // 400,000 '*' levels: Redis overflows its stack here; Darter refuses the match.
  for (const char* fn : {"find", "match", "gsub", "gmatch"}) {
    std::string call = std::string("string.") + fn + "(string.rep('a', 10), string.rep('a*', 400000)" +
                       (std::string(fn) == "gsub" ? ", '')" : ")");
    if (std::string(fn) == "gmatch") call += "()";
    CHECK(ErrorHead(Eval(c, "return " + call)) == "-ERR user_script:1: pattern too complex");
  }
  // A short subject bounds the '?' levels: a long pattern of them still matches.
  CHECK(Eval(c, "return {string.find(string.rep('a', 20), string.rep('a?', 600000))}") == "[:1, :20]");
  // Pattern errors keep the script's position, as in Redis.
  CHECK(ErrorHead(Eval(c, "return string.find('a', '%')")) ==
        "-ERR user_script:1: malformed pattern (ends with '%')");
  CHECK(ErrorHead(Eval(c, "return string.find(nil, 'a')")) ==
        "-ERR user_script:1: bad argument #1 to 'find' (string expected, got nil)");
  ExpectHealthy(*server.process);
}

TEST_CASE("hostile error objects are replied as errors, never abort the server") {
  StartedServer server = Start();
  REQUIRE_MESSAGE(server.status.ok, server.status.message);
  Client c(server.port());
  // Redis 7.0.15 itself aborts ("PANIC: unprotected error") or crashes on these three.
  CHECK(ErrorHead(Eval(c, "error(setmetatable({}, {__index = function() error('x') end}))")) ==
        "-ERR unknown error");
  CHECK(ErrorHead(Eval(c, "error({})")) == "-ERR unknown error");
  CHECK(c.Cmd({"EVAL", "error(setmetatable({}, {__tostring = function() error('y') end}))", "0"}).type ==
        Reply::Type::kError);
  CHECK(ErrorHead(Eval(c, "error({err = 'bad thing'})")) == "-bad thing");
  CHECK(ErrorHead(Eval(c, "error(nil)")) == "-ERR nil");
  Reply caught = c.Cmd({"EVAL", "return {pcall(error, setmetatable({}, {__index = function() error('x') end}))}", "0"});
  CHECK(caught.type != Reply::Type::kIoError);
  ExpectHealthy(*server.process);
}

TEST_CASE("bytecode is refused as Redis refuses it") {
  StartedServer server = Start();
  REQUIRE_MESSAGE(server.status.ok, server.status.message);
  Client c(server.port());
  CHECK(ErrorHead(Eval(c, "return loadstring(string.dump(function() return 1 end))()")) ==
        "-ERR user_script:1: attempt to call a nil value");
  std::string msg = Eval(c, "local f, e = loadstring(string.dump(function() return 1 end)) return e");
  CHECK(msg.find("unexpected symbol near 'char(27)'") != std::string::npos);
  CHECK(Eval(c, "local s = string.dump(function() return 1 end) local done = false "
                "local f, e = load(function() if done then return nil end done = true return s end) "
                "return {tostring(f), e ~= nil}") == "[\"nil\", :1]");
  std::string binary_body = "\x1bLuaQ";
  binary_body.push_back('\0');
  CHECK(Format(c.Cmd({"EVAL", binary_body, "0"})) ==
        "-ERR Error compiling script (new function): user_script:1: unexpected symbol near 'char(27)'");
  // Text still loads, and runs in the scripts' protected environment.
  CHECK(Eval(c, "return loadstring('return 1 + 1')()") == ":2");
  CHECK(ErrorHead(Eval(c, "loadstring('x = 1')()")) ==
        "-ERR [string \"x = 1\"]:1: Attempt to modify a readonly table");
  CHECK(Eval(c, "return loadstring('return _G')() == _G") == ":1");
  ExpectHealthy(*server.process);
}

TEST_CASE("globals and libraries are read-only; nothing a script does reaches the next one") {
  StartedServer server = Start();
  REQUIRE_MESSAGE(server.status.ok, server.status.message);
  Client c(server.port());
  CHECK(ErrorHead(Eval(c, "setmetatable(_G, nil)")) == "-ERR Attempt to modify a readonly table");
  CHECK(ErrorHead(Eval(c, "setmetatable(_G, nil) string.len = function() return 999 end")) ==
        "-ERR Attempt to modify a readonly table");
  CHECK(ErrorHead(Eval(c, "string.len = function() return 999 end")) ==
        "-ERR user_script:1: Attempt to modify a readonly table");
  CHECK(ErrorHead(Eval(c, "x = 5")) == "-ERR user_script:1: Attempt to modify a readonly table");
  CHECK(ErrorHead(Eval(c, "_G.x = 5")) == "-ERR user_script:1: Attempt to modify a readonly table");
  CHECK(ErrorHead(Eval(c, "rawset(_G, 'x', 5)")) == "-ERR Attempt to modify a readonly table");
  CHECK(ErrorHead(Eval(c, "rawset(string, 'len', 5)")) == "-ERR Attempt to modify a readonly table");
  CHECK(ErrorHead(Eval(c, "table.insert(string, 5)")) == "-ERR Attempt to modify a readonly table");
  for (const char* lib : {"math", "table", "cjson", "bit", "cmsgpack", "struct", "redis", "coroutine"}) {
    CHECK(ErrorHead(Eval(c, std::string(lib) + ".evil = 1")) ==
          "-ERR user_script:1: Attempt to modify a readonly table");
  }
  CHECK(ErrorHead(Eval(c, "redis.call = function() return 1 end")) ==
        "-ERR user_script:1: Attempt to modify a readonly table");
  CHECK(ErrorHead(Eval(c, "getmetatable('').__index = {len = function() return 5 end}")) ==
        "-ERR user_script:1: Attempt to modify a readonly table");
  CHECK(ErrorHead(Eval(c, "getmetatable('').__index.len = function() return 5 end")) ==
        "-ERR user_script:1: Attempt to modify a readonly table");
  CHECK(Eval(c, "return getmetatable(_G)") == "(nil)");
  CHECK(ErrorHead(Eval(c, "return y")) ==
        "-ERR user_script:1: Script attempted to access nonexistent global variable 'y'");
  // Nothing stuck: the libraries are intact for the next script.
  CHECK(Eval(c, "return {string.len('abc'), ('abc'):len(), type(redis.call), type(rawget(string, 'len'))}") ==
        "[:3, :3, \"function\", \"function\"]");
  CHECK(Eval(c, "local n = 0 for k in pairs(string) do n = n + 1 end return n > 10") == ":1");
  // math.random is reseeded for every script (Redis 6.2): the same sequence each run.
  std::string first = Eval(c, "return {math.random(1000000), math.random(1000000), tostring(math.random())}");
  CHECK(first == Eval(c, "return {math.random(1000000), math.random(1000000), tostring(math.random())}"));
  CHECK(Eval(c, "math.randomseed(7) return {math.random(1000000), math.random(1000000)}") ==
        "[:266445, :682036]");  // Redis's rand48 for seed 7
  CHECK(first == Eval(c, "return {math.random(1000000), math.random(1000000), tostring(math.random())}"));
  ExpectHealthy(*server.process);
}

// A read-only busy loop whose keys live on either thread: fresh clients (on both
// threads) get BUSY, never hang, and SCRIPT KILL stops it.
TEST_CASE("a busy script on either thread: every client gets BUSY, SCRIPT KILL works") {
  StartedServer server = Start();
  REQUIRE_MESSAGE(server.status.ok, server.status.message);
  const int port = server.port();
  Client admin(port, 5s);
  REQUIRE(Format(admin.Cmd({"CONFIG", "SET", "busy-reply-threshold", "20"})) == "+OK");
  // Among these keys some are on the runner's thread and some on the other one.
  for (const char* key : {"a", "b", "c", "d"}) {
    CAPTURE(key);
    Client runner(port, 20s);
    runner.Append({"EVAL", "redis.call('get', KEYS[1]) local i = 0 while true do i = i + 1 end", "1", key});
    REQUIRE(runner.Flush());
    REQUIRE(WaitForBusy(admin));
    for (int i = 0; i < 2; ++i) {  // connections alternate between the threads
      Client other(port, 2s);
      CHECK(Format(other.Cmd({"PING"})) == kBusy);
    }
    CHECK(Format(admin.Cmd({"SCRIPT", "KILL"})) == "+OK");
    Reply killed = runner.ReadReply();
    CHECK(killed.str.rfind("ERR Script killed by user with SCRIPT KILL... script: ", 0) == 0);
  }
  ExpectHealthy(*server.process);
}

// A pipeline of single-key commands is squashed (run per shard in parallel) only when
// the client path would admit each one, so a busy script refuses them all with BUSY, as
// it refuses them one at a time, instead of leaving them waiting behind its locks.
TEST_CASE("a pipeline of single-key commands during a busy script: each gets BUSY") {
  StartedServer server = Start();
  REQUIRE_MESSAGE(server.status.ok, server.status.message);
  const int port = server.port();
  Client admin(port, 5s);
  REQUIRE(Format(admin.Cmd({"CONFIG", "SET", "busy-reply-threshold", "20"})) == "+OK");
  Client runner(port, 20s);
  runner.Append({"EVAL", "local i = 0 while true do i = i + 1 end", "0"});
  REQUIRE(runner.Flush());
  REQUIRE(WaitForBusy(admin));
  Client c(port, 2s);
  std::vector<Reply> r = c.Pipeline({{"GET", "a"}, {"SET", "b", "1"}, {"GET", "c"}, {"INCR", "d"}, {"GET", "e"}});
  REQUIRE(r.size() == 5);
  for (const Reply& reply : r) CHECK(Format(reply) == kBusy);
  CHECK(Format(admin.Cmd({"SCRIPT", "KILL"})) == "+OK");
  CHECK(runner.ReadReply().type == Reply::Type::kError);
  CHECK(Format(c.Cmd({"MGET", "b", "d"})) == "[(nil), (nil)]");  // the writes never ran
  ExpectHealthy(*server.process);
}

TEST_CASE("MULTI during a busy script: queued commands get BUSY and EXEC aborts") {
  StartedServer server = Start();
  REQUIRE_MESSAGE(server.status.ok, server.status.message);
  const int port = server.port();
  Client admin(port, 5s);
  REQUIRE(Format(admin.Cmd({"CONFIG", "SET", "busy-reply-threshold", "20"})) == "+OK");
  Client runner(port, 20s);
  runner.Append({"EVAL", "local i = 0 while true do i = i + 1 end", "0"});
  REQUIRE(runner.Flush());
  REQUIRE(WaitForBusy(admin));
  Client c(port, 5s);
  std::vector<Reply> r = c.Pipeline({{"MULTI"}, {"INCR", "counter"}, {"EXEC"}, {"WATCH", "w"}, {"UNWATCH"},
                                     {"MULTI"}, {"DISCARD"}, {"SHUTDOWN"}});
  REQUIRE(r.size() == 8);
  CHECK(Format(r[0]) == "+OK");
  CHECK(Format(r[1]) == kBusy);
  CHECK(Format(r[2]) ==
        "-EXECABORT Transaction discarded because of: BUSY Redis is busy running a script. You can only call "
        "SCRIPT KILL or SHUTDOWN NOSAVE.");
  CHECK(Format(r[3]) == "+OK");
  CHECK(Format(r[4]) == "+OK");
  CHECK(Format(r[5]) == "+OK");
  CHECK(Format(r[6]) == "+OK");
  CHECK(Format(r[7]) == kBusy);
  CHECK(Format(admin.Cmd({"SCRIPT", "KILL"})) == "+OK");
  CHECK(runner.ReadReply().type == Reply::Type::kError);
  CHECK(Format(c.Cmd({"GET", "counter"})) == "(nil)");  // the INCR never ran
  ExpectHealthy(*server.process);
}

// After a write the script is unkillable; SHUTDOWN NOSAVE and SIGTERM still end the
// process promptly, whichever thread the script runs on.
TEST_CASE("an unkillable busy script: SHUTDOWN NOSAVE and SIGTERM end the process") {
  for (const char* key : {"a", "b", "c"}) {
    for (bool by_signal : {false, true}) {
      CAPTURE(key);
      CAPTURE(by_signal);
      StartedServer server = Start();
      REQUIRE_MESSAGE(server.status.ok, server.status.message);
      const int port = server.port();
      Client admin(port, 5s);
      REQUIRE(Format(admin.Cmd({"CONFIG", "SET", "busy-reply-threshold", "20"})) == "+OK");
      Client runner(port, 20s);
      runner.Append({"EVAL", "redis.call('set', KEYS[1], '1') local i = 0 while true do i = i + 1 end", "1", key});
      REQUIRE(runner.Flush());
      REQUIRE(WaitForBusy(admin));
      for (int i = 0; i < 2; ++i) {
        Client other(port, 2s);
        CHECK(Format(other.Cmd({"PING"})) == kBusy);
      }
      CHECK(Format(admin.Cmd({"SHUTDOWN"})) == kBusy);
      if (by_signal) kill(server.process->pid(), SIGTERM);
      else admin.Cmd({"SHUTDOWN", "NOSAVE"});
      CHECK(WaitForExit(*server.process, 3s));
    }
  }
}

TEST_CASE("a failing script never leaves its keys or shards locked") {
  StartedServer server = Start();
  REQUIRE_MESSAGE(server.status.ok, server.status.message);
  Client c(server.port(), 5s);
  for (const char* key : {"a", "b", "c", "d"}) {
    CAPTURE(key);
    CHECK(ErrorHead(Eval(c, "redis.call('set', KEYS[1], 'v') error('boom')", {key})) ==
          "-ERR user_script:1: boom");
    CHECK(c.Cmd({"EVAL", "redis.call('set', KEYS[1], 'v') return bit.tohex(1, -2147483648) .. nil", "1", key}).type ==
          Reply::Type::kError);
    CHECK(Format(c.Cmd({"SET", key, "after"})) == "+OK");
  }
  CHECK(c.Cmd({"EVAL", "redis.call('set', 'z', 'v') error({})", "0"}).type == Reply::Type::kError);
  CHECK(c.Cmd({"EVAL", "redis.call('get', KEYS[1]) error('x')", "4", "a", "b", "c", "d"}).type ==
        Reply::Type::kError);
  CHECK(Format(c.Cmd({"MSET", "a", "1", "b", "2", "c", "3", "d", "4", "z", "5"})) == "+OK");
  Client other(server.port(), 5s);
  CHECK(Format(other.Cmd({"MGET", "a", "z"})) == "[\"1\", \"5\"]");
  ExpectHealthy(*server.process);
}

TEST_CASE("a script that allocates without end is stopped by SCRIPT KILL and its memory freed") {
  StartedServer server = Start();
  REQUIRE_MESSAGE(server.status.ok, server.status.message);
  const int port = server.port();
  Client admin(port, 5s);
  REQUIRE(Format(admin.Cmd({"CONFIG", "SET", "busy-reply-threshold", "20"})) == "+OK");
  Client runner(port, 20s);
  // Grows by ~1 MB strings; killed long before it matters (Redis bounds no Lua memory).
  runner.Append({"EVAL", "local t = {} local i = 0 while true do i = i + 1 "
                         "if i % 1000 == 0 and #t < 32 then t[#t + 1] = string.rep('x', 1000000) end end", "0"});
  REQUIRE(runner.Flush());
  REQUIRE(WaitForBusy(admin));
  std::this_thread::sleep_for(200ms);
  CHECK(Format(admin.Cmd({"SCRIPT", "KILL"})) == "+OK");
  CHECK(runner.ReadReply().type == Reply::Type::kError);
  CHECK(Eval(admin, "return 1") == ":1");
  ExpectHealthy(*server.process);
}

}  // namespace
}  // namespace darter::test
