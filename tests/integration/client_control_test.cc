// Client-control commands against redis-server 7.0: MONITOR's lines (MULTI/EXEC, a
// script's redis.call, AUTH/HELLO redaction, quoted binary arguments, what a monitor
// may run), a monitor that does not read hitting the output limit, CLIENT PAUSE
// WRITE/ALL and UNPAUSE (waiting, not failing; pipelined order; a client leaving while
// it waits), CLIENT REPLY OFF/ON/SKIP byte for byte, CLIENT NO-EVICT's flag, and
// redis-py's client_pause. darter-server runs with two threads, so the monitor, the
// client and the keys sit on different threads.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/client.h"
#include "support/raw_conn.h"
#include "support/reply.h"
#include "support/server_health.h"
#include "support/server_process.h"

namespace darter::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kRssBound = 256ull << 20;

std::string Encode(const std::vector<std::string>& argv) {
  std::string out = "*" + std::to_string(argv.size()) + "\r\n";
  for (const auto& a : argv) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return out;
}

// MONITOR lines with the timestamp and client addresses replaced, one per element.
std::vector<std::string> NormalisedLines(const std::string& data) {
  static const std::regex kTime(R"(^\+[0-9]+\.[0-9]{6} )");
  static const std::regex kAddr(R"(127\.0\.0\.1:[0-9]+)");
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t end = data.find("\r\n", pos);
    if (end == std::string::npos) end = data.size();
    std::string line = data.substr(pos, end - pos);
    line = std::regex_replace(line, kTime, "+T ");
    lines.push_back(std::regex_replace(line, kAddr, "ADDR"));
    pos = end + 2;
  }
  return lines;
}

// What a monitor sees while another client runs `commands` one at a time, then what the
// monitor itself gets for a keyspace command and a PING.
std::vector<std::string> MonitorTranscript(int port, const std::vector<std::vector<std::string>>& commands) {
  RawConn monitor(port);
  monitor.Send(Encode({"MONITOR"}));
  std::string ok = monitor.ReadAtLeast(5);
  Client c(port);
  for (const auto& cmd : commands) {
    c.Cmd(cmd);  // one at a time: each line is fed before the next command is sent
  }
  monitor.Send(Encode({"GET", "k"}));
  monitor.Send(Encode({"PING"}));
  std::vector<std::string> lines = NormalisedLines(ok + monitor.Read(300ms).data);
  return lines;
}

TEST_CASE("MONITOR shows commands, MULTI/EXEC, scripts and redactions as redis-server 7.0") {
  StartedServer redis = StartRedis();
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  const std::vector<std::vector<std::string>> commands = {
      {"SET", "k", "v"},
      {"MULTI"}, {"SET", "a", "1"}, {"INCR", "a"}, {"GET", "k"}, {"EXEC"},
      {"EVAL", "redis.call('set','x','y'); return redis.call('get','x')", "0"},
      {"AUTH", "pw"}, {"AUTH", "user", "pw"}, {"HELLO", "2", "AUTH", "default", "pw"}, {"HELLO", "2"},
      {"SET", std::string("b\0\n\"\\\x7f\xff\t\r\a\b", 12), "q r"},
      {"CONFIG", "GET", "maxmemory"}, {"CLIENT", "LIST"}, {"CLIENT", "ID"}, {"DEBUG", "SLEEP", "0"},
      {"GET", "nokey"}, {"NOSUCH", "x"}, {"GET"}, {"PING"},
      {"MULTI"}, {"GET", "k"}, {"DISCARD"},
      {"SELECT", "2"}, {"SET", "z", "1"}, {"SELECT", "0"},
      {"MULTI"}, {"NOSUCH"}, {"EXEC"},
      {"MULTI"}, {"SELECT", "3"}, {"SET", "w", "1"}, {"EXEC"}, {"SELECT", "0"},
      {"EVALSHA", std::string(40, '0'), "0"},
      {"LPUSH", "list", "1", "2"}, {"HSET", "h", "f", "v"},
  };
  std::vector<std::string> want = MonitorTranscript(redis.port(), commands);
  std::vector<std::string> got = MonitorTranscript(darter.port(), commands);
  REQUIRE(want.size() > 20);
  CHECK(want.size() == got.size());
  for (size_t i = 0; i < std::min(want.size(), got.size()); ++i) {
    CAPTURE(i);
    CHECK(got[i] == want[i]);
  }
  HealthReport h = CheckServerHealthy(*darter.process, kRssBound);
  CHECK_MESSAGE(h.ok, h.message);
}

TEST_CASE("MONITOR on a replica shows the primary's stream as a redis-server replica does") {
  StartedServer primary = StartRedis(0, {"--repl-diskless-sync-delay", "0"});
  REQUIRE_MESSAGE(primary.status.ok, primary.status.message);
  StartedServer redis = StartRedis(0, {"--replicaof", "127.0.0.1", std::to_string(primary.port())});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client p(primary.port()), r(redis.port()), d(darter.port());
  REQUIRE(Format(d.Cmd({"REPLICAOF", "127.0.0.1", std::to_string(primary.port())})) == "+OK");
  auto linked = [](Client& c) { return Format(c.Cmd({"INFO", "replication"})).find("master_link_status:up") != std::string::npos; };
  auto deadline = Clock::now() + 10s;
  while (!(linked(r) && linked(d)) && Clock::now() < deadline) std::this_thread::sleep_for(50ms);
  REQUIRE(linked(r));
  REQUIRE(linked(d));
  // Both replicas apply the stream (a diskless replica is put online at its first ACK).
  p.Cmd({"SET", "marker", "1"});
  deadline = Clock::now() + 10s;
  auto has_marker = [](Client& c) { return Format(c.Cmd({"GET", "marker"})) == "\"1\""; };
  while (!(has_marker(r) && has_marker(d)) && Clock::now() < deadline) std::this_thread::sleep_for(50ms);
  REQUIRE(has_marker(d));
  RawConn mr(redis.port()), md(darter.port());
  mr.Send(Encode({"MONITOR"}));
  md.Send(Encode({"MONITOR"}));
  CHECK(mr.ReadAtLeast(5) == "+OK\r\n");
  CHECK(md.ReadAtLeast(5) == "+OK\r\n");
  p.Cmd({"SET", "rk", "1"});
  p.Cmd({"EVAL", "redis.call('set', 'q', '1'); redis.call('lpush', 'l', 'a b')", "0"});
  p.Cmd({"HSET", "h", "f", std::string("\x01\n", 2)});
  std::this_thread::sleep_for(300ms);
  // Every command with the primary's address; the script's effects wrapped in MULTI/EXEC.
  std::vector<std::string> want = NormalisedLines(mr.Read(300ms).data);
  std::vector<std::string> got = NormalisedLines(md.Read(300ms).data);
  REQUIRE(want.size() >= 4);
  CHECK(got.size() == want.size());
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    CAPTURE(i);
    CHECK(got[i] == want[i]);
  }
}

TEST_CASE("MONITOR sees pipelined commands of a client on another thread, in order") {
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  RawConn monitor(darter.port());
  monitor.Send(Encode({"MONITOR"}));
  CHECK(monitor.ReadAtLeast(5) == "+OK\r\n");
  // Several connections, so some sit on each thread; each pipelines single-key commands
  // (squashed across the shards).
  for (int conn = 0; conn < 4; ++conn) {
    Client c(darter.port());
    std::vector<std::vector<std::string>> pipeline;
    for (int i = 0; i < 50; ++i) pipeline.push_back({"SET", "key" + std::to_string(i), std::to_string(conn)});
    c.Pipeline(pipeline);
  }
  std::vector<std::string> lines = NormalisedLines(monitor.Read(300ms).data);
  REQUIRE(lines.size() == 200);
  for (int conn = 0; conn < 4; ++conn)
    for (int i = 0; i < 50; ++i)
      CHECK(lines[conn * 50 + i] ==
            "+T [0 ADDR] \"SET\" \"key" + std::to_string(i) + "\" \"" + std::to_string(conn) + "\"");
  // RESET ends the mode: the connection is an ordinary client again.
  monitor.Send(Encode({"RESET"}));
  monitor.Send(Encode({"GET", "key1"}));
  CHECK(monitor.Read().data == "+RESET\r\n$1\r\n3\r\n");
}

TEST_CASE("a MONITOR client that does not read is disconnected at the output limit") {
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client admin(darter.port());
  REQUIRE(Format(admin.Cmd({"CONFIG", "SET", "client-output-buffer-limit", "normal 1mb 0 0"})) == "+OK");
  RawConn monitor(darter.port(), 4096);
  monitor.Send(Encode({"MONITOR"}));
  CHECK(monitor.ReadAtLeast(5) == "+OK\r\n");
  // 40 MB of lines while the monitor reads nothing.
  Client writer(darter.port());
  const std::string value(20000, 'x');
  std::vector<std::vector<std::string>> pipeline(100, {"SET", "big", value});
  for (int round = 0; round < 20; ++round) writer.Pipeline(pipeline);
  // The monitor is gone: no O client in CLIENT LIST, and its socket ends.
  auto deadline = Clock::now() + 5s;
  std::string list;
  do {
    list = Format(admin.Cmd({"CLIENT", "LIST"}));
    if (list.find("flags=O") == std::string::npos) break;
    std::this_thread::sleep_for(50ms);
  } while (Clock::now() < deadline);
  CHECK(list.find("flags=O") == std::string::npos);
  CHECK(monitor.Read(500ms, 10s).closed);
  CHECK(Format(writer.Cmd({"STRLEN", "big"})) == ":20000");
  HealthReport h = CheckServerHealthy(*darter.process, kRssBound);
  CHECK_MESSAGE(h.ok, h.message);
}

double MsSince(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

TEST_CASE("CLIENT PAUSE WRITE holds writes back, lets reads pass, and replies when it ends") {
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client admin(darter.port()), reader(darter.port()), writer(darter.port());
  REQUIRE(Format(writer.Cmd({"SET", "k", "before"})) == "+OK");
  REQUIRE(Format(admin.Cmd({"CLIENT", "PAUSE", "600", "WRITE"})) == "+OK");
  auto t0 = Clock::now();
  CHECK(Format(reader.Cmd({"GET", "k"})) == "\"before\"");
  CHECK(MsSince(t0) < 300);
  CHECK(Format(writer.Cmd({"SET", "k", "after"})) == "+OK");
  CHECK(MsSince(t0) >= 450);
  CHECK(Format(reader.Cmd({"GET", "k"})) == "\"after\"");

  // UNPAUSE releases the waiting write at once.
  REQUIRE(Format(admin.Cmd({"CLIENT", "PAUSE", "20000", "WRITE"})) == "+OK");
  writer.Append({"EVAL", "return redis.call('incr', 'n')", "0"});
  writer.Flush();
  std::this_thread::sleep_for(200ms);
  CHECK(Format(reader.Cmd({"GET", "n"})) == "(nil)");  // not run yet
  t0 = Clock::now();
  CHECK(Format(admin.Cmd({"CLIENT", "UNPAUSE"})) == "+OK");
  CHECK(Format(writer.ReadReply()) == ":1");
  CHECK(MsSince(t0) < 1000);

  // A pipeline waits in order: the read behind a held-back write waits for it.
  REQUIRE(Format(admin.Cmd({"CLIENT", "PAUSE", "400", "WRITE"})) == "+OK");
  t0 = Clock::now();
  std::vector<Reply> replies =
      writer.Pipeline({{"GET", "p"}, {"SET", "p", "1"}, {"GET", "p"}, {"INCR", "p"}, {"GET", "p"}});
  CHECK(MsSince(t0) >= 300);
  std::string got;
  for (const Reply& r : replies) got += Format(r) + ";";
  CHECK(got == "(nil);+OK;\"1\";:2;\"2\";");

  // A client that leaves while it waits: its write never runs.
  REQUIRE(Format(admin.Cmd({"CLIENT", "PAUSE", "20000", "WRITE"})) == "+OK");
  {
    RawConn gone(darter.port());
    gone.Send(Encode({"SET", "ghost", "1"}));
    std::this_thread::sleep_for(100ms);
  }
  std::this_thread::sleep_for(100ms);
  CHECK(Format(admin.Cmd({"CLIENT", "UNPAUSE"})) == "+OK");
  std::this_thread::sleep_for(100ms);
  CHECK(Format(reader.Cmd({"EXISTS", "ghost"})) == ":0");
  HealthReport h = CheckServerHealthy(*darter.process, kRssBound);
  CHECK_MESSAGE(h.ok, h.message);
}

TEST_CASE("CLIENT PAUSE ALL holds reads back too; keys do not expire while paused") {
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client admin(darter.port()), reader(darter.port());
  REQUIRE(Format(admin.Cmd({"SET", "k", "v"})) == "+OK");
  REQUIRE(Format(admin.Cmd({"CLIENT", "PAUSE", "500", "ALL"})) == "+OK");
  auto t0 = Clock::now();
  CHECK(Format(reader.Cmd({"GET", "k"})) == "\"v\"");
  CHECK(MsSince(t0) >= 400);
  // Keys that expire during a WRITE pause stay (DBSIZE counts them) until it ends: active
  // expiry leaves the dataset alone meanwhile.
  for (int i = 0; i < 100; ++i) admin.Cmd({"SET", "tmp" + std::to_string(i), "x", "PX", "50"});
  REQUIRE(Format(admin.Cmd({"CLIENT", "PAUSE", "1000", "WRITE"})) == "+OK");
  std::this_thread::sleep_for(500ms);
  CHECK(Format(reader.Cmd({"DBSIZE"})) == ":101");
  CHECK(Format(admin.Cmd({"CLIENT", "UNPAUSE"})) == "+OK");
  auto deadline = Clock::now() + 3s;
  std::string size;
  do {
    size = Format(reader.Cmd({"DBSIZE"}));
    if (size == ":1") break;
    std::this_thread::sleep_for(50ms);
  } while (Clock::now() < deadline);
  CHECK(size == ":1");
}

TEST_CASE("CLIENT PAUSE and CLIENT REPLY errors and replies match redis-server") {
  StartedServer redis = StartRedis();
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  const std::vector<std::vector<std::string>> commands = {
      {"CLIENT", "PAUSE"}, {"CLIENT", "PAUSE", "abc"}, {"CLIENT", "PAUSE", "-1"}, {"CLIENT", "PAUSE", "10", "foo"},
      {"CLIENT", "PAUSE", "10", "write", "x"}, {"CLIENT", "PAUSE", "99999999999999999999"},
      {"CLIENT", "PAUSE", "0", "WRITE"}, {"CLIENT", "UNPAUSE"}, {"CLIENT", "UNPAUSE", "x"},
      {"CLIENT", "REPLY"}, {"CLIENT", "REPLY", "foo"}, {"CLIENT", "REPLY", "on", "x"}, {"CLIENT", "REPLY", "ON"},
      {"MONITOR", "x"}, {"CLIENT", "NO-EVICT", "maybe"},
  };
  for (const auto& cmd : commands) {
    Client r(redis.port()), d(darter.port());
    CAPTURE(FormatCommand(cmd));
    CHECK(Format(d.Cmd(cmd)) == Format(r.Cmd(cmd)));
  }
  // CLIENT NO-EVICT on shows as flag e.
  for (int port : {redis.port(), darter.port()}) {
    Client c(port);
    CHECK(Format(c.Cmd({"CLIENT", "NO-EVICT", "on"})) == "+OK");
    CHECK(Format(c.Cmd({"CLIENT", "INFO"})).find(" flags=e ") != std::string::npos);
    CHECK(Format(c.Cmd({"CLIENT", "NO-EVICT", "off"})) == "+OK");
    CHECK(Format(c.Cmd({"CLIENT", "INFO"})).find(" flags=N ") != std::string::npos);
  }
}

// The bytes a client gets for each step (sent as one pipelined write), steps apart.
std::vector<std::string> ReplyTranscript(int port) {
  std::vector<std::string> out;
  RawConn c(port), sub(port), sub3(port), pub(port);
  auto step = [&](RawConn& conn, const std::vector<std::vector<std::string>>& cmds) {
    std::string bytes;
    for (const auto& cmd : cmds) bytes += Encode(cmd);
    conn.Send(bytes);
    out.push_back(conn.Read(150ms).data);
  };
  step(c, {{"CLIENT", "REPLY", "OFF"}, {"SET", "a", "1"}, {"GET", "a"}, {"CLIENT", "REPLY", "ON"}, {"GET", "a"}});
  step(c, {{"CLIENT", "REPLY", "SKIP"}, {"GET", "a"}, {"GET", "a"}});
  step(c, {{"CLIENT", "REPLY", "SKIP"}, {"CLIENT", "REPLY", "SKIP"}, {"GET", "a"}, {"GET", "a"}});
  step(c, {{"CLIENT", "REPLY", "SKIP"}, {"CLIENT", "REPLY", "OFF"}, {"GET", "a"}, {"CLIENT", "REPLY", "ON"}});
  step(c, {{"CLIENT", "REPLY", "OFF"}, {"NOSUCH"}, {"GET"}, {"CLIENT", "REPLY", "BAD"}, {"CLIENT", "REPLY", "ON"}});
  step(c, {{"CLIENT", "REPLY", "SKIP"}, {"CLIENT", "REPLY", "ON"}, {"GET", "a"}});
  step(c, {{"CLIENT", "REPLY", "OFF"}, {"MULTI"}, {"GET", "a"}, {"EXEC"}, {"CLIENT", "REPLY", "ON"}});
  step(c, {{"CLIENT", "REPLY", "OFF"}, {"RESET"}, {"GET", "a"}});
  // Pub/sub: confirmations and messages still arrive under OFF (RESP2 and RESP3), and
  // so do invalidation pushes.
  step(sub, {{"CLIENT", "REPLY", "OFF"}, {"SUBSCRIBE", "ch"}});
  step(pub, {{"PUBLISH", "ch", "hi"}});
  out.push_back(sub.Read(150ms).data);
  sub3.Send(Encode({"HELLO", "3"}));  // its reply names the server: not compared
  sub3.Read(150ms);
  step(sub3, {{"CLIENT", "REPLY", "OFF"}, {"SUBSCRIBE", "ch3"}, {"CLIENT", "TRACKING", "ON"}, {"GET", "tk"}});
  step(pub, {{"PUBLISH", "ch3", "hi"}, {"SET", "tk", "1"}});
  out.push_back(sub3.Read(150ms).data);
  step(sub3, {{"CLIENT", "REPLY", "ON"}});
  return out;
}

TEST_CASE("CLIENT REPLY OFF/ON/SKIP byte for byte as redis-server") {
  StartedServer redis = StartRedis();
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  std::vector<std::string> want = ReplyTranscript(redis.port());
  std::vector<std::string> got = ReplyTranscript(darter.port());
  REQUIRE(want.size() == got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i] == want[i]);
  }
}

TEST_CASE("redis-py's client_pause and client_unpause") {
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  // Debian's python3 carries python3-redis; another python3 first on PATH may not.
  const char* python = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
  std::ostringstream script;
  script << python << " - <<'EOF'\n"
         << "import time, threading, redis\n"
         << "r = redis.Redis(port=" << darter.port() << ")\n"
         << "w = redis.Redis(port=" << darter.port() << ")\n"
         << "assert r.client_pause(300, all=False) is True\n"
         << "t = time.time(); assert r.get('k') is None; assert time.time() - t < 0.2\n"
         << "t = time.time(); assert w.set('k', 'v') is True; assert time.time() - t >= 0.2\n"
         << "assert r.client_pause(10000, all=False) is True\n"
         << "threading.Timer(0.2, lambda: redis.Redis(port=" << darter.port() << ").execute_command("
         << "'CLIENT', 'UNPAUSE')).start()\n"
         << "t = time.time(); assert w.set('k', 'v2') is True; d = time.time() - t; assert 0.15 < d < 2, d\n"
         << "assert r.client_pause(300) is True\n"
         << "t = time.time(); assert w.get('k') == b'v2'; assert time.time() - t >= 0.2\n"
         << "EOF\n";
  int rc = std::system(script.str().c_str());
  CHECK(rc == 0);
}

}  // namespace
}  // namespace darter::test
