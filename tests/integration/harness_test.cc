// Tests of the integration-test support library itself: the RESP reader and
// canonical Format on canned bytes, and ServerProcess' start/stop contract.
// Needs only redis-server, so it runs before darter-server exists.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "support/client.h"
#include "support/reply.h"
#include "support/server_process.h"

namespace darter::test {
namespace {

using namespace std::chrono_literals;

// Feeds `wire` to a RespReader through a socketpair, `chunk` bytes per write,
// and returns the formatted replies.
std::vector<std::string> ReadAll(const std::string& wire, size_t count, size_t chunk = 1) {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  timeval tv{2, 0};
  ::setsockopt(fds[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::thread writer([&] {
    for (size_t i = 0; i < wire.size(); i += chunk) {
      const size_t n = std::min(chunk, wire.size() - i);
      if (::write(fds[1], wire.data() + i, n) != static_cast<ssize_t>(n)) break;
    }
    ::shutdown(fds[1], SHUT_WR);  // then EOF
  });
  RespReader reader(fds[0]);
  std::vector<std::string> out;
  for (size_t i = 0; i < count; ++i) out.push_back(Format(reader.Read()));
  writer.join();
  ::close(fds[0]);
  ::close(fds[1]);
  return out;
}

TEST_CASE("RespReader parses RESP2 and RESP3 cut at every byte") {
  static const char kWire[] =
      "+OK\r\n-ERR bad\r\n:-42\r\n$3\r\na\x00\xff\r\n$-1\r\n*-1\r\n*0\r\n"
      "*2\r\n$1\r\na\r\n*1\r\n:1\r\n"
      "%2\r\n$1\r\nk\r\n$1\r\nv\r\n+s\r\n_\r\n"
      "~1\r\n$1\r\nm\r\n>2\r\n$7\r\nmessage\r\n:1\r\n"
      ",3.14\r\n,inf\r\n#t\r\n#f\r\n=7\r\ntxt:abc\r\n(12345678901234567890\r\n_\r\n"
      "!5\r\nERR x\r\n|1\r\n$3\r\nttl\r\n:5\r\n$1\r\nv\r\n";
  const std::string wire(kWire, sizeof kWire - 1);  // holds a NUL byte
  const std::vector<std::string> expected = {
      "+OK", "-ERR bad", ":-42", R"("a\x00\xff")", "(nil)", "(nil-array)", "[]",
      R"(["a", [:1]])", R"({"k": "v", +s: (null)})", R"(~["m"])", R"(>["message", :1])",
      ",3.14", ",inf", "#t", "#f", R"(="txt:abc")", "(bignum 12345678901234567890)", "(null)",
      "-ERR x", R"(|{"ttl": :5} "v")"};
  CHECK(ReadAll(wire, expected.size(), 1) == expected);
  CHECK(ReadAll(wire, expected.size(), 7) == expected);
  CHECK(ReadAll(wire, expected.size(), wire.size()) == expected);
}

TEST_CASE("RespReader turns garbage, EOF and timeouts into io errors") {
  auto bad = ReadAll("?what\r\n", 1);
  CHECK(bad[0].rfind("<io-error: protocol error", 0) == 0);
  auto eof = ReadAll("$5\r\nab", 1);
  CHECK(eof[0] == "<io-error: connection closed by server>");
}

TEST_CASE("Format and Shape render canonically") {
  Reply array;
  array.type = Reply::Type::kArray;
  Reply s;
  s.type = Reply::Type::kString;
  s.str = "q\"\\\n";
  array.elements = {s, Reply{}};
  CHECK(Format(array) == R"(["q\"\\\x0a", (nil)])");
  CHECK(Shape(array) == "array[string, nil]");
  CHECK(Quote("") == "\"\"");
  CHECK(FormatCommand({"SET", "a b", "", "k"}) == R"(SET "a b" "" k)");
}

TEST_CASE("ServerProcess: redis starts, answers, and is reaped on destruction") {
  pid_t pid = -1;
  {
    StartedServer redis = StartRedis();
    REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
    pid = redis.process->pid();
    Client client(redis.port());
    REQUIRE(client.ok());
    CHECK(Format(client.Cmd({"SET", "k", "v"})) == "+OK");
    CHECK(Format(client.Cmd({"GET", "k"})) == R"("v")");
    auto replies = client.Pipeline({{"INCR", "n"}, {"INCR", "n"}, {"HELLO", "3"}, {"GET", "nope"}});
    CHECK(Format(replies[1]) == ":2");
    CHECK(replies[2].type == Reply::Type::kMap);
    CHECK(Format(replies[3]) == "(null)");
  }
  // Reaped: the pid no longer names our child.
  CHECK(::kill(pid, 0) != 0);
}

TEST_CASE("ServerProcess: a server that exits fails fast with its log") {
  ServerProcess process("/usr/bin/redis-server", {"--port", "-5"}, 1);
  Status status = process.WaitUntilReady(10s);
  CHECK_FALSE(status.ok);
  CHECK(status.message.find("exited") != std::string::npos);
}

TEST_CASE("ServerProcess: a server that ignores SIGTERM is killed") {
  pid_t pid = -1;
  {
    ServerProcess process("/bin/sh", {"-c", "trap '' TERM; echo ready; exec sleep 30"}, 1);
    pid = process.pid();
    // Wait (bounded) until the shell has installed its trap.
    for (int i = 0; i < 500 && process.LogTail().find("ready") == std::string::npos; ++i) {
      std::this_thread::sleep_for(10ms);
    }
    REQUIRE(process.Running());
    const int status = process.Stop(200ms);
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
  }
  CHECK(::kill(pid, 0) != 0);
}

TEST_CASE("Client reports an unreachable port instead of hanging") {
  Client client(FreePort(), 500ms);
  CHECK_FALSE(client.ok());
  CHECK(client.Cmd({"PING"}).IsIoError());
}

}  // namespace
}  // namespace darter::test
